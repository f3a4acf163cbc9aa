package server_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/metricstest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// Every metric the README's Metrics list names is exported by a real server after real
// traffic through the Go client, and is non-zero where that traffic implies it. (The
// follower contact series needs a cluster: deploy's dashboard test scrapes one.)
func TestMetricsListAfterTraffic(t *testing.T) {
	srv := servertest.Start(t)
	defer metricstest.Traffic(t, srv.Addr)()
	// A snapshot through the snapshot store, as Raft takes them.
	if err := srv.Server().Node().Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	fams := metricstest.Scrape(t, srv.URL, "")

	type want struct {
		family string
		labels []string
		min    float64 // the value (a histogram's count) must be at least this
	}
	q, dlq := metricstest.WorkQueue, metricstest.DeadQueue
	for _, w := range []want{
		// Stream commands (the Go client's data path) and unary calls.
		{"octopusmq_stream_commands_total", []string{"service", "queue", "kind", "enqueue", "status", "ok"}, 2},
		{"octopusmq_stream_commands_total", []string{"service", "queue", "kind", "batch_enqueue", "status", "ok"}, 1},
		{"octopusmq_stream_commands_total", []string{"service", "queue", "kind", "pull_single", "status", "ok"}, 4},
		{"octopusmq_stream_commands_total", []string{"service", "queue", "kind", "requeue_single", "status", "ok"}, 2},
		{"octopusmq_stream_commands_total", []string{"service", "queue", "kind", "setup", "status", "ok"}, 2},
		{"octopusmq_stream_commands_total", []string{"service", "storage", "kind", "lock_key", "status", "ok"}, 1},
		{"octopusmq_stream_commands_total", []string{"service", "storage", "kind", "lock_key"}, 2},
		{"octopusmq_stream_commands_total", []string{"service", "storage", "kind", "set", "status", "ok"}, 1},
		{"octopusmq_stream_command_seconds", []string{"service", "queue", "kind", "enqueue"}, 2},
		{"octopusmq_stream_command_seconds", []string{"service", "storage", "kind", "get"}, 1},
		{"octopusmq_grpc_requests_total", []string{"code", "OK"}, 3},
		{"octopusmq_grpc_request_seconds", nil, 3},
		{"octopusmq_grpc_streams_open", nil, 0},
		// Queues: depth by priority, oldest waiting age, delayed, in flight, redeliveries,
		// dead-lettered, expired.
		{"octopusmq_queues", nil, 2},
		{"octopusmq_queues_items", nil, 4},
		{"octopusmq_queues_active_items", nil, 1},
		{"octopusmq_queues_delayed_items", nil, 1},
		{"octopusmq_queues_oldest_waiting_age_seconds", nil, 1e-9},
		{"octopusmq_queue_items", []string{"queue", q}, 3},
		{"octopusmq_queue_active_items", []string{"queue", dlq}, 1},
		{"octopusmq_queue_waiting_items", []string{"queue", q, "priority", "1"}, 1},
		{"octopusmq_queue_waiting_items", []string{"queue", q, "priority", "2"}, 1},
		{"octopusmq_queue_delayed_items", []string{"queue", q}, 1},
		{"octopusmq_queue_oldest_waiting_age_seconds", []string{"queue", q}, 1e-9},
		{"octopusmq_dead_letter_queue_items", []string{"queue", dlq}, 1},
		{"octopusmq_queue_redeliveries_total", nil, 1},
		{"octopusmq_queue_dead_lettered_total", nil, 2},
		{"octopusmq_queue_expired_total", nil, 1},
		{"octopusmq_queue_dead_dropped_total", nil, 0},
		{"octopusmq_waits_total", []string{"kind", "pull"}, 1},
		// Locks: waits and grants.
		{"octopusmq_lock_grants_total", nil, 1},
		{"octopusmq_waits_total", []string{"kind", "lock"}, 1},
		{"octopusmq_waiting_commands", []string{"kind", "lock"}, 0},
		{"octopusmq_storages", nil, 1},
		{"octopusmq_storages_keys", nil, 1},
		{"octopusmq_storages_locked_keys", nil, 1},
		{"octopusmq_storage_keys", []string{"storage", metricstest.Storage}, 1},
		{"octopusmq_storage_locked_keys", []string{"storage", metricstest.Storage}, 1},
		// Raft: term, commit and applied index, contact, snapshots, commands per entry,
		// log store latency, apply time.
		{"octopusmq_raft_leader", nil, 1},
		{"octopusmq_raft_has_leader", nil, 1},
		{"octopusmq_raft_term", nil, 1},
		{"octopusmq_raft_commit_index", nil, 10},
		{"octopusmq_raft_applied_index", nil, 10},
		{"octopusmq_raft_last_log_index", nil, 10},
		{"octopusmq_raft_last_snapshot_index", nil, 10},
		{"octopusmq_raft_last_contact_seconds", nil, 0},
		{"octopusmq_raft_snapshot_seconds", nil, 1},
		{"octopusmq_raft_snapshot_last_bytes", nil, 1},
		{"octopusmq_raft_snapshots_failed_total", nil, 0},
		{"octopusmq_raft_commands_per_entry", nil, 10},
		{"octopusmq_raft_log_store_seconds", nil, 10},
		{"octopusmq_raft_log_stored_entries_total", nil, 10},
		{"octopusmq_raft_apply_seconds", nil, 10},
		{"octopusmq_clock_skew_seconds", nil, math.Inf(-1)}, // either sign
	} {
		v, ok := metricstest.Value(fams, w.family, w.labels...)
		name := metricstest.Describe(w.family, w.labels...)
		switch {
		case !ok:
			t.Errorf("/metrics lacks %s", name)
		case v < w.min:
			t.Errorf("%s = %v, want at least %v after the traffic", name, v, w.min)
		}
	}
	// The README's list names exactly the octopusmq_ families the server exports (the
	// follower contact series appears on a cluster's leader only).
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(readme)
	if i := strings.Index(sec, "\n### Metrics, logs and profiles\n"); i >= 0 {
		sec = sec[i+1:]
		if j := strings.Index(sec, "\n## "); j >= 0 {
			sec = sec[:j]
		}
	} else {
		t.Fatal(`README has no "### Metrics, logs and profiles" section`)
	}
	listed := map[string]bool{}
	for _, name := range regexp.MustCompile("`(octopusmq_[a-z0-9_]+)`").FindAllStringSubmatch(sec, -1) {
		listed[name[1]] = true
		if fams[name[1]] == nil && name[1] != "octopusmq_raft_follower_last_contact_seconds" {
			t.Errorf("README lists %s, which the server does not export", name[1])
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "octopusmq_") && !listed[name] {
			t.Errorf("the server exports %s, which the README's metrics list does not name", name)
		}
	}
	// The histograms' buckets are there (a dashboard's quantiles need them).
	if h := fams["octopusmq_stream_command_seconds"]; h == nil || len(h.GetMetric()) == 0 || len(h.GetMetric()[0].GetHistogram().GetBucket()) == 0 {
		t.Errorf("octopusmq_stream_command_seconds has no buckets")
	}
}

// --pprof serves net/http/pprof on the client port; with auth on, to admins only. Without
// the flag there is nothing there.
func TestPprofAdminsOnly(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	content := fmt.Sprintf("root admin %s\nreader producer:jobs- %s\n", auth.HashToken("admin-token"), auth.HashToken("reader-token"))
	if err := os.WriteFile(tokens, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithAuth(auth.Config{TokensFile: tokens}), func(c *server.Config) { c.Pprof = true })
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/debug/pprof/", ""); code != http.StatusUnauthorized {
		t.Errorf("pprof without a token: %d, want 401", code)
	}
	if code, _ := get("/debug/pprof/", "reader-token"); code != http.StatusForbidden {
		t.Errorf("pprof as a producer: %d, want 403", code)
	}
	code, body := get("/debug/pprof/", "admin-token")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof index as admin: %d %.200q, want 200 listing the profiles", code, body)
	}
	code, body = get("/debug/pprof/goroutine?debug=1", "admin-token")
	if code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile as admin: %d %.200q", code, body)
	}

	plain := servertest.Start(t)
	code, _ = servertest.HTTP(t, "GET", plain.URL+"/debug/pprof/", "")
	if code == http.StatusOK {
		t.Errorf("/debug/pprof/ without --pprof: %d, want it absent", code)
	}
}
