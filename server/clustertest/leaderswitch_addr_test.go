package clustertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/chaostest"
	"github.com/clbs-io/octopusmq/server/clustertest"
)

// A leader cut off from the others (its Raft port only) steps down and knows no leader; a
// command on a stream it served is answered LEADER_SWITCH naming the new leader, which it
// learns from the other members' client ports, never an empty address.
func TestLeaderSwitchFromACutOffNodeNamesTheLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	nw := chaostest.NewNet()
	defer nw.Close()
	c := clustertest.New(t, 3, clustertest.WithRaftAdvertise(func(n *clustertest.Node) string {
		addr, err := nw.Add(n.ID, n.RaftAddr)
		if err != nil {
			t.Fatal(err)
		}
		return addr
	}))
	old := c.WaitLeader(20 * time.Second)
	if code, b := httpDo(t, "POST", old.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := openQueueStream(t, ctx, old.Addr)
	wantOK(t, "setup on the leader", qCall(t, st, queueSetup(0, "jobs")).GetStatus())

	nw.Isolate(old.ID)
	// The others elect a new leader; the old one steps down and knows none.
	var now *clustertest.Node
	for deadline := time.Now().Add(20 * time.Second); now == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no new leader among the connected nodes, or the cut-off one still leads")
		}
		oldSt, err := c.Status(old)
		if err != nil || oldSt.State == "Leader" || oldSt.LeaderID != "" {
			continue
		}
		for _, n := range c.Nodes {
			if n == old {
				continue
			}
			if s, err := c.Status(n); err == nil && s.State == "Leader" {
				now = n
			}
		}
	}
	start := time.Now()
	resp := qCall(t, st, enqueueReq(1, "", "x"))
	took := time.Since(start)
	stat := resp.GetStatus()
	if stat.GetCode() != pb.StatusCode_STATUS_CODE_LEADER_SWITCH || stat.GetMessage() != now.Addr {
		t.Fatalf("enqueue on the cut-off node: %v, want LEADER_SWITCH naming %s (%s)", resp, now.ID, now.Addr)
	}
	t.Logf("LEADER_SWITCH named the new leader %s after %v", now.ID, took)
}
