package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestWorkloads runs every workload alone against a real single-node server with tiny
// counts and checks the JSON report: the items it did, latencies, and the server's CPU and
// memory read from /metrics.
func TestWorkloads(t *testing.T) {
	srv := servertest.Start(t)
	cases := []struct {
		name   string
		c      config
		set    map[string]bool
		want   []string // result names
		items  int64    // items of the first result
		memory bool
	}{
		{name: "queue", c: config{workload: "queue", producers: 2, consumers: 2, items: 40, batch: 4, size: 16, inflight: 2}, want: []string{"enqueue", "pull+commit", "delivery"}, items: 40},
		{name: "enqueue", c: config{workload: "enqueue", producers: 2, items: 30, batch: 1, size: 16}, want: []string{"enqueue"}, items: 30},
		{name: "pipelined", c: config{workload: "pipelined", producers: 4, items: 50, batch: 1, size: 16}, want: []string{"enqueue"}, items: 50},
		{name: "consume", c: config{workload: "consume", producers: 1, consumers: 3, items: 60, batch: 8, size: 16}, want: []string{"pull+commit"}, items: 60},
		{name: "latency", c: config{workload: "latency", producers: 5, items: 20, batch: 9, size: 16}, want: []string{"enqueue"}, items: 20},
		{name: "fill", c: config{workload: "fill", producers: 2, items: 200, batch: 1, size: 128}, want: []string{"enqueue"}, items: 200, memory: true},
		{name: "kv-all", c: config{workload: "kv", kvop: "all", producers: 2, items: 10, batch: 1, size: 32}, want: []string{"set", "get", "lock+unlock"}, items: 10},
		{name: "kv-get", c: config{workload: "kv", kvop: "get", producers: 2, items: 10, batch: 1, size: 32}, want: []string{"get"}, items: 10},
		{name: "kv-lock", c: config{workload: "kv", kvop: "lock", producers: 1, items: 5, batch: 1, size: 32}, want: []string{"lock+unlock"}, items: 5},
		{name: "kv-set-shared-streams", c: config{workload: "kv", kvop: "set", producers: 2, inflight: 3, items: 12, batch: 1, size: 256}, want: []string{"set"}, items: 12},
		{name: "kv-lock-shared-streams", c: config{workload: "kv", kvop: "lock", producers: 2, inflight: 2, items: 8, batch: 1, size: 32}, want: []string{"lock+unlock"}, items: 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.addr = srv.Addr
			c.queue = "bench-" + tc.name
			c.storage = "bench-kv-" + tc.name
			c.output = "json"
			if c.kvop == "" {
				c.kvop = "all"
			}
			if c.inflight == 0 {
				c.inflight = 1
			}
			c = c.defaults(map[string]bool{"producers": true})
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
			r, stderr := runJSON(t, c, time.Minute)
			if len(r.Results) != len(tc.want) {
				t.Fatalf("results %+v, want %v", r.Results, tc.want)
			}
			for i, name := range tc.want {
				x := r.Results[i]
				if x.Name != name || x.Calls == 0 || x.P50us <= 0 || x.P999us < x.P50us || x.ItemsPerS <= 0 {
					t.Errorf("result %d: %+v, want %s with calls and latencies", i, x, name)
				}
			}
			if got := r.Results[0].Items; got != tc.items {
				t.Errorf("%s: %d items, want %d", r.Results[0].Name, got, tc.items)
			}
			if r.Server == nil || r.Server.After.RSSBytes <= 0 || r.Server.After.HeapBytes <= 0 || r.Server.CPUSeconds < 0 || r.Server.CPUMicrosPerItm < 0 {
				t.Errorf("server stats %+v, want CPU and memory from /metrics (stderr: %s)", r.Server, stderr)
			}
			if tc.memory && r.Server != nil && r.Server.HeapPerItem == 0 && r.Server.RSSPerItem == 0 {
				t.Errorf("fill: no memory per item: %+v", r.Server)
			}
		})
	}
}

// TestWorkloadDefaults: latency forces one call at a time; pipelined defaults to one
// producer with 64 calls in flight; text output names the server's CPU per item.
func TestWorkloadDefaults(t *testing.T) {
	base := config{workload: "latency", producers: 4, batch: 8, inflight: 3, items: 1, kvop: "all", output: "text"}
	if c := base.defaults(nil); c.producers != 1 || c.batch != 1 || c.inflight != 1 {
		t.Errorf("latency defaults: %+v", c)
	}
	base.workload = "pipelined"
	if c := base.defaults(map[string]bool{}); c.producers != 1 || c.inflight != 64 {
		t.Errorf("pipelined defaults: %+v", c)
	}
	if c := base.defaults(map[string]bool{"inflight": true, "producers": true}); c.producers != 4 || c.inflight != 3 {
		t.Errorf("pipelined with flags set: %+v", c)
	}
	for _, bad := range []config{
		{workload: "nope", producers: 1, consumers: 1, items: 1, batch: 1, inflight: 1, kvop: "all", output: "text"},
		{workload: "kv", producers: 1, items: 1, batch: 1, inflight: 1, kvop: "delete", output: "text"},
		{workload: "queue", producers: 1, consumers: 1, items: 1, batch: 1, inflight: 1, kvop: "all", output: "xml"},
		{workload: "enqueue", producers: 1, items: 1, batch: 1, inflight: 0, kvop: "all", output: "text"},
	} {
		if err := bad.check(); err == nil {
			t.Errorf("check accepted %+v", bad)
		}
	}

	srv := servertest.Start(t)
	c := config{addr: srv.Addr, queue: "text", workload: "enqueue", producers: 1, items: 5, batch: 1, size: 8, inflight: 1, kvop: "all", output: "text"}
	text, _ := runOut(t, c, time.Minute)
	for _, want := range []string{"enqueue workload", "p999", "server:", "CPU per item"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

// runOut runs c within timeout and returns what it wrote to stdout and stderr; the test
// fails if the run fails.
func runOut(t *testing.T, c config, timeout time.Duration) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out, errw bytes.Buffer
	if err := run(ctx, c, &out, &errw); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, errw.String())
	}
	return out.String(), errw.String()
}

// runJSON runs c (whose output is json) within timeout and decodes its report; the test
// fails if the run fails or the report is not JSON. It returns the report and what the run
// wrote to stderr.
func runJSON(t *testing.T, c config, timeout time.Duration) (jsonReport, string) {
	t.Helper()
	out, stderr := runOut(t, c, timeout)
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	return r, stderr
}
