package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestQueueOps runs peek, dead-lettering, stats, dlq redrive and purge through the binary
// against a real server, with the exit codes of their failures.
func TestQueueOps(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "dead")
	ok(t, a, "", "queue", "create", "work", "--max-deliveries", "1", "--dead-letter-queue", "dead", "--priorities", "4")
	ok(t, a, "", "queue", "enqueue", "work", "one")
	ok(t, a, "", "queue", "enqueue", "work", "two", "--priority", "3")
	ok(t, a, "", "queue", "enqueue", "work", "later", "--delay", "10m")

	got := decode[[]peeked](t, ok(t, a, "", "queue", "peek", "work", "-o", "json"))
	if len(got) != 2 || got[0].Value != "two" || got[1].Value != "one" {
		t.Fatalf("peek: %+v, want two then one (the delayed item hidden)", got)
	}
	got = decode[[]peeked](t, ok(t, a, "", "queue", "peek", "work", "--delayed", "-o", "json"))
	if len(got) != 3 || got[2].Value != "later" || got[2].VisibleAt == "" {
		t.Fatalf("peek --delayed: %+v", got)
	}
	r := ctl(t, a, "", "queue", "peek", "work", "-n", "1")
	if !strings.Contains(r.stdout, "two") || strings.Contains(r.stdout, "one") || !strings.Contains(r.stderr, "more") {
		t.Fatalf("peek -n 1: %+v", r)
	}
	st := decode[statsSample](t, ok(t, a, "", "queue", "stats", "work", "-o", "json"))
	if st.Waiting != 3 || st.Delayed != 1 || st.VisibleByPriority[3] != 1 || st.VisibleByPriority[0] != 1 || st.Active != 0 || st.EnqueuedTotal != 3 {
		t.Fatalf("stats: %+v", st)
	}

	// Dead-letter both visible items: pulled, then requeued (max deliveries 1).
	pulledItems := decode[[]pulled](t, ok(t, a, "", "queue", "pull", "work", "-n", "2", "-o", "json"))
	if len(pulledItems) != 2 {
		t.Fatalf("pull: %+v", pulledItems)
	}
	ok(t, a, "", "queue", "requeue", "work", itoa(pulledItems[0].ID), itoa(pulledItems[1].ID))
	dlq := decode[[]peeked](t, ok(t, a, "", "queue", "peek", "dead", "-o", "json"))
	if len(dlq) != 2 || dlq[0].DeadLetterSource != "work" {
		t.Fatalf("peek of the dead-letter queue: %+v", dlq)
	}
	if st = decode[statsSample](t, ok(t, a, "", "queue", "stats", "work", "-o", "json")); st.DeadLettered != 2 {
		t.Fatalf("stats after dead-lettering: %+v", st)
	}
	rd := decode[counted](t, ok(t, a, "", "queue", "dlq", "redrive", "work", "--max", "1", "-o", "json"))
	if rd.Count != 1 || rd.Remaining == nil || *rd.Remaining != 1 {
		t.Fatalf("redrive --max 1: %+v", rd)
	}
	if out := ok(t, a, "", "queue", "dlq", "redrive", "work"); !strings.Contains(out, "1 dead-lettered items moved back, 0 remain") {
		t.Fatalf("redrive: %q", out)
	}
	got = decode[[]peeked](t, ok(t, a, "", "queue", "peek", "work", "-o", "json"))
	if len(got) != 2 || got[0].DeliveryCount != 0 {
		t.Fatalf("work after redrive: %+v", got)
	}

	pd := decode[counted](t, ok(t, a, "", "queue", "purge", "work", "-o", "json"))
	if pd.Count != 3 {
		t.Fatalf("purge: %+v, want the 2 redriven and the delayed item", pd)
	}
	if st = decode[statsSample](t, ok(t, a, "", "queue", "stats", "work", "-o", "json")); st.Waiting != 0 || st.OldestAgeSeconds != 0 {
		t.Fatalf("stats after purge: %+v", st)
	}

	exits(t, a, exitNotFound, "queue", "purge", "nope")
	exits(t, a, exitNotFound, "queue", "peek", "nope")
	exits(t, a, exitNotFound, "queue", "dlq", "redrive", "nope")
	exits(t, a, exitNotFound, "queue", "stats", "nope", "--watch", "--count", "2")
	exits(t, a, exitConflict, "queue", "dlq", "redrive", "dead") // no dead-letter queue
	exits(t, a, exitUsage, "queue", "peek", "work", "-n", "0")
	exits(t, a, exitUsage, "queue", "peek", "work", "-n", "100000")
	exits(t, a, exitUsage, "queue", "stats", "work", "--watch", "--interval", "0s")
	exits(t, "127.0.0.1:1", exitUnavailable, "queue", "purge", "work", "--timeout", "2s")
}

func itoa(id uint64) string { return strconv.FormatUint(id, 10) }

// TestStatsWatch prints one JSON line per interval, with rates from the second on.
func TestStatsWatch(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "w")
	ok(t, a, "a\nb\nc\n", "queue", "enqueue", "w", "--lines")
	out := ok(t, a, "", "queue", "stats", "w", "--watch", "--interval", "200ms", "--count", "3", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("--watch --count 3 printed %d lines: %q", len(lines), out)
	}
	first, last := decode[statsSample](t, lines[0]), decode[statsSample](t, lines[2])
	if first.EnqueueRate != nil || last.EnqueueRate == nil || *last.EnqueueRate != 0 || last.Waiting != 3 || last.VisibleByPriority[0] != 3 {
		t.Fatalf("watch lines: first %+v, last %+v", first, last)
	}
	table := ok(t, a, "", "queue", "stats", "w", "--watch", "--interval", "100ms", "--count", "2")
	tl := strings.Split(strings.TrimSpace(table), "\n")
	if len(tl) != 3 || !strings.HasPrefix(tl[0], "TIME") || !strings.Contains(tl[1], "0:3") {
		t.Fatalf("watch table: %q", table)
	}
}

// TestSnapshotSaveRestore saves a backup with a progress bar, refuses to restore without
// --yes or from a damaged file, and restores with --yes.
func TestSnapshotSaveRestore(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "keep")
	ok(t, a, "", "queue", "enqueue", "keep", "x")
	file := filepath.Join(t.TempDir(), "b.snap")
	r := ctl(t, a, "", "snapshot", "save", file, "--progress", "always")
	if r.code != 0 || !strings.Contains(r.stderr, "100%") || !strings.Contains(r.stdout, "saved") || !strings.Contains(r.stdout, "records of cluster") {
		t.Fatalf("snapshot save: %+v", r)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v %v", fi, err)
	}
	ok(t, a, "", "queue", "create", "later")
	exits(t, a, exitUsage, "snapshot", "restore", file) // no --yes
	bad := filepath.Join(t.TempDir(), "bad.snap")
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(bad, b[:len(b)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	exits(t, a, exitUsage, "snapshot", "restore", bad, "--yes")
	sum := decode[snapshotSummary](t, ok(t, a, "", "snapshot", "restore", file, "--yes", "-o", "json"))
	if sum.Action != "restored" || sum.Records == 0 {
		t.Fatalf("restore: %+v", sum)
	}
	qs := decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json"))
	if len(qs) != 1 || qs[0].Name != "keep" || qs[0].Count != 1 {
		t.Fatalf("queues after restore: %+v, want only keep with its item", qs)
	}
	exits(t, "127.0.0.1:1", exitUnavailable, "snapshot", "save", file+"2")
}

// TestSnapshotRestoreRefused: the server's refusal of a restore (a backup over
// --max-backup-bytes, 413) is reported with its message and picks the exit code.
func TestSnapshotRestoreRefused(t *testing.T) {
	s := servertest.Start(t, servertest.WithMaxBackupBytes(1024))
	a := s.Addr
	ok(t, a, "", "storage", "create", "big")
	ok(t, a, "", "kv", "set", "big", "k", strings.Repeat("x", 3000))
	file := filepath.Join(t.TempDir(), "big.snap")
	ok(t, a, "", "snapshot", "save", file)
	r := exits(t, a, exitUsage, "snapshot", "restore", file, "--yes")
	if !strings.Contains(r.stderr, "snapshot restore: 413") || !strings.Contains(r.stderr, "--max-backup-bytes") {
		t.Fatalf("stderr: %q", r.stderr)
	}
}

// TestBench runs octopusmq-bench through octopusctl bench (found next to octopusctl), and
// says how to get it when it is missing.
func TestBench(t *testing.T) {
	s := servertest.Start(t)
	r := ctl(t, s.Addr, "", "bench", "-workload", "enqueue", "-producers", "1", "-items", "20")
	if r.code != 1 || !strings.Contains(r.stderr, "go build ./cmd/octopusmq-bench") {
		t.Fatalf("bench without octopusmq-bench: %+v", r)
	}
	benchBin := filepath.Join(filepath.Dir(bin), "octopusmq-bench")
	if out, err := exec.Command("go", "build", "-o", benchBin, "../octopusmq-bench").CombinedOutput(); err != nil {
		t.Fatalf("go build octopusmq-bench: %v\n%s", err, out)
	}
	defer os.Remove(benchBin)
	r = ctl(t, s.Addr, "", "bench", "-workload", "enqueue", "-producers", "1", "-items", "20", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, "{") {
		t.Fatalf("bench: %+v", r)
	}
	if r = ctl(t, s.Addr, "", "bench", "-no-such-flag"); r.code == 0 {
		t.Fatalf("bench with a bad flag exited 0: %+v", r)
	}
}
