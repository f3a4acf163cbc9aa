package state

import (
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// Waiters' reads: the leader answers a pull that would lease nothing from its own state
// and waits without writing to the log; a change wakes only as many waiting pullers as it
// made items visible (see Notifier.HoldOne).

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

// touched is a notifier key to touch after the current Apply, and how many of its line to
// wake (< 0: all).
type touched struct {
	key string
	n   int
}

// touchPullers records an enqueue of items into queue: its Holds wake, and as many of its
// line (waiting pullers) as items were added. Items with a key (a group, possibly bound
// to one stream) wake every waiter, since not every waiter can take them; delayed items
// wake waiters that find nothing yet, and the tick that makes them visible wakes all.
// Waking too many costs only a look at the leader's state.
func (s *State) touchPullers(queue string, items []*pb.InputItem) {
	n := len(items)
	for _, it := range items {
		if len(it.GetKey()) > 0 {
			n = -1
			break
		}
	}
	s.touched = append(s.touched, touched{QueueKey(queue), n})
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
