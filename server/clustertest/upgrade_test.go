package clustertest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
)

// oldBinaryEnv names an octopusmq binary of the version before log format 2 (commit
// 617b0e7: `git worktree add /tmp/old 617b0e7 && cd /tmp/old && go build ./cmd/octopusmq`).
const oldBinaryEnv = "OCTOPUSMQ_OLD_BINARY"

// oldBinary is the binary OCTOPUSMQ_OLD_BINARY names; the test is skipped without one, and
// in short mode (it starts processes).
func oldBinary(t *testing.T) string {
	t.Helper()
	old := os.Getenv(oldBinaryEnv)
	if old == "" {
		t.Skip(oldBinaryEnv + " is not set: no binary of the previous version")
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	return old
}

// TestRollingUpgradeNeverDiverges upgrades a 3-node cluster of the previous version one
// node at a time. While an old member remains, a new leader writes entries the old members
// apply (the old envelope): an old member made leader afterwards has every write. Once all
// run the new version every member reports log format 2, and an old binary that asks to
// join then is refused with an error naming the formats. It runs only with
// OCTOPUSMQ_OLD_BINARY set (building the old version is not part of the test).
func TestRollingUpgradeNeverDiverges(t *testing.T) {
	old := oldBinary(t)
	c := clustertest.New(t, 3, clustertest.WithBinary(old))
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	created := 0
	create := func(k int) {
		t.Helper()
		leader := c.WaitLeader(20 * time.Second)
		for range k {
			if code, body := httpDo(t, "POST", leader.URL()+"/v1/storages", fmt.Sprintf(`{"storageName":"s%03d"}`, created)); code != 200 {
				t.Fatalf("create s%03d on %s: %d %s", created, leader.ID, code, body)
			}
			created++
		}
	}
	// lead makes n the leader and checks that its state has every storage written so far.
	lead := func(n *clustertest.Node) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			leader := c.WaitLeader(20 * time.Second)
			if leader == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not take the leadership (leader %s)", n.ID, leader.ID)
			}
			httpDo(t, "POST", leader.URL()+"/v1/cluster:transferLeadership", fmt.Sprintf(`{"id":%q}`, n.ID))
			time.Sleep(100 * time.Millisecond) // the transfer's outcome lives in other processes: polled
		}
		code, body := httpDo(t, "GET", n.URL()+"/v1/storages", "")
		if got := strings.Count(body, `"storageName"`); code != 200 || got != created {
			t.Fatalf("%s as leader has %d storages, %d were created (%d)", n.ID, got, created, code)
		}
	}
	upgrade := func(n *clustertest.Node) {
		t.Helper()
		if !c.Stop(n, 10*time.Second) {
			t.Fatalf("%s did not stop", n.ID)
		}
		c.Restart(n) // this tree's binary
		waitCaughtUp(t, c, c.WaitLeader(20*time.Second), n)
	}

	create(5)
	upgrade(n1)
	lead(n1) // a new leader, two old followers
	create(10)
	if st := clusterStatus(t, c, n1); st.LogFormat != 2 || memberFormat(st, "n2") != 0 || memberFormat(st, "n3") != 0 {
		t.Fatalf("formats after upgrading n1: %+v", st)
	}
	lead(n2) // an old member has applied what the new leader wrote
	lead(n1)
	upgrade(n2)
	create(10)
	lead(n3) // old, still
	upgrade(n3)
	lead(n1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := clusterStatus(t, c, n1)
		if memberFormat(st, "n1") == 2 && memberFormat(st, "n2") == 2 && memberFormat(st, "n3") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not all report log format 2: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	create(10) // format 2 now
	lead(n2)
	lead(n3)

	// An old binary asking to join a cluster that writes format 2 is refused.
	n4 := c.AddNodeFrom("n4", old)
	deadline = time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(n4.LogPath)
		if strings.Contains(string(b), "applies log format 1 at most, and the cluster writes log format 2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old binary was not refused:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Kill(n4)
	c.Nodes = c.Nodes[:3]
	if st := clusterStatus(t, c, n3); len(st.Members) != 3 {
		t.Fatalf("the refused server is a member: %+v", st.Members)
	}
}

func clusterStatus(t *testing.T, c *clustertest.Cluster, n *clustertest.Node) *clustertest.Status {
	t.Helper()
	st, err := c.Status(n)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func memberFormat(st *clustertest.Status, id string) int {
	for _, m := range st.Members {
		if m.ID == id {
			return m.LogFormat
		}
	}
	return -1
}

// TestOldBinaryRefusesWALFolder starts the version before log format 2 (which predates
// --raft-log-store and knows only raft/raft.db) on the data folder of a node of this tree
// (raft-wal, the default): it must exit with an error and leave the folder as it was, not
// start with an empty log, and its offline recover must refuse the folder too. This tree's
// binary then starts on the folder with every write. It runs only with
// OCTOPUSMQ_OLD_BINARY set.
func TestOldBinaryRefusesWALFolder(t *testing.T) {
	old := oldBinary(t)
	c := clustertest.New(t, 1)
	n := c.Nodes[0]
	for i := range 5 {
		if code, body := httpDo(t, "POST", n.URL()+"/v1/storages", fmt.Sprintf(`{"storageName":"s%d"}`, i)); code != 200 {
			t.Fatalf("create s%d: %d %s", i, code, body)
		}
	}
	if !c.Stop(n, 10*time.Second) {
		t.Fatal("the node did not stop")
	}
	if info, err := os.Stat(filepath.Join(n.DataPath(), "raft", "raft.db")); err != nil || !info.IsDir() {
		t.Fatalf("no guard in the WAL folder (%v)", err)
	}
	before := clustertest.TreeDigest(t, n.DataPath())
	logged, err := os.ReadFile(n.LogPath)
	if err != nil {
		t.Fatal(err)
	}

	c.Start(n, old)
	if !c.WaitExit(n, 30*time.Second) {
		c.Kill(n)
		t.Fatal("the old binary is running on a WAL folder")
	}
	b, _ := os.ReadFile(n.LogPath)
	out := string(b[len(logged):])
	if n.ExitCode == 0 || !strings.Contains(out, "raft.db: is a directory") {
		t.Fatalf("the old binary exited with %d:\n%s", n.ExitCode, out)
	}
	t.Logf("the old binary (exit code %d) printed:\n%s", n.ExitCode, out)
	rec, err := exec.Command(old, "recover", "--data-dir", n.DataPath(), "--node-id", n.ID, "--dry-run").CombinedOutput()
	if err == nil || !strings.Contains(string(rec), "raft.db: is a directory") {
		t.Fatalf("the old recover: %v\n%s", err, rec)
	}
	if after := clustertest.TreeDigest(t, n.DataPath()); !slices.Equal(before, after) {
		t.Fatalf("the old binary changed the data folder:\nbefore %q\nafter  %q", before, after)
	}

	c.Restart(n)
	c.WaitLeader(20 * time.Second)
	code, body := httpDo(t, "GET", n.URL()+"/v1/storages", "")
	if got := strings.Count(body, `"storageName"`); code != 200 || got != 5 {
		t.Fatalf("after the old binary: %d storages, want 5 (%d %s)", got, code, body)
	}
	if code, body := httpDo(t, "POST", n.URL()+"/v1/storages", `{"storageName":"s5"}`); code != 200 {
		t.Fatalf("a write after the old binary: %d %s", code, body)
	}
}
