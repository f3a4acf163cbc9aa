package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestSnapshotWorkload runs the snapshot workload against a real server with tiny counts:
// the snapshots are taken, every call lands either inside or outside their windows, and
// the text report names both.
func TestSnapshotWorkload(t *testing.T) {
	srv := servertest.Start(t)
	samplesFile := filepath.Join(t.TempDir(), "samples.txt")
	c := config{addr: srv.Addr, queue: "snap", workload: "snapshot", producers: 8, size: 128, kvop: "all",
		output: "json", prefill: 300, rate: 200, snapshots: 2, duration: 1500 * time.Millisecond, samples: samplesFile}
	c = c.defaults(map[string]bool{"producers": true, "duration": true})
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	r, _ := runJSON(t, c, time.Minute)
	names := []string{"enqueue", "in snapshot", "outside", "snapshot"}
	if len(r.Results) != len(names) {
		t.Fatalf("results %+v, want %v", r.Results, names)
	}
	for i, n := range names {
		if r.Results[i].Name != n {
			t.Fatalf("result %d is %q, want %q", i, r.Results[i].Name, n)
		}
	}
	all, in, outside, snaps := r.Results[0], r.Results[1], r.Results[2], r.Results[3]
	if all.Items == 0 || in.Items+outside.Items != all.Items || in.Calls+outside.Calls != all.Calls {
		t.Errorf("calls inside (%d) and outside (%d) the snapshots do not add up to all (%d)", in.Items, outside.Items, all.Items)
	}
	if outside.Items == 0 || outside.P999us <= 0 {
		t.Errorf("no calls outside the snapshots: %+v", outside)
	}
	if snaps.Items != 2 || snaps.P50us <= 0 {
		t.Errorf("snapshots %+v, want 2 with durations", snaps)
	}
	if r.Rate != 200 || r.Prefill != 300 || r.Snapshots != 2 || r.Server == nil {
		t.Errorf("report header %+v", r)
	}
	// At 200 calls/s for 1.5s: well over half the calls are made (loaded CI margin). A
	// producer skips the calls it is more than one of its intervals behind on; with 8
	// producers that interval is 40 ms, so calls slowed by a loaded box do not count
	// against the rate (with 2, 10 ms calls under load failed it).
	if all.Items < 150 || all.Items > 301 {
		t.Errorf("%d calls, want about 300 at -rate 200 for 1.5s", all.Items)
	}

	// -samples: one line per snapshot window and per call, the calls in the order they were due.
	raw, err := os.ReadFile(samplesFile)
	if err != nil {
		t.Fatal(err)
	}
	var nWindows, nCalls int64
	var lastDue int64
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "window":
			start, _ := strconv.ParseInt(f[1], 10, 64)
			end, _ := strconv.ParseInt(f[2], 10, 64)
			if start <= 0 || end < start {
				t.Errorf("samples: window %q", line)
			}
			nWindows++
		case len(f) == 3 && f[0] == "call":
			due, _ := strconv.ParseInt(f[1], 10, 64)
			lat, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil || due < lastDue || lat < 0 {
				t.Errorf("samples: call %q (previous due %d)", line, lastDue)
			}
			lastDue = due
			nCalls++
		default:
			t.Errorf("samples: unexpected line %q", line)
		}
	}
	if nWindows != 2 || nCalls != int64(all.Calls) {
		t.Errorf("samples: %d windows and %d calls, want 2 and %d", nWindows, nCalls, all.Calls)
	}
	wrong := c
	wrong.workload = "latency"
	if err := wrong.check(); err == nil || !strings.Contains(err.Error(), "-samples") {
		t.Errorf("check of -samples with the latency workload: %v, want an error naming -samples", err)
	}

	c.output, c.queue, c.prefill, c.snapshots, c.samples = "text", "snap-text", 0, 1, ""
	text, _ := runOut(t, c, time.Minute)
	for _, want := range []string{"snapshot workload", "in snapshot", "outside", "p999", "1 snapshots"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

// TestOverlaps: a call is inside a snapshot when its span, from due to answered, meets a
// window.
func TestOverlaps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ws := []window{{start: at(10), end: at(20)}, {start: at(50), end: at(60)}}
	for _, tc := range []struct {
		due, end int
		want     bool
	}{
		{0, 5, false}, {0, 10, false}, {0, 11, true}, {12, 15, true}, {19, 30, true},
		{20, 30, false}, {25, 55, true}, {5, 70, true}, {61, 80, false},
	} {
		if got := overlaps(timedSample{due: at(tc.due), end: at(tc.end)}, ws); got != tc.want {
			t.Errorf("call [%d, %d] ms: inside %v, want %v", tc.due, tc.end, got, tc.want)
		}
	}
}

// TestSweep runs the enqueue workload at 1 and 3 producers in one invocation: one result
// per step with its own server figures.
func TestSweep(t *testing.T) {
	if _, err := parseSweep("16, 64,256"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"16,0", "x", "16,,64"} {
		if _, err := parseSweep(bad); err == nil || !strings.Contains(err.Error(), "-sweep") {
			t.Errorf("parseSweep(%q): %v, want an error naming -sweep", bad, err)
		}
	}
	lat := config{workload: "latency", producers: 1, items: 1, batch: 1, inflight: 1, kvop: "all", output: "text", sweep: []int{1, 2}}
	if err := lat.check(); err == nil {
		t.Error("check accepted -sweep with the latency workload")
	}

	srv := servertest.Start(t)
	c := config{addr: srv.Addr, queue: "sweep", workload: "enqueue", producers: 7, items: 12, batch: 1, size: 128,
		inflight: 1, kvop: "all", output: "json", sweep: []int{1, 3}}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	r, _ := runJSON(t, c, time.Minute)
	if len(r.Results) != 2 || len(r.Sweep) != 2 {
		t.Fatalf("results %+v (sweep %v), want one per step", r.Results, r.Sweep)
	}
	for i, n := range []int{1, 3} {
		x := r.Results[i]
		if x.Streams != n || x.Items != 12 || x.Calls != 12 || x.P50us <= 0 || x.Server == nil || x.Server.After.RSSBytes <= 0 {
			t.Errorf("step %d: %+v, want %d streams, 12 items and server figures", i, x, n)
		}
	}
	if r.Server != nil {
		t.Errorf("a sweep's figures are per step, got a run-wide %+v", r.Server)
	}

	c.workload, c.output, c.storage, c.items, c.sweep = "kv", "text", "sweep-kv", 4, []int{2}
	c.kvop = "lock"
	text, _ := runOut(t, c, time.Minute)
	for _, want := range []string{"swept over [2]", "lock+unlock x2", "CPU per item"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}
