package clustertest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
)

// TestQueueOpsThroughFollowersAndFailover: peek, stats, purge and redrive sent to a follower
// are served by the leader; where dead-lettered items came from is replicated state, so a
// new leader (the old one killed) redrives them.
func TestQueueOpsThroughFollowersAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	f := c.Follower(leader).URL() + "/v1/queues"
	must := func(method, url, body, want string) string {
		t.Helper()
		code, resp := httpDo(t, method, url, body)
		if code != 200 || !strings.Contains(resp, want) {
			t.Fatalf("%s %s %s: %d %s, want 200 containing %s", method, url, body, code, resp, want)
		}
		return resp
	}
	must("POST", f, `{"queueName":"dead"}`, "")
	must("POST", f, `{"queueName":"jobs","maxDeliveries":1,"deadLetterQueue":"dead"}`, "")
	must("POST", f+"/jobs/items", `{"items":[{"value":"YQ=="},{"value":"Yg=="},{"value":"Yw=="}]}`, `"ids"`)
	must("GET", f+"/jobs/items:peek?limit=2", "", `"more":true`)
	must("POST", f+"/jobs/items:pull", `{"batchSize":2}`, `"items"`)
	// The two pulled items (ids 1 and 2 on a fresh cluster) are dead-lettered by a requeue.
	must("POST", f+"/jobs/items:requeue", `{"items":[{"id":"1"},{"id":"2"}]}`, `"count":2`)
	must("GET", f+"/dead/items:peek", "", `"deadLetterSource":"jobs"`)
	must("GET", f+"/jobs/stats", "", `"deadLettered":2`)
	must("POST", f+"/jobs:purge", `{}`, `"count":1`)

	c.Kill(leader)
	next := c.WaitLeader(30 * time.Second)
	if next == nil || next == leader {
		t.Fatal("no new leader")
	}
	url := c.Follower(next).URL() + "/v1/queues"
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, resp := httpDo(t, "POST", url+"/jobs:redrive", `{}`)
		if code == 200 {
			if !strings.Contains(resp, `"count":2`) {
				t.Fatalf("redrive on the new leader: %s, want both items back", resp)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redrive after failover: %d %s", code, resp)
		}
		time.Sleep(100 * time.Millisecond) // the follower may still be learning the new leader
	}
	must("GET", url+"/jobs", "", `"count":2`)
	must("GET", url+"/dead", "", `"count":0`)
}
