package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// restRoutes are the REST data and management routes the fuzzer drives; {n} is replaced by
// the fuzzed name (path-escaped). Routes that change membership or replace the state
// (restore) are left out: their valid inputs would take the single node down.
var restRoutes = []struct{ method, path string }{
	{"POST", "/v1/queues"},
	{"GET", "/v1/queues/{n}"},
	{"DELETE", "/v1/queues/{n}"},
	{"POST", "/v1/queues/{n}:pause"},
	{"POST", "/v1/queues/{n}:resume"},
	{"POST", "/v1/queues/{n}:resize"},
	{"POST", "/v1/queues/jobs/items"},
	{"POST", "/v1/queues/jobs/items:pull"},
	{"POST", "/v1/queues/jobs/items:commit"},
	{"POST", "/v1/queues/jobs/items:delete"},
	{"POST", "/v1/queues/jobs/items:extend"},
	{"POST", "/v1/queues/jobs/items:requeue"},
	{"GET", "/v1/queues/{n}/items:peek"},
	{"GET", "/v1/queues/{n}/stats"},
	{"POST", "/v1/queues/{n}:purge"},
	{"POST", "/v1/queues/{n}:redrive"},
	{"POST", "/v1/storages"},
	{"DELETE", "/v1/storages/{n}"},
	{"GET", "/v1/storages/kv/keys"},
	{"GET", "/v1/storages/kv/keys/{n}"},
	{"PUT", "/v1/storages/kv/keys/{n}"},
	{"DELETE", "/v1/storages/kv/keys/{n}"},
	{"POST", "/v1/storages/kv/keys/{n}:lock"},
	{"POST", "/v1/storages/kv:lockAny"},
	{"POST", "/v1/storages/kv:release"},
	{"GET", "/v1/cluster"},
}

// FuzzRESTBody sends arbitrary JSON bodies to the REST routes of a real single-node server:
// it must never answer a 5xx other than 503 (Unavailable), and it keeps serving.
//
//	go test -run=^$ -fuzz=FuzzRESTBody -fuzztime=10s ./server
func FuzzRESTBody(f *testing.F) {
	srv := servertest.Start(f)
	for _, setup := range []struct{ path, body string }{
		{"/v1/queues", `{"queueName":"jobs","lease":"30s"}`},
		{"/v1/storages", `{"storageName":"kv"}`},
	} {
		resp, err := http.Post(srv.URL+setup.path, "application/json", strings.NewReader(setup.body))
		if err != nil || resp.StatusCode != 200 {
			f.Fatalf("setup %s: %v %v", setup.path, resp, err)
		}
		resp.Body.Close()
	}
	seeds := []struct {
		route uint8
		name  string
		body  string
	}{
		{0, "", `{"queueName":"q1","priorities":33,"lease":"-1s"}`},
		{0, "", `{"queueName":"` + strings.Repeat("x", 300) + `"}`},
		{1, "jobs", ``},
		{5, "jobs", `{"maxSize":-1}`},
		{6, "", `{"items":[{"value":"eA==","priority":4294967295,"ttl":"1.5s","uniqueKey":"dQ=="}]}`},
		{6, "", `{"items":[{"value":"not base64"}]}`},
		{6, "", `{"items":[null]}`},
		{7, "", `{"batchSize":-5,"timeout":"0.05s"}`},
		{8, "", `{"ids":["18446744073709551615","x"]}`},
		{10, "", `{"ids":[1],"lease":"99999999999s"}`},
		{11, "", `{"items":[{"id":"1","priority":99}]}`},
		{12, "", `{"storageName":"s/1"}`},
		{16, "k%2F1", `{"value":"dg==","ttl":"1s","lockToken":"3"}`},
		{18, "k", `{"lockTtl":"-3s","timeout":"0.01s"}`},
		{19, "", `{"keyPrefix":"aw==","timeout":"0.01s"}`},
		{20, "", `{"id":"1","delete":true,"lockToken":"1"}`},
		{6, "", `[`},
		{6, "", `{"items":[{"value":"eA=="}],"unknownField":1}`},
		{15, "..", ``},
	}
	for _, s := range seeds {
		f.Add(s.route, s.name, []byte(s.body))
	}
	httpc := &http.Client{Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, route uint8, name string, body []byte) {
		rt := restRoutes[int(route)%len(restRoutes)]
		if strings.Contains(rt.path, "{n}") && (name == "jobs" || name == "kv") && rt.method == "DELETE" && !strings.Contains(rt.path, "/keys/") {
			return // keep the fixtures
		}
		u := srv.URL + strings.ReplaceAll(rt.path, "{n}", url.PathEscape(name))
		var rd io.Reader
		if len(body) > 0 {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(rt.method, u, rd)
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpc.Do(req)
		if err != nil {
			if strings.Contains(err.Error(), "Client.Timeout") {
				return // a long poll or lock wait the body asked for
			}
			t.Fatalf("%s %s %q: %v", rt.method, u, body, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", rt.method, u, body, resp.StatusCode, answer)
		}
		// The server keeps serving.
		ready, err := httpc.Get(srv.URL + "/readyz")
		if err != nil || ready.StatusCode != 200 {
			t.Fatalf("after %s %s %q: readyz %v %v", rt.method, u, body, ready, err)
		}
		ready.Body.Close()
	})
}
