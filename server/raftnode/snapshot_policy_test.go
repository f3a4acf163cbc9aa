package raftnode

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

func TestSnapshotPolicyDue(t *testing.T) {
	p := snapshotPolicy{minEntries: 100, ratio: 2}
	for _, c := range []struct {
		name string
		s    logSince
		last uint64
		want bool
	}{
		{"nothing since", logSince{}, 0, false},
		{"below the entry floor", logSince{entries: 99, bytes: 1 << 30}, 10, false},
		{"first snapshot: floor alone", logSince{entries: 100, bytes: 1}, 0, true},
		{"small state: floor alone", logSince{entries: 100, bytes: 2000}, 1000, true},
		{"big state: log under ratio x size", logSince{entries: 100_000, bytes: 1999}, 1000, false},
		{"big state: log at ratio x size", logSince{entries: 100_000, bytes: 2000}, 1000, true},
		{"restarted: bytes unknown", logSince{entries: 100, unknown: true}, 1 << 30, true},
		{"restarted below the floor", logSince{entries: 99, unknown: true}, 1, false},
	} {
		if got := p.due(c.s, c.last); got != c.want {
			t.Errorf("%s: due(%+v, %d) = %v, want %v", c.name, c.s, c.last, got, c.want)
		}
	}
	entriesOnly := snapshotPolicy{minEntries: 100, ratio: -1}
	if !entriesOnly.due(logSince{entries: 100, bytes: 1}, 1<<30) {
		t.Error("with no size rule the entry threshold alone decides")
	}
	if entriesOnly.due(logSince{entries: 99, bytes: 1 << 40}, 1) {
		t.Error("with no size rule the entry threshold still holds")
	}
}

// snapshotsPerEntries starts a node with the given snapshot-to-log ratio (threshold 8, its
// own checks out of the way), enqueues prefill bytes in a few entries, then entries one
// 4 KiB item each, checking the policy after every entry as the node's timer would. It
// returns the snapshots taken over those entries and the node.
func snapshotsPerEntries(t *testing.T, ratio float64, prefill, entries int) (int, *Node) {
	t.Helper()
	addr := freeAddr(t)
	n := startNodeConfig(t, Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: addr, ClientAddress: "n1:client",
		Bootstrap: true, SnapshotThreshold: 8, TrailingLogs: 8, SnapshotInterval: time.Hour, SnapshotLogRatio: ratio})
	ctx := context.Background()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 4096)
	for left := prefill; left > 0; {
		var items []*pb.InputItem
		for ; left > 0 && len(items) < 64; left -= len(value) {
			items = append(items, &pb.InputItem{Value: value})
		}
		if res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: items}); err != nil || res.Err != nil {
			t.Fatal(err, res.Err)
		}
	}
	// Start from a snapshot of the prefilled state, as a node that has run for a while.
	n.snapTrig.check(n.Raft())
	before := n.snapTrig.taken.Load()
	for i := 0; i < entries; i++ {
		if res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
			Items: []*pb.InputItem{{Value: value}}}); err != nil || res.Err != nil {
			t.Fatal(err, res.Err)
		}
		n.snapTrig.check(n.Raft())
	}
	return int(n.snapTrig.taken.Load() - before), n
}

// TestSnapshotsProportionalToState: over the same entries, a node whose state is large
// takes fewer snapshots than one whose state is small (each snapshot waits for a log as
// large as the last snapshot), and its log is still truncated; with no size rule the entry
// threshold alone decides, as raft's own trigger did.
func TestSnapshotsProportionalToState(t *testing.T) {
	const entries = 300 // 4 KiB each: 1.2 MiB logged
	small, _ := snapshotsPerEntries(t, 0, 0, entries)
	large, ln := snapshotsPerEntries(t, 0, 1<<20, entries) // 1 MiB waiting first
	fixed, _ := snapshotsPerEntries(t, -1, 1<<20, entries)
	t.Logf("snapshots over %d entries: small state %d, 1 MiB state %d, entries only %d", entries, small, large, fixed)
	// Entries only: one snapshot per 8 entries, whatever the state.
	if fixed < entries/8-2 {
		t.Errorf("entries only: %d snapshots over %d entries, want about %d", fixed, entries, entries/8)
	}
	// Small state, growing 4 KiB an entry: the log since a snapshot must reach its size,
	// so snapshots come at about 8, 16, 32, ... entries: a handful, more than the large
	// state's and far fewer than a fixed threshold's.
	if small <= large || small >= fixed {
		t.Errorf("small state took %d snapshots, large %d, entries-only %d: want large < small < entries-only", small, large, fixed)
	}
	// Large state: 1 MiB (plus) of snapshot needs about 1 MiB of log, about 256 entries
	// of the 300; at most two snapshots.
	if large < 1 || large > 2 {
		t.Errorf("1 MiB state: %d snapshots over %d entries of 4 KiB, want 1 or 2", large, entries)
	}
	// The snapshot still truncated the log, keeping TrailingLogs entries.
	first, err := ln.logStore.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last := ln.Raft().LastIndex()
	if first <= 1 || last-first+1 > 8+entries {
		t.Errorf("log holds %d..%d after a snapshot: not truncated", first, last)
	}
	s, size := ln.snapTrig.since()
	if size < 1<<20 || s.unknown {
		t.Errorf("trigger knows the last snapshot as %d bytes (unknown=%v), want at least the 1 MiB state", size, s.unknown)
	}
}

// TestSnapshotTriggerAfterRestart: a restarted node does not know how many bytes its log
// holds since the last snapshot, so once the entry floor is met it takes one rather than
// let the log grow past the bound.
func TestSnapshotTriggerAfterRestart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := Config{NodeID: "n1", DataDir: dir, RaftBind: addr, ClientAddress: "n1:client", Bootstrap: true,
		SnapshotThreshold: 8, TrailingLogs: 8, SnapshotInterval: time.Hour}
	n := startNodeConfig(t, cfg)
	ctx := context.Background()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
			Items: []*pb.InputItem{{Value: bytes.Repeat([]byte("v"), 1024)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if !n.snapTrig.check(n.Raft()) {
		t.Fatal("no first snapshot")
	}
	for i := 0; i < 10; i++ { // 10 KiB: under the ratio, over the entry floor
		if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
			Items: []*pb.InputItem{{Value: []byte("x")}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n.snapTrig.check(n.Raft()) {
		t.Fatal("a snapshot with the log since far smaller than the last snapshot")
	}
	n.Shutdown()
	n = startNodeConfig(t, cfg)
	s, size := n.snapTrig.since()
	if !s.unknown || s.entries < 10 || size == 0 {
		t.Fatalf("after a restart: since %+v, last snapshot %d bytes; want unknown bytes, >= 10 entries, the snapshot's size", s, size)
	}
	if !n.snapTrig.check(n.Raft()) {
		t.Fatal("a restarted node over the entry floor took no snapshot")
	}
	if s, _ := n.snapTrig.since(); s.unknown {
		t.Fatal("bytes still unknown after a snapshot")
	}
}
