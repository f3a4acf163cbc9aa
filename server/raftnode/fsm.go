package raftnode

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// fsm adapts state.State to raft.BatchingFSM: it decodes entries, applies them and tracks
// the applied index for linearizable reads.
type fsm struct {
	st      *state.State
	self    raft.ServerID
	clock   *logClock // learns the log's time from every entry applied
	applied atomic.Uint64
	// soleVoter: the configuration has exactly one voter, this node. No other node can
	// then be elected, so a leader's reads need no VerifyLeader round (see ReadBarrier).
	soleVoter atomic.Bool
	// confIndex is the index of the last configuration entry applied (see
	// Node.configurationIndex).
	confIndex atomic.Uint64

	mu      sync.Mutex
	advance chan struct{} // closed and replaced whenever applied grows

	// applyMu is held while a batch is applied and applied updated, so a backup taken
	// under it (snapshotNow) names exactly the index its state includes.
	applyMu sync.Mutex
	// dec decodes and applies command entries (under applyMu): the hot commands (enqueue,
	// pull, commit, delete, extend) without a message each, scratch reused between entries.
	dec state.EntryDecoder
}

func newFSM(st *state.State, self raft.ServerID, clock *logClock) *fsm {
	return &fsm{st: st, self: self, clock: clock, advance: make(chan struct{})}
}

// setConfiguration records whether c has this node as its only voter.
func (f *fsm) setConfiguration(c raft.Configuration) {
	voters, self := 0, false
	for _, s := range c.Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == f.self
		}
	}
	f.soleVoter.Store(voters == 1 && self)
}

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies committed logs in order; the response of a command log is the
// []state.Result of its entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	out := make([]any, len(logs))
	commands := false
	for i, l := range logs {
		if l.Type == raft.LogConfiguration {
			f.setConfiguration(raft.DecodeConfiguration(l.Data))
			f.confIndex.Store(max(f.confIndex.Load(), l.Index))
			f.st.Notifier().Touch(state.MembersKey) // the leader's membership upkeep looks again
			continue
		}
		if l.Type != raft.LogCommand {
			continue
		}
		start := time.Now() // the entry's apply time, decoding included (octopusmq_raft_apply_seconds)
		rs, err := f.dec.Apply(f.st, l.Data)
		if err != nil {
			out[i] = apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "corrupt log entry %d: %v", l.Index, err)
			continue
		}
		out[i] = rs
		observeApply(start)
		commands = true
	}
	if commands {
		f.clock.observe(f.st.Clock())
	}
	if len(logs) > 0 {
		f.setApplied(logs[len(logs)-1].Index)
	}
	return out
}

func (f *fsm) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.mu.Lock()
	close(f.advance)
	f.advance = make(chan struct{})
	f.mu.Unlock()
}

// waitApplied returns a channel closed at the next applied-index change.
func (f *fsm) waitApplied() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.advance
}

// Snapshot runs on Raft's FSM goroutine, between applies. It only captures the state
// (copy-on-write, O(queues + storages)); Persist encodes it while applies go on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return snapshotCapture{f.st.Capture(f.applied.Load())}, nil
}

// snapshotNow encodes the state and the index it includes, from any goroutine. Applies
// wait only while the state is captured, not while it is encoded.
func (f *fsm) snapshotNow() (*state.Encoded, uint64, error) {
	f.applyMu.Lock()
	idx := f.applied.Load()
	c := f.st.Capture(idx)
	f.applyMu.Unlock()
	e, err := c.Encode()
	return e, idx, err
}

// Restore replaces the state with a snapshot (the state changes only if the whole snapshot
// decodes) and wakes what waits for applies, since the state changed.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if err := f.st.Restore(rc); err != nil {
		return err
	}
	f.clock.observe(f.st.Clock())
	f.setApplied(f.applied.Load())
	return nil
}

// snapshotCapture is a state captured at Snapshot time, encoded by Persist.
type snapshotCapture struct{ c *state.Capture }

func (s snapshotCapture) Persist(sink raft.SnapshotSink) error {
	if _, err := s.c.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshotCapture) Release() {}
