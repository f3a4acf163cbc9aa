package clustertest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
)

// TestRecoverAfterLosingQuorum: a 3-node cluster loses two nodes for good. The survivor
// cannot elect itself; `octopusmq recover` on its stopped data dir makes it the whole
// cluster, and restarted normally it leads alone with every acknowledged write.
func TestRecoverAfterLosingQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3, clustertest.WithFlags("--snapshot-threshold", "64", "--trailing-logs", "16", "--snapshot-interval", "100ms"))
	leader := c.WaitLeader(10 * time.Second)
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	const items = 150 // past the snapshot threshold: recovery replays a snapshot and a log
	for i := 0; i < items; i++ {
		if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues/jobs/items", fmt.Sprintf(`{"items":[{"value":"aGk=","uniqueKey":"%s"}]}`, b64([]byte(fmt.Sprintf("k%d", i))))); code != 200 {
			t.Fatalf("enqueue %d: %d %s", i, code, body)
		}
	}
	// The survivor is a follower that has applied everything acknowledged (a survivor
	// missing some would lose them: recover the most up-to-date one, see --dry-run).
	survivor := c.Follower(leader)
	lst, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(survivor)
		if err == nil && len(st.AppliedIndex) >= len(lst.CommitIndex) && st.AppliedIndex >= lst.CommitIndex {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("survivor did not catch up: %+v vs commit %s (%v)", st, lst.CommitIndex, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range c.Nodes {
		if n != survivor {
			c.Kill(n) // for good
		}
	}
	if !c.Stop(survivor, 10*time.Second) {
		t.Fatal("the survivor did not stop on SIGTERM")
	}
	out, err := c.Recover(survivor, "--dry-run")
	if err != nil || !strings.Contains(out, "last log index") || !strings.Contains(out, "n1=") || !strings.Contains(out, "n3=") {
		t.Fatalf("recover --dry-run: %v\n%s", err, out)
	}
	if out, err := c.Recover(survivor, "--members", "n9"); err == nil || !strings.Contains(out, "n9") {
		t.Fatalf("recover with a member that has no address: %v\n%s", err, out)
	}
	out, err = c.Recover(survivor)
	if err != nil || !strings.Contains(out, "recovered configuration: "+survivor.ID+"="+survivor.RaftAddr+" (Voter)\n") {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	c.Restart(survivor)
	if l := c.WaitLeader(20 * time.Second); l != survivor {
		t.Fatalf("leader %s, want the survivor %s", l.ID, survivor.ID)
	}
	st, err := c.Status(survivor)
	if err != nil || len(st.Members) != 1 || st.Suffrage(survivor.ID) != "Voter" {
		t.Fatalf("members after recovery: %+v %v", st, err)
	}
	code, body := httpDo(t, "GET", survivor.URL()+"/v1/queues/jobs", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"count":%d,`, items)) {
		t.Fatalf("after recovery, want %d items: %d %s", items, code, body)
	}
	// It takes writes alone, and the recovered data keeps its duplicates detected.
	code, body = httpDo(t, "POST", survivor.URL()+"/v1/queues/jobs/items", fmt.Sprintf(`{"items":[{"value":"aGk=","uniqueKey":"%s"},{"value":"aGk="}]}`, b64([]byte("k0"))))
	if code != 200 || !strings.Contains(body, `"duplicate":[true,false]`) {
		t.Fatalf("write after recovery: %d %s", code, body)
	}
}
