package raftnode

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A snapshot at (index, term) that a follower installs replaces its state up to index,
// and Raft's InstallSnapshot rule 7 says what becomes of its log: if the entry at index
// has the snapshot's term, the entries after it stay; otherwise the whole log goes.
// hashicorp/raft (v1.7.3, upstream issue #697, PR #704) does neither: after an install
// it only compacts up to min(index, lastLog-TrailingLogs), so a follower that held
// uncommitted entries of an earlier term keeps them. When one sits at the snapshot's
// index, the follower rejects every AppendEntries whose previous entry is that index, the
// leader sends the snapshot again, and so on forever; and the stale entries below the
// snapshot stay in its log, where a later leader could read them.
//
// agreeingSnapshots applies the rule without forking raft. raft calls Create with the
// snapshot's index and term before the install restores the state machine, and the log
// is made to agree when the sink closes (the snapshot is then on disk). raft's in-memory
// cache of its last log entry (index, term) cannot be changed from here, so the change is
// chosen to stay consistent with it (see reconcileLog).
type agreeingSnapshots struct {
	raft.SnapshotStore
	logs raft.LogStore // the store raft appends to (the same one, not a copy)
	keep *keepingLog   // raft's view of logs
	log  hclog.Logger
}

// keepingLog is the log store as raft sees it. Right after an install, raft compacts its
// log up to min(snapshot index, last index - TrailingLogs); with few trailing logs and a
// long stale suffix that is the entry reconcileLog wrote at the snapshot index, which the
// next append needs. So DeleteRange leaves that one entry (keep) in place until raft has
// stored an entry past it (its cached last entry is then the leader's).
type keepingLog struct {
	raft.LogStore
	keep atomic.Uint64
	// stored, when set, sees every batch of entries once it is stored (logClock.received).
	stored func([]*raft.Log)
}

func (l *keepingLog) DeleteRange(min, max uint64) error {
	// After reconcileLog emptied the log, raft compacts from FirstIndex 0: nothing to do
	// (and raft's InmemStore would wrap its indexes around).
	if last, err := l.LogStore.LastIndex(); err == nil && last == 0 {
		return nil
	}
	if k := l.keep.Load(); k != 0 && min <= k && k <= max {
		if k == min {
			min++
		} else {
			max = k - 1 // raft deletes from an entry through k only to compact
		}
		if min > max {
			return nil
		}
	}
	return l.LogStore.DeleteRange(min, max)
}

func (l *keepingLog) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

func (l *keepingLog) StoreLogs(logs []*raft.Log) error {
	if err := l.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	if l.stored != nil {
		l.stored(logs)
	}
	if k := l.keep.Load(); k != 0 && len(logs) > 0 && logs[len(logs)-1].Index > k {
		l.keep.CompareAndSwap(k, 0)
	}
	return nil
}

// raftStores wraps a node's log and snapshot stores the way raft gets them: the log through
// keepingLog, the latency metrics and a cache of the newest entries (logcache.go); the
// snapshots through agreeingSnapshots, which changes the log through that same cache so
// raft is never served a stale entry from it. stored (nil: none) sees the entries stored.
func raftStores(store raft.LogStore, snaps raft.SnapshotStore, log hclog.Logger, stored func([]*raft.Log)) (raft.LogStore, raft.SnapshotStore) {
	keeping := &keepingLog{LogStore: store, stored: stored}
	logs := cachedLogs(timedLogStore{keeping})
	return logs, agreeingSnapshots{SnapshotStore: snaps, logs: logs, keep: keeping, log: log}
}

// Create creates a sink that makes the log agree with the snapshot once it closes.
func (s agreeingSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &agreeingSink{SnapshotSink: sink, store: s, index: index, term: term}, nil
}

type agreeingSink struct {
	raft.SnapshotSink
	store       agreeingSnapshots
	index, term uint64
	closed      bool
}

// Close finishes the snapshot, then reconciles the log with it. A failure to reconcile is
// logged, not returned: the snapshot is already stored, and failing its Close would make
// raft treat a stored snapshot as never written. A second Close (raft closes the sink
// again after the FSM's Persist closed it) only closes the wrapped sink again.
func (k *agreeingSink) Close() error {
	if k.closed {
		return k.SnapshotSink.Close()
	}
	if err := k.SnapshotSink.Close(); err != nil {
		return err
	}
	k.closed = true
	// An earlier install's kept entry must not stop reconcileLog from deleting it; it is
	// kept again unless this snapshot changed the log (then the new one supersedes it).
	var prev uint64
	if k.store.keep != nil {
		prev = k.store.keep.keep.Swap(0)
	}
	did, err := reconcileLog(k.store.logs, k.index, k.term)
	if k.store.keep != nil {
		keep := prev
		if did != "" {
			keep = 0
			if last, lerr := k.store.logs.LastIndex(); lerr == nil && last > k.index {
				keep = k.index // a stale suffix follows: raft reads k.index next
			}
		}
		k.store.keep.keep.Store(keep)
	}
	if err != nil {
		k.store.log.Error("making the log agree with a snapshot", "index", k.index, "term", k.term, "error", err)
	} else if did != "" {
		k.store.log.Warn("made the log agree with a snapshot", "index", k.index, "term", k.term, "change", did)
	}
	return nil
}

// maxStaleSuffix bounds the entries after a conflicting snapshot index that reconcileLog
// keeps (rewrites). Stale entries are an earlier leader's uncommitted ones: a few batches.
const maxStaleSuffix = 1 << 16

// reconcileLog makes logs agree with a snapshot at (index, term) and describes what it
// changed ("" when nothing). Every entry at or below index is covered by the snapshot:
// the state machine restores the snapshot and never applies them, so they can be dropped
// or replaced. The cases, with raft's cached last entry (lastIndex, lastTerm) in mind:
//
//   - the entry at index has the snapshot's term: the log matches the leader's up to
//     index (Log Matching), nothing to do (raft compacts as usual);
//   - the log ends before index: every entry goes (they may be an earlier term's, never
//     committed). raft's cached last index is below the snapshot's, so raft uses the
//     snapshot's index and term as its last entry from now on;
//   - the entry at index has another term (entries of an earlier leader that were never
//     committed), or there is none but there are entries past it: the entries below index
//     go, and index is written as a no-op of the snapshot's term. The entries after it stay, unchanged: raft's cached last entry is
//     past index, so the next AppendEntries finds its previous entry (index) by reading the
//     log, matches the snapshot's term, and its own conflict check deletes the stale
//     suffix as it appends the leader's entries. The no-op is never applied (the state
//     machine is past index) and never sent to a follower (the entry before it is gone,
//     so a leader sends its snapshot instead). When index was the last entry, raft's cache
//     still holds the old term until the node restarts (it reads the rewritten entry) or
//     the leader sends a later snapshot (the leader takes one after a backup restore).
//
// Deleting the whole range and storing the rewritten entries in order works on both
// stores: raft-wal only truncates a head or a tail and appends in order.
func reconcileLog(logs raft.LogStore, index, term uint64) (string, error) {
	last, err := logs.LastIndex()
	if err != nil || last == 0 {
		return "", err
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return "", err
	}
	var at raft.Log
	err = logs.GetLog(index, &at)
	switch {
	case err == nil && at.Term == term:
		return "", nil
	case err == nil:
	case errors.Is(err, raft.ErrLogNotFound) && last < index:
		if err := logs.DeleteRange(first, last); err != nil {
			return "", err
		}
		return fmt.Sprintf("deleted entries %d-%d, all before the snapshot", first, last), nil
	case errors.Is(err, raft.ErrLogNotFound):
		// No entry at index, entries past it (an earlier snapshot or restore left a hole
		// there): raft would fail to read the previous entry of the next append, so it
		// gets one, as for a conflict.
		at.Term = 0
	default:
		return "", err
	}
	if last-index > maxStaleSuffix {
		return "", fmt.Errorf("%d entries after the conflicting entry %d (term %d): more than %d", last-index, index, at.Term, maxStaleSuffix)
	}
	keep := make([]*raft.Log, 0, 1+last-index)
	keep = append(keep, &raft.Log{Index: index, Term: term, Type: raft.LogNoop})
	for i := index + 1; i <= last; i++ {
		l := new(raft.Log)
		if err := logs.GetLog(i, l); err != nil {
			return "", fmt.Errorf("reading entry %d after the conflict: %w", i, err)
		}
		keep = append(keep, l)
	}
	if err := logs.DeleteRange(first, last); err != nil {
		return "", err
	}
	if err := logs.StoreLogs(keep); err != nil {
		return "", err
	}
	return fmt.Sprintf("entry %d had term %d (0: none): deleted entries %d-%d, wrote %d with the snapshot's term, kept %d-%d for the leader's appends to check",
		index, at.Term, first, last, index, index+1, last), nil
}
