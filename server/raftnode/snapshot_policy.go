package raftnode

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot policy: when a node writes an automatic Raft snapshot (DESIGN.md "Snapshot
// policy"). hashicorp/raft's own rule is a count of entries (SnapshotThreshold), checked
// every SnapshotInterval. A snapshot encodes the whole state, so with a fixed count its
// cost per entry grows with the state: at 1M waiting items every snapshot writes ~100 MB
// whatever the few thousand entries since the last one held. This policy keeps raft's
// rule as a floor and adds a proportional one: a snapshot is due when, at a check,
//
//	entries since the last snapshot >= SnapshotThreshold, and
//	log bytes since the last snapshot >= SnapshotLogRatio × the last snapshot's size.
//
// The snapshot work per byte logged is then at most 1/SnapshotLogRatio whatever the
// depth, and the log between snapshots holds at most about SnapshotLogRatio × the state
// (plus what one interval brings). Raft's own trigger is disabled (its threshold set out of
// reach); a goroutine of the node checks on raft's schedule and calls raft.Snapshot, which
// takes and compacts exactly like an automatic snapshot (TrailingLogs kept).

// DefaultSnapshotLogRatio is the snapshot-to-log ratio of a Config that sets none: a
// snapshot when the log since the last one is as large as that snapshot.
const DefaultSnapshotLogRatio = 1.0

// snapshotPolicy decides whether a snapshot is due; pure, so tested on numbers alone.
type snapshotPolicy struct {
	minEntries uint64  // SnapshotThreshold: entries since the last snapshot, at least
	ratio      float64 // log bytes since the last snapshot per byte of it, at least (0: no size rule)
}

// logSince is the log written after the last snapshot.
type logSince struct {
	entries uint64
	bytes   uint64
	// unknown: bytes are not known (a restarted node does not know what its log
	// held before), so the size rule counts as met.
	unknown bool
}

// due reports whether a snapshot should be taken now, given the log since the last
// snapshot and that snapshot's size in bytes (0: none yet).
func (p snapshotPolicy) due(s logSince, lastSnapshot uint64) bool {
	if s.entries == 0 || s.entries < p.minEntries {
		return false
	}
	if p.ratio <= 0 || s.unknown {
		return true
	}
	return float64(s.bytes) >= p.ratio*float64(lastSnapshot)
}

// snapshotTrigger tracks a node's log and snapshots and applies the policy to them.
type snapshotTrigger struct {
	policy   snapshotPolicy
	interval time.Duration

	mu          sync.Mutex
	lastIndex   uint64 // highest log index stored
	snapIndex   uint64 // index of the newest snapshot
	snapBytes   uint64 // its size
	written     uint64 // log bytes stored since start
	snapWritten uint64 // written when the newest snapshot's state was captured
	unknown     bool   // bytes before start are not counted (see logSince)

	store raft.LogStore // the log store raft writes through (set by logs)

	taken atomic.Uint64 // snapshots this trigger asked for and raft took (tests)

	// taking is held while this node asks raft for a snapshot and while it runs a backup
	// restore, so the two never overlap: a snapshot raft started before a restore and
	// finished after it would set raft's last snapshot back below the restore's index, and
	// the leader, unable to read the entry before its next one (the restore's hole), would
	// send the restore's snapshot to every follower forever.
	taking sync.Mutex
}

// snapshot asks raft for a snapshot, never while a restore runs.
func (t *snapshotTrigger) snapshot(r *raft.Raft) error {
	t.taking.Lock()
	defer t.taking.Unlock()
	return r.Snapshot().Error()
}

// newSnapshotTrigger starts from what the stores hold. rc's own threshold is disabled:
// the trigger takes over.
func newSnapshotTrigger(cfg Config, rc *raft.Config, logs raft.LogStore, snaps raft.SnapshotStore) (*snapshotTrigger, error) {
	ratio := cfg.SnapshotLogRatio
	if ratio == 0 {
		ratio = DefaultSnapshotLogRatio
	}
	t := &snapshotTrigger{
		policy:   snapshotPolicy{minEntries: rc.SnapshotThreshold, ratio: ratio},
		interval: rc.SnapshotInterval,
	}
	rc.SnapshotThreshold = math.MaxUint64
	last, err := logs.LastIndex()
	if err != nil {
		return nil, err
	}
	t.lastIndex = last
	metas, err := snaps.List()
	if err != nil {
		return nil, err
	}
	if len(metas) > 0 {
		t.snapIndex, t.snapBytes = metas[0].Index, uint64(max(metas[0].Size, 0))
	}
	t.unknown = t.lastIndex > t.snapIndex
	return t, nil
}

// since is the log written after the newest snapshot.
func (t *snapshotTrigger) since() (logSince, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var s logSince
	if t.lastIndex > t.snapIndex {
		s.entries = t.lastIndex - t.snapIndex
	}
	s.bytes = t.written - t.snapWritten
	s.unknown = t.unknown
	return s, t.snapBytes
}

// run checks the policy on raft's schedule (a random time between one and two
// intervals, as raft does, so members do not snapshot in step) until stop is closed.
func (t *snapshotTrigger) run(r *raft.Raft, stop <-chan struct{}) {
	for {
		wait := t.interval + rand.N(t.interval)
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		t.check(r)
	}
}

// check takes a snapshot if the policy says one is due, and reports whether it did.
func (t *snapshotTrigger) check(r *raft.Raft) bool {
	s, last := t.since()
	if !t.policy.due(s, last) {
		return false
	}
	if err := t.snapshot(r); err != nil {
		// ErrNothingNewToSnapshot, shutdown, or a failure raft has logged: the next
		// check tries again.
		return false
	}
	t.taken.Add(1)
	return true
}

// logs wraps the log store to count what is written.
func (t *snapshotTrigger) logs(s raft.LogStore) raft.LogStore {
	t.store = s
	return countedLogStore{s, t}
}

// snapshots wraps the snapshot store to learn each snapshot's index and size.
func (t *snapshotTrigger) snapshots(s raft.SnapshotStore) raft.SnapshotStore {
	return countedSnapshotStore{s, t}
}

type countedLogStore struct {
	raft.LogStore
	t *snapshotTrigger
}

func (s countedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s countedLogStore) StoreLogs(logs []*raft.Log) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	var n uint64
	for _, l := range logs {
		n += uint64(len(l.Data) + len(l.Extensions))
	}
	s.t.mu.Lock()
	s.t.written += n
	if len(logs) > 0 {
		// A follower may overwrite a conflicting suffix: the last stored is the last.
		s.t.lastIndex = logs[len(logs)-1].Index
	}
	s.t.mu.Unlock()
	return nil
}

type countedSnapshotStore struct {
	raft.SnapshotStore
	t *snapshotTrigger
}

func (s countedSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	// The state was captured before the sink is created: what is logged from here on
	// comes after it. What was logged in between is counted for neither, which only
	// delays the next snapshot by that much.
	s.t.mu.Lock()
	at := s.t.written
	s.t.mu.Unlock()
	return &countedSink{SnapshotSink: sink, t: s.t, index: index, at: at}, nil
}

type countedSink struct {
	raft.SnapshotSink
	t     *snapshotTrigger
	index uint64
	at    uint64
	n     uint64
}

func (s *countedSink) Write(p []byte) (int, error) {
	n, err := s.SnapshotSink.Write(p)
	s.n += uint64(n)
	return n, err
}

func (s *countedSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	t := s.t
	// An installed snapshot may have changed the log (snapshot_agree.go): read its end again.
	last, err := t.store.LastIndex()
	t.mu.Lock()
	if s.index >= t.snapIndex {
		t.snapIndex, t.snapBytes, t.snapWritten, t.unknown = s.index, s.n, s.at, false
		if err == nil {
			t.lastIndex = last
		}
		t.lastIndex = max(t.lastIndex, s.index) // an installed snapshot past this node's log
	}
	t.mu.Unlock()
	return nil
}
