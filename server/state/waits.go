package state

import (
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Waiters' reads: the leader answers a pull that would lease nothing from its own state
// and waits without writing to the log; a change wakes only as many waiting pullers as it
// made items visible (see Notifier.HoldOne), and a lock waiter only when its key (or a key
// of its prefix) can be locked (notify_locks.go).

// PullReady reports whether a pull of queue by session would lease an item now, and
// whether the queue is paused.
func (s *State) PullReady(queue string, session uint64) (ready, paused bool, err *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, err := s.queue(queue)
	if err != nil {
		return false, false, err
	}
	return q.Ready(session), q.Paused(), nil
}

// QueueReady reports whether queue has an item any stream without bound groups could
// lease now (false for a queue that does not exist).
func (s *State) QueueReady(queue string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, ok := s.queues[queue]
	return ok && q.Ready(0)
}

// EnqueueFits is what an enqueue of items waiting for room in queue looks at before it
// tries again: whether they fit now (true for a queue that does not exist: the try answers
// that), and the queue's room under its max_size (-1: unlimited; 0 without the queue).
// Items that are duplicates of a unique key in the queue need no room.
func (s *State) EnqueueFits(queue string, items []*pb.InputItem) (fits bool, room int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, ok := s.queues[queue]
	if !ok {
		return true, 0
	}
	room = q.Room()
	return room < 0 || q.Fresh(items) <= room, room
}

// touched is a notifier key to touch after the current Apply, and how many of its line to
// wake (< 0: all).
type touched struct {
	key string
	n   int
}

// touchPullers records an enqueue of items into queue q (before: its levels before): as
// many of its line (waiting pullers) as items became visible wake.
// Items with a key (a group, possibly bound to one stream) mark the queue keyed (see
// wakePullers); delayed items wake no puller: the tick that makes them visible does.
func (s *State) touchPullers(name string, q *queue.Queue, items []*pb.InputItem, before level) {
	for _, it := range items {
		if len(it.GetKey()) > 0 {
			s.keyed[name] = true
			break
		}
	}
	s.wakePullers(name, q, before)
}

// readyCount is the number of q's waiting items that are visible (not delayed), in O(1).
func readyCount(q *queue.Queue) int {
	waiting, _ := q.Counts()
	delayed, _ := q.DelayedActive()
	return int(waiting) - int(delayed)
}

// level is what a change of a queue is measured against: its ready count (readyCount) and
// its room under max_size (queue.Queue.Room; -1: unlimited).
type level struct{ ready, room int }

// levels is q's level now.
func levels(q *queue.Queue) level { return level{ready: readyCount(q), room: q.Room()} }

// wakePullers records a change of queue name (q), whose level was before: as many of its
// line (waiting pullers) as items became visible wake, none while it is paused, and as many
// of its room line (enqueues waiting for room under max_size, RoomKey) as slots were freed.
// A tick, a requeue, a lease that ended, a closed session or an enqueue thus wakes one
// puller per item it made ready, a commit, delete, purge, expiry or resize one enqueue per
// slot it freed, never a whole line. A keyed queue (items with a key may be in it: a group
// bound to one stream can be taken only by that stream, and a commit frees its group) wakes
// the whole line of pullers instead, since not every waiter can take what became ready; it
// is keyed until it is empty.
func (s *State) wakePullers(name string, q *queue.Queue, before level) {
	if freed := roomFreed(before.room, q.Room()); freed != 0 {
		s.touched = append(s.touched, touched{RoomKey(name), freed})
	}
	n := max(readyCount(q)-before.ready, 0)
	if s.keyed[name] {
		if waiting, active := q.Counts(); waiting+active == 0 {
			delete(s.keyed, name)
		} else {
			n = -1
		}
	}
	if q.Paused() {
		n = 0
	}
	if n != 0 {
		s.touched = append(s.touched, touched{QueueKey(name), n})
	}
}

// roomFreed is the number of enqueue waiters to wake when a queue's room went from before
// to after (-1: unlimited): one per slot freed, all of them when the limit went away.
func roomFreed(before, after int) int {
	switch {
	case before < 0:
		return 0 // unlimited before: nobody waits for room
	case after < 0:
		return -1
	}
	return max(after-before, 0)
}

// markKeyed marks queue name keyed when the item it received has a key.
func (s *State) markKeyed(name string, it *raftpb.QueueItem) {
	if len(it.GetKey()) > 0 {
		s.keyed[name] = true
	}
}

// lockTouched is a change of a storage's key for its lock waiters (all: the storage was
// deleted, every lock waiter of it wakes).
type lockTouched struct {
	storage string
	change  kv.Change
	all     bool
}

// watch has st record the changes lock waiters care about while any lock waits. A waiter
// that starts waiting after this looks at the state after this Apply (it takes its place
// first, then reads under the state's lock), so it misses nothing.
func (s *State) watch(st *kv.Storage) { st.Watch(s.notify.LockWaiting()) }

// storageChanged collects what st (storage name) recorded during the last change.
func (s *State) storageChanged(name string, st *kv.Storage) {
	for _, c := range st.TakeChanges() {
		s.lockTouched = append(s.lockTouched, lockTouched{storage: name, change: c})
	}
}

// wakeLocks wakes the lock waiters of the changes of an Apply, after it.
func (s *State) wakeLocks(changes []lockTouched) {
	for _, t := range changes {
		switch {
		case t.all:
			s.notify.WakeStorage(t.storage)
		case t.change.Gone:
			s.notify.WakeKeyGone(t.storage, t.change.Key)
		default:
			s.notify.WakeLock(t.storage, t.change.Key, t.change.ByName, t.change.ByAny)
		}
	}
}

// LockReady reports whether a lock of storage (see kv.Storage.Lockable) could be tried
// now; true for a storage that does not exist (the try answers that).
func (s *State) LockReady(storage string, any bool, key, prefix []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.storages[storage]
	return !ok || st.Lockable(any, key, prefix)
}

// AppliedCommands is the number of commands this replica applied since it started (a
// restored snapshot's not included): what waiting must not drive up.
func (s *State) AppliedCommands() uint64 { return s.commands.Load() }
