package clustertest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/state"
)

// TestRestoreReplicatesRaisedCounters restores an older backup through a follower (which
// redirects to the leader), then kills the leader: the new leader, a follower during the
// restore, has the backup's data and counters no lower than any issued before the restore,
// so it never hands out an old fencing token or item id again. The cluster keeps its id.
func TestRestoreReplicatesRaisedCounters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	for _, req := range [][2]string{{"/v1/storages", `{"storageName":"locks"}`}, {"/v1/queues", `{"queueName":"jobs"}`}} {
		if code, body := httpDo(t, "POST", leader.URL()+req[0], req[1]); code != 200 {
			t.Fatalf("%s: %d %s", req[0], code, body)
		}
	}
	enqueue := func(url string) uint64 {
		t.Helper()
		code, body := httpDo(t, "POST", url+"/v1/queues/jobs/items", `{"items":[{"value":"aGVsbG8="}]}`)
		var r struct {
			IDs []json.Number `json:"ids"`
		}
		if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil || len(r.IDs) != 1 {
			t.Fatalf("enqueue: %d %s (%v)", code, body, err)
		}
		id, err := strconv.ParseUint(r.IDs[0].String(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	lockToken(t, leader.URL(), "k0")
	enqueue(leader.URL())
	old := download(t, leader.URL())
	oldInfo, err := state.CheckSnapshot(bytes.NewReader(old))
	if err != nil || oldInfo.ClusterID == "" {
		t.Fatalf("backup: %+v %v", oldInfo, err)
	}

	var maxToken, maxID uint64
	for i := 1; i <= 3; i++ {
		maxToken = max(maxToken, lockToken(t, leader.URL(), fmt.Sprintf("k%d", i)))
		maxID = max(maxID, enqueue(leader.URL()))
	}

	follower := c.Follower(leader)
	resp, err := http.Post(follower.URL()+"/v1/cluster/snapshot:restore", "application/octet-stream", bytes.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("restore through a follower: %d %s", resp.StatusCode, b)
	}

	c.Kill(leader)
	next := c.WaitLeader(30 * time.Second)
	if tok := lockToken(t, next.URL(), "k9"); tok <= maxToken {
		t.Fatalf("the new leader granted token %d; %d was granted before the restore", tok, maxToken)
	}
	if id := enqueue(next.URL()); id <= maxID {
		t.Fatalf("the new leader issued item id %d; %d was issued before the restore", id, maxID)
	}
	// The backup's data: k1..k3 and the later items are gone.
	if code, _ := httpDo(t, "GET", next.URL()+"/v1/storages/locks/keys/k2", ""); code != 404 {
		t.Fatalf("a key set after the backup answers %d", code)
	}
	if code, body := httpDo(t, "GET", next.URL()+"/v1/queues/jobs", ""); code != 200 || !strings.Contains(strings.ReplaceAll(body, " ", ""), `"count":2,`) {
		t.Fatalf("queue after restore and one enqueue: %d %s", code, body)
	}
	info, err := state.CheckSnapshot(bytes.NewReader(download(t, next.URL())))
	if err != nil || info.ClusterID != oldInfo.ClusterID {
		t.Fatalf("cluster id after the restore: %+v (was %q), %v", info, oldInfo.ClusterID, err)
	}
}

// TestRestoreWhileAFollowerLags restores a backup while a follower is paused (it misses
// the writes after the backup and the restore): the leader and the other follower are a
// quorum, so the restore answers at once; the follower, resumed, installs it and ends
// with the backup's state, then applies what follows. With either Raft log store.
func TestRestoreWhileAFollowerLags(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, store := range []string{"bolt", "wal"} {
		t.Run(store, func(t *testing.T) { restoreWhileAFollowerLags(t, store) })
	}
}

func restoreWhileAFollowerLags(t *testing.T, store string) {
	c := clustertest.New(t, 3, clustertest.WithFlags("--raft-log-store", store))
	leader := c.WaitLeader(10 * time.Second)
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	backup := download(t, leader.URL())

	lagging := c.Follower(leader)
	c.Pause(lagging)
	resumed := false
	defer func() {
		if !resumed {
			c.Resume(lagging)
		}
	}()
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"later"}`); code != 200 {
		t.Fatalf("create after the backup: %d %s", code, body)
	}
	client := &http.Client{Timeout: 2 * time.Minute} // a restore that never answers fails the test
	resp, err := client.Post(leader.URL()+"/v1/cluster/snapshot:restore", "application/octet-stream", bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("restore with a follower paused: %d %s", resp.StatusCode, b)
	}
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"after"}`); code != 200 {
		t.Fatalf("a write after the restore: %d %s", code, body)
	}

	c.Resume(lagging)
	resumed = true
	waitCaughtUp(t, c, leader, lagging)
	// Read its state: make it the leader (reads are served by the leader).
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/cluster:transferLeadership", fmt.Sprintf(`{"id":%q}`, lagging.ID)); code != 200 {
		t.Fatalf("transfer: %d %s", code, body)
	}
	if l := c.WaitLeader(30 * time.Second); l != lagging {
		t.Fatalf("leadership went to %s, not %s", l.ID, lagging.ID)
	}
	for name, want := range map[string]int{"jobs": 200, "later": 404, "after": 200} {
		if code, body := httpDo(t, "GET", lagging.URL()+"/v1/queues/"+name, ""); code != want {
			t.Fatalf("queue %s on the follower that lagged: %d %s, want %d", name, code, body, want)
		}
	}
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/v1/cluster/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("backup: %d %v", resp.StatusCode, err)
	}
	return b
}
