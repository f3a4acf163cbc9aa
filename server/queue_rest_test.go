package server_test

// The queue data plane over real HTTP/JSON (API.md §7): enqueue, long-poll pull, commit,
// requeue, delete, extend, queue info, and the statuses of bad requests.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// qHTTPOK sends a request that must answer 200 and decodes its body into out (if not nil).
func qHTTPOK(t *testing.T, method, url, body string, out any) string {
	t.Helper()
	code, resp := servertest.HTTP(t, method, url, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s %s: %d %s", method, url, body, code, resp)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp), out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, url, resp, err)
		}
	}
	return resp
}

// restItem is an item as proto JSON renders it (uint64 as strings, bytes as base64).
type restItem struct {
	ID            string `json:"id"`
	Priority      uint32 `json:"priority"`
	Key           []byte `json:"key"`
	Value         []byte `json:"value"`
	DeliveryCount uint32 `json:"deliveryCount"`
	EnqueuedAt    string `json:"enqueuedAt"`
}

type restPull struct {
	Items []restItem `json:"items"`
}

type restEnqueue struct {
	IDs       []string `json:"ids"`
	Duplicate []bool   `json:"duplicate"`
}

type restCount struct {
	Count int `json:"count"`
}

type restQueue struct {
	Queue struct {
		QueueName  string `json:"queueName"`
		Priorities uint32 `json:"priorities"`
		MaxSize    uint32 `json:"maxSize"`
		Count      uint32 `json:"count"`
		Active     uint32 `json:"active"`
		Paused     bool   `json:"paused"`
		Lease      string `json:"lease"`
	} `json:"queue"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestQueueREST(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL + "/v1/queues"
	qHTTPOK(t, "POST", u, `{"queueName":"jobs","priorities":4,"lease":"30s"}`, nil)

	// Enqueue one, then a batch.
	var one restEnqueue
	qHTTPOK(t, "POST", u+"/jobs/items", `{"items":[{"value":"`+b64("first")+`","priority":1}]}`, &one)
	if len(one.IDs) != 1 || one.IDs[0] == "" || len(one.Duplicate) != 1 || one.Duplicate[0] {
		t.Fatalf("enqueue one: %+v", one)
	}
	var batch restEnqueue
	qHTTPOK(t, "POST", u+"/jobs/items", `{"items":[
		{"value":"`+b64("hi")+`","priority":3,"key":"`+b64("k")+`"},
		{"value":"`+b64("lo")+`","priority":0,"uniqueKey":"`+b64("u")+`"},
		{"value":"`+b64("dup")+`","priority":0,"uniqueKey":"`+b64("u")+`"},
		{"value":"`+b64("zipped")+`","priority":1,"compress":true,"ttl":"60s"}]}`, &batch)
	if len(batch.IDs) != 4 || batch.IDs[2] != batch.IDs[1] || batch.Duplicate[1] || !batch.Duplicate[2] {
		t.Fatalf("batch enqueue: %+v", batch)
	}
	var info restQueue
	qHTTPOK(t, "GET", u+"/jobs", "", &info)
	if q := info.Queue; q.QueueName != "jobs" || q.Count != 4 || q.Active != 0 || q.Priorities != 4 || q.Lease != "30s" {
		t.Fatalf("GET queue: %+v", info)
	}

	// Pull in priority order, two at a time.
	var p restPull
	qHTTPOK(t, "POST", u+"/jobs/items:pull", `{"batchSize":2,"timeout":"1s"}`, &p)
	if len(p.Items) != 2 || string(p.Items[0].Value) != "hi" || string(p.Items[0].Key) != "k" || p.Items[0].Priority != 3 ||
		p.Items[1].ID != one.IDs[0] || string(p.Items[1].Value) != "first" || p.Items[0].EnqueuedAt == "" {
		t.Fatalf("pull: %+v", p)
	}
	hi, first := p.Items[0].ID, p.Items[1].ID
	qHTTPOK(t, "GET", u+"/jobs", "", &info)
	if info.Queue.Count != 4 || info.Queue.Active != 2 {
		t.Fatalf("counters after pull: %+v", info)
	}

	// Commit with ids as JSON strings (proto JSON) and as numbers.
	var c restCount
	qHTTPOK(t, "POST", u+"/jobs/items:commit", `{"ids":["`+hi+`"]}`, &c)
	if c.Count != 1 {
		t.Fatalf("commit: %+v", c)
	}
	// Extend, then requeue with a new priority: it comes back first, delivered once before.
	qHTTPOK(t, "POST", u+"/jobs/items:extend", `{"ids":[`+first+`],"lease":"120s"}`, &c)
	if c.Count != 1 {
		t.Fatalf("extend: %+v", c)
	}
	qHTTPOK(t, "POST", u+"/jobs/items:requeue", `{"items":[{"id":"`+first+`","priority":3}]}`, &c)
	if c.Count != 1 {
		t.Fatalf("requeue: %+v", c)
	}
	qHTTPOK(t, "POST", u+"/jobs/items:pull", `{}`, &p) // batchSize 0 means 1
	if len(p.Items) != 1 || p.Items[0].ID != first || p.Items[0].Priority != 3 || p.Items[0].DeliveryCount != 1 {
		t.Fatalf("pull after requeue: %+v", p)
	}
	qHTTPOK(t, "POST", u+"/jobs/items:pull", `{"batchSize":10}`, &p)
	if len(p.Items) != 2 || string(p.Items[0].Value) != "zipped" || string(p.Items[1].Value) != "lo" {
		t.Fatalf("pull of the rest: %+v", p)
	}
	firstN, _ := strconv.ParseUint(first, 10, 64)
	qHTTPOK(t, "POST", u+"/jobs/items:commit", `{"ids":[`+strconv.FormatUint(firstN, 10)+`,"`+p.Items[0].ID+`","999999"]}`, &c)
	if c.Count != 2 {
		t.Fatalf("commit of 2 known + 1 unknown ids counted %d, want 2", c.Count)
	}
	// Delete an active item, then a waiting one.
	qHTTPOK(t, "POST", u+"/jobs/items:delete", `{"ids":["`+p.Items[1].ID+`"]}`, &c)
	if c.Count != 1 {
		t.Fatalf("delete: %+v", c)
	}
	qHTTPOK(t, "POST", u+"/jobs/items", `{"items":[{"value":"`+b64("w")+`"}]}`, &one)
	qHTTPOK(t, "POST", u+"/jobs/items:delete", `{"ids":["`+one.IDs[0]+`"]}`, &c)
	qHTTPOK(t, "GET", u+"/jobs", "", &info)
	if info.Queue.Count != 0 || info.Queue.Active != 0 {
		t.Fatalf("counters at the end: %+v", info)
	}

	// Long poll: an empty queue answers an empty list after the timeout...
	start := time.Now()
	body := qHTTPOK(t, "POST", u+"/jobs/items:pull", `{"batchSize":2,"timeout":"0.3s"}`, &p)
	if d := time.Since(start); len(p.Items) != 0 || d < 280*time.Millisecond {
		t.Fatalf("empty long poll answered %s after %v", body, d)
	}
	// ...and a waiting pull is answered by an enqueue.
	done := make(chan restPull, 1)
	go func() {
		var got restPull
		resp, err := http.Post(u+"/jobs/items:pull", "application/json", strings.NewReader(`{"batchSize":2,"timeout":"20s"}`))
		if err != nil {
			t.Error(err)
			done <- got
			return
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Errorf("long poll: %d %v", resp.StatusCode, err)
		}
		done <- got
	}()
	select {
	case got := <-done:
		t.Fatalf("long poll answered %+v before any enqueue", got)
	case <-time.After(150 * time.Millisecond):
	}
	qHTTPOK(t, "POST", u+"/jobs/items", `{"items":[{"value":"`+b64("wake")+`"}]}`, &one)
	select {
	case got := <-done:
		if len(got.Items) != 1 || got.Items[0].ID != one.IDs[0] || string(got.Items[0].Value) != "wake" {
			t.Fatalf("woken long poll got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("enqueue did not wake the REST long poll")
	}
}

// REST errors come back with the HTTP status of their gRPC code and a message naming the
// problem.
func TestQueueRESTStatuses(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL + "/v1/queues"
	qHTTPOK(t, "POST", u, `{"queueName":"small","priorities":2,"maxSize":1}`, nil)
	var one restEnqueue
	qHTTPOK(t, "POST", u+"/small/items", `{"items":[{"value":"`+b64("a")+`"}]}`, &one)
	steps := []struct {
		what, method, path, body string
		status                   int
		contains                 string
	}{
		{"enqueue into an unknown queue", "POST", "/nope/items", `{"items":[{"value":"eA=="}]}`, 404, `queue \"nope\"`},
		{"pull of an unknown queue", "POST", "/nope/items:pull", `{}`, 404, "nope"},
		{"commit in an unknown queue", "POST", "/nope/items:commit", `{"ids":["1"]}`, 404, "nope"},
		{"info of an unknown queue", "GET", "/nope", "", 404, "nope"},
		{"commit of a waiting id", "POST", "/small/items:commit", `{"ids":["` + one.IDs[0] + `"]}`, 400, one.IDs[0]},
		{"requeue of a waiting id", "POST", "/small/items:requeue", `{"items":[{"id":"` + one.IDs[0] + `"}]}`, 400, "not active"},
		{"requeue of an unknown id", "POST", "/small/items:requeue", `{"items":[{"id":"999999"}]}`, 404, "999999"},
		{"requeue without items", "POST", "/small/items:requeue", `{"items":[]}`, 400, "items"},
		{"commit of an unknown id", "POST", "/small/items:commit", `{"ids":["999999"]}`, 404, "999999"},
		{"extend of an unknown id", "POST", "/small/items:extend", `{"ids":["999999"]}`, 404, "999999"},
		{"commit without ids", "POST", "/small/items:commit", `{"ids":[]}`, 400, "ids"},
		{"queue full", "POST", "/small/items", `{"items":[{"value":"eA=="}]}`, 429, ""},
		{"queue full after a wait", "POST", "/small/items", `{"items":[{"value":"eA=="}],"timeout":"0.1s"}`, 429, ""},
		{"bad priority", "POST", "/small/items", `{"items":[{"value":"eA==","priority":2}]}`, 400, "priority"},
		{"no items", "POST", "/small/items", `{"items":[]}`, 400, "items"},
		{"bad JSON", "POST", "/small/items", `{"items":`, 400, ""},
		{"unknown field", "POST", "/small/items:pull", `{"batchSise":2}`, 400, "batchSise"},
		{"bad timeout", "POST", "/small/items:pull", `{"timeout":"-1s"}`, 400, "timeout"},
		{"bad queue name", "GET", "/bad%20name", "", 400, "queue_name"},
	}
	for _, st := range steps {
		code, body := servertest.HTTP(t, st.method, u+st.path, st.body)
		if code != st.status || !strings.Contains(body, st.contains) {
			t.Errorf("%s: %s %s %s: got %d %s, want %d containing %s", st.what, st.method, st.path, st.body, code, body, st.status, st.contains)
		}
	}
	// Paused: a pull waits and then answers 400 (QUEUE_PAUSED → FAILED_PRECONDITION).
	qHTTPOK(t, "POST", u+"/small:pause", `{}`, nil)
	code, body := servertest.HTTP(t, "POST", u+"/small/items:pull", `{"timeout":"0.1s"}`)
	if code != 400 || !strings.Contains(body, "paused") {
		t.Fatalf("pull of a paused queue: %d %s", code, body)
	}
}

// The README's "Queue data over REST" round trip, request for request (a fresh server hands
// out ids 1 and 2).
func TestQueueRESTReadmeRoundTrip(t *testing.T) {
	srv := servertest.Start(t)
	base := srv.URL
	// curl -X POST localhost:4123/v1/queues -d '{"queueName":"tasks"}'
	qHTTPOK(t, "POST", base+"/v1/queues", `{"queueName":"tasks"}`, nil)
	// curl -X POST localhost:4123/v1/queues/tasks/items -d '{"items":[{"value":"aGVsbG8=","priority":5},{"value":"d29ybGQ="}]}'
	body := qHTTPOK(t, "POST", base+"/v1/queues/tasks/items", `{"items":[{"value":"aGVsbG8=","priority":5},{"value":"d29ybGQ="}]}`, nil)
	if compact := strings.ReplaceAll(body, " ", ""); compact != `{"ids":["1","2"],"duplicate":[false,false]}` {
		t.Fatalf("enqueue answered %s", body)
	}
	// curl -X POST localhost:4123/v1/queues/tasks/items:pull -d '{"batchSize":10,"timeout":"5s"}'
	var p restPull
	qHTTPOK(t, "POST", base+"/v1/queues/tasks/items:pull", `{"batchSize":10,"timeout":"5s"}`, &p)
	if len(p.Items) != 2 || p.Items[0].ID != "1" || string(p.Items[0].Value) != "hello" || p.Items[0].Priority != 5 ||
		p.Items[1].ID != "2" || string(p.Items[1].Value) != "world" || p.Items[1].DeliveryCount != 0 {
		t.Fatalf("pull: %+v", p)
	}
	// curl localhost:4123/v1/queues/tasks
	var info restQueue
	qHTTPOK(t, "GET", base+"/v1/queues/tasks", "", &info)
	if info.Queue.QueueName != "tasks" || info.Queue.Count != 2 || info.Queue.Active != 2 {
		t.Fatalf("info: %+v", info)
	}
	// curl -X POST localhost:4123/v1/queues/tasks/items:commit -d '{"ids":["1","2"]}'
	body = qHTTPOK(t, "POST", base+"/v1/queues/tasks/items:commit", `{"ids":["1","2"]}`, nil)
	if compact := strings.ReplaceAll(body, " ", ""); compact != `{"count":2}` {
		t.Fatalf("commit answered %s", body)
	}
	qHTTPOK(t, "GET", base+"/v1/queues/tasks", "", &info)
	if info.Queue.Count != 0 || info.Queue.Active != 0 {
		t.Fatalf("info at the end: %+v", info)
	}
}
