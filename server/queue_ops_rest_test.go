package server_test

// Operator tools over real HTTP/JSON: peek (no lease, no log entry), purge (waiting items
// only), dead-letter redrive and queue stats, with the statuses of bad requests.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

type restPeek struct {
	Items []struct {
		Item             restItem `json:"item"`
		VisibleAt        string   `json:"visibleAt"`
		DeadLetterSource string   `json:"deadLetterSource"`
	} `json:"items"`
	More bool `json:"more"`
}

type restStats struct {
	VisibleByPriority []uint32 `json:"visibleByPriority"`
	Delayed           uint32   `json:"delayed"`
	Active            uint32   `json:"active"`
	DeadLettered      uint32   `json:"deadLettered"`
	OldestEnqueuedAt  string   `json:"oldestEnqueuedAt"`
	Time              string   `json:"time"`
	EnqueuedTotal     string   `json:"enqueuedTotal"`
	CommittedTotal    string   `json:"committedTotal"`
}

func TestQueueOpsREST(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL + "/v1/queues"
	qHTTPOK(t, "POST", u, `{"queueName":"dead"}`, nil)
	qHTTPOK(t, "POST", u, `{"queueName":"jobs","priorities":3,"maxDeliveries":1,"deadLetterQueue":"dead"}`, nil)
	qHTTPOK(t, "POST", u+"/jobs/items", `{"items":[{"value":"`+b64("lo")+`"},{"value":"`+b64("hi")+`","priority":2,"compress":true},{"value":"`+b64("later")+`","delay":"600s"}]}`, nil)

	// Peek: visible items in pull order, values uncompressed; nothing is leased.
	var pk restPeek
	qHTTPOK(t, "GET", u+"/jobs/items:peek?limit=1", "", &pk)
	if len(pk.Items) != 1 || string(pk.Items[0].Item.Value) != "hi" || !pk.More {
		t.Fatalf("peek limit 1: %+v", pk)
	}
	qHTTPOK(t, "GET", u+"/jobs/items:peek?includeDelayed=true", "", &pk)
	if len(pk.Items) != 3 || string(pk.Items[2].Item.Value) != "later" || pk.Items[2].VisibleAt == "" || pk.More {
		t.Fatalf("peek with delayed: %+v", pk)
	}
	var st restStats
	qHTTPOK(t, "GET", u+"/jobs/stats", "", &st)
	if len(st.VisibleByPriority) != 3 || st.VisibleByPriority[0] != 1 || st.VisibleByPriority[2] != 1 || st.Delayed != 1 ||
		st.Active != 0 || st.OldestEnqueuedAt == "" || st.EnqueuedTotal != "3" {
		t.Fatalf("stats: %+v", st)
	}

	// Dead-letter two items (max_deliveries 1: one requeue each), then redrive them back.
	var p restPull
	qHTTPOK(t, "POST", u+"/jobs/items:pull", `{"batchSize":2}`, &p)
	if len(p.Items) != 2 {
		t.Fatalf("pull: %+v", p)
	}
	var c restCount
	qHTTPOK(t, "POST", u+"/jobs/items:requeue", `{"items":[{"id":"`+p.Items[0].ID+`"},{"id":"`+p.Items[1].ID+`"}]}`, &c)
	qHTTPOK(t, "GET", u+"/dead/items:peek", "", &pk)
	if len(pk.Items) != 2 || pk.Items[0].DeadLetterSource != "jobs" {
		t.Fatalf("dead-letter queue: %+v", pk)
	}
	qHTTPOK(t, "GET", u+"/jobs/stats", "", &st)
	if st.DeadLettered != 2 {
		t.Fatalf("stats after dead-lettering: %+v", st)
	}
	var rd struct {
		Count     int `json:"count"`
		Remaining int `json:"remaining"`
	}
	qHTTPOK(t, "POST", u+"/jobs:redrive", `{"maxItems":1}`, &rd)
	if rd.Count != 1 || rd.Remaining != 1 {
		t.Fatalf("redrive of 1: %+v", rd)
	}
	qHTTPOK(t, "POST", u+"/jobs:redrive", `{}`, &rd)
	if rd.Count != 1 || rd.Remaining != 0 {
		t.Fatalf("redrive of the rest: %+v", rd)
	}
	var info restQueue
	qHTTPOK(t, "GET", u+"/dead", "", &info)
	if info.Queue.Count != 0 {
		t.Fatalf("dead-letter queue after redrive: %+v", info)
	}

	// Purge: the waiting items go, a leased one stays and can still be committed.
	qHTTPOK(t, "POST", u+"/jobs/items:pull", `{"batchSize":1}`, &p)
	qHTTPOK(t, "POST", u+"/jobs:purge", `{}`, &c)
	if c.Count != 2 {
		t.Fatalf("purge: %+v, want 2 (one visible, one delayed)", c)
	}
	qHTTPOK(t, "GET", u+"/jobs", "", &info)
	if info.Queue.Count != 1 || info.Queue.Active != 1 {
		t.Fatalf("after purge: %+v", info)
	}
	qHTTPOK(t, "POST", u+"/jobs/items:commit", `{"ids":["`+p.Items[0].ID+`"]}`, &c)

	for _, bad := range []struct {
		what, method, path, body string
		status                   int
		contains                 string
	}{
		{"peek of an unknown queue", "GET", "/nope/items:peek", "", 404, "nope"},
		{"peek with a negative limit", "GET", "/jobs/items:peek?limit=-1", "", 400, "limit"},
		{"peek beyond the batch limit", "GET", "/jobs/items:peek?limit=100000", "", 400, "limit"},
		{"purge of an unknown queue", "POST", "/nope:purge", `{}`, 404, "nope"},
		{"redrive of an unknown queue", "POST", "/nope:redrive", `{}`, 404, "nope"},
		{"redrive of a queue without a dead-letter queue", "POST", "/dead:redrive", `{}`, 400, "dead_letter_queue"},
		{"redrive with an unknown field", "POST", "/jobs:redrive", `{"max":1}`, 400, "max"},
		{"stats of an unknown queue", "GET", "/nope/stats", "", 404, "nope"},
	} {
		code, body := servertest.HTTP(t, bad.method, u+bad.path, bad.body)
		if code != bad.status || !strings.Contains(body, bad.contains) {
			t.Errorf("%s: %s %s: got %d %s, want %d containing %q", bad.what, bad.method, bad.path, code, body, bad.status, bad.contains)
		}
	}
	if code, _ := servertest.HTTP(t, "GET", srv.URL+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("server unhealthy after bad requests: %d", code)
	}
}
