package clustertest_test

import (
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
)

// TestQuorumWithRestartedFollower restarts a follower after an 11 s outage and then kills
// the other one: the leader's quorum is now the restarted follower, to which hashicorp/raft
// had backed off replication (it doubles its wait after each failed attempt, to 10 s; the
// next attempt would come about 20 s into the outage). Writes must go on within a couple
// of seconds, not wait out that backoff (the chaos suite saw every writer stall 9 s).
func TestQuorumWithRestartedFollower(t *testing.T) {
	c, leader, _ := clusterWith(t, "queues", "jobs")
	var followers []*clustertest.Node
	for _, n := range c.Nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	back, other := followers[0], followers[1]
	c.Kill(back)
	time.Sleep(11 * time.Second) // the outage (the backoff grows meanwhile)
	c.Restart(back)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := c.Status(back); err == nil && st.LeaderID == leader.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restarted follower knows no leader after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Kill(other)

	start := time.Now()
	code, body := httpDo(t, "POST", leader.URL()+"/v1/queues/jobs/items", `{"items":[{"value":"dg=="}]}`)
	took := time.Since(start)
	t.Logf("enqueue with the restarted follower as the quorum: %v, %d %s", took, code, body)
	if code != 200 {
		t.Fatalf("enqueue: %d %s", code, body)
	}
	// Catching up a few seconds of log and committing: well under a second here; the
	// backoff it must not wait out is about 9 s.
	const bound = 4 * time.Second
	if took > bound {
		t.Fatalf("a write waited %v for the restarted follower (bound %v)", took, bound)
	}
}
