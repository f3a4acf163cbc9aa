// Package state is OctopusMQ's replicated state machine: the catalog of queues and
// storages, the global counters and the clock. Raft applies log entries to it through
// EntryDecoder.Apply (entry_decode.go: the hot commands read without a message each) or
// Apply; every change goes through the handlers of the dispatch table in dispatch.go.
//
// It is deterministic: time enters only through Entry.time_unix_nano (the leader's bounded
// clock, see raftnode/clock.go; 0 leaves the clock as it is),
// ids and fencing tokens come from counters in the state, and iteration that affects results
// is ordered. The only side output is the Notifier, which wakes waiters in this process
// (long-polling pulls, lock waits) and never feeds back into the state.
package state

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Result is the outcome of one command: Value on success, Err on failure.
type Result struct {
	Value any
	Err   *apierr.Error
}

// State is the replicated state. Apply, Snapshot and Restore are called by Raft; the read
// methods may be called concurrently with them.
type State struct {
	mu        sync.RWMutex
	clock     int64  // Unix ns, the maximum entry time applied so far
	nextID    uint64 // next item or key id
	lastToken uint64 // last fencing token granted
	clusterID string // set once by TYPE_SET_CLUSTER_ID ("" until then)
	queues    map[string]*queue.Queue
	storages  map[string]*kv.Storage
	members   map[string]*raftpb.SetMemberInfo // raft server id → published client address, promote
	// deadSources: dead-letter queue → item id → the queue that dead-lettered it (queue_ops.go).
	deadSources map[string]map[uint64]string
	counts      map[string]*QueueCounters // this replica's running totals per queue (queue_ops.go)

	notify  *Notifier
	touched []touched // keys to notify after the current Apply
	// lockTouched: key changes to wake lock waiters of after the current Apply (waits.go).
	lockTouched []lockTouched
	// keyed: queues that may hold items with a key (a group), whose changes wake every
	// waiting puller (waits.go). Not replicated: derived, and only for wakeups.
	keyed  map[string]bool
	events eventCounters
	// commands counts the commands applied (AppliedCommands).
	commands atomic.Uint64
	// During an Apply: its number of commands, and the results of its one-item enqueues
	// (enqueueResult).
	entryCommands int
	enqueued      []oneEnqueued
}

// New returns an empty state that signals changes on n (nil: no notifications).
func New(n *Notifier) *State {
	if n == nil {
		n = NewNotifier()
	}
	s := &State{notify: n}
	s.reset()
	return s
}

func (s *State) reset() {
	s.clock = 0
	s.nextID = 1
	s.lastToken = 0
	s.clusterID = ""
	s.queues = map[string]*queue.Queue{}
	s.storages = map[string]*kv.Storage{}
	s.members = map[string]*raftpb.SetMemberInfo{}
	s.deadSources = map[string]map[uint64]string{}
	s.counts = map[string]*QueueCounters{}
	s.keyed = map[string]bool{}
}

// Notifier returns the notifier the state signals.
func (s *State) Notifier() *Notifier { return s.notify }

// NextID implements queue.IDs and kv.Counters.
func (s *State) NextID() uint64 {
	id := s.nextID
	s.nextID++
	return id
}

// NextToken implements kv.Counters.
func (s *State) NextToken() uint64 {
	s.lastToken++
	return s.lastToken
}

// Apply applies one log entry and returns one Result per command.
func (s *State) Apply(e *raftpb.Entry) []Result {
	cmds := e.GetCommands()
	return s.apply(e.GetTimeUnixNano(), len(cmds), func(i int, now int64) Result { return s.dispatch(now, cmds[i]) })
}

// apply applies an entry of time t and n commands, the i-th applied by command(i, now)
// (Apply, EntryDecoder.Apply).
func (s *State) apply(t int64, n int, command func(i int, now int64) Result) []Result {
	s.mu.Lock()
	if t > s.clock {
		s.clock = t
	}
	now := s.clock
	s.advance(now)
	s.commands.Add(uint64(n))
	out := make([]Result, n)
	s.entryCommands = n
	for i := range out {
		out[i] = command(i, now)
	}
	s.entryCommands, s.enqueued = 0, nil
	touched, lockTouched := s.touched, s.lockTouched
	s.touched, s.lockTouched = nil, nil
	s.mu.Unlock()
	for _, t := range touched {
		s.notify.TouchN(t.key, t.n)
	}
	s.wakeLocks(lockTouched)
	return out
}

// touch records that waiters on key may now succeed.
func (s *State) touch(key string) { s.touched = append(s.touched, touched{key, -1}) }

// advance fires every deadline that is due at now, in name order.
func (s *State) advance(now int64) {
	for _, name := range sortedKeys(s.queues) {
		q := s.queues[name]
		if d := q.NextDeadline(); d != 0 && d <= now {
			before := levels(q)
			s.routeDead(now, q.Advance(now))
			s.wakePullers(name, q, before)
		}
	}
	for _, name := range sortedKeys(s.storages) {
		st := s.storages[name]
		if d := st.NextDeadline(); d != 0 && d <= now {
			s.watch(st)
			st.Advance(now)
			s.storageChanged(name, st)
		}
	}
}

// NextDeadline is the earliest deadline of any queue or storage (0: none). The leader
// proposes a tick when it passes.
func (s *State) NextDeadline() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next int64
	consider := func(d int64) {
		if d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, q := range s.queues {
		consider(q.NextDeadline())
	}
	for _, st := range s.storages {
		consider(st.NextDeadline())
	}
	return next
}

// Clock returns the state's clock (Unix ns).
func (s *State) Clock() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clock
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
