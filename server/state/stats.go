package state

import "github.com/clbs-io/octopusmq/server/state/queue"

// QueueStats returns the gauges (queue.Stats) of the named queues that exist; each costs a
// pass over that queue's items, so callers name a bounded number of them.
func (s *State) QueueStats(names []string) map[string]queue.Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]queue.Stats, len(names))
	for _, n := range names {
		if q, ok := s.queues[n]; ok {
			out[n] = q.Stats()
		}
	}
	return out
}

// QueueTotals are counts over every queue, each O(1) per queue.
type QueueTotals struct{ Delayed, Active uint64 }

// QueueTotals sums the delayed and active items of every queue.
func (s *State) QueueTotals() QueueTotals {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var t QueueTotals
	for _, q := range s.queues {
		d, a := q.DelayedActive()
		t.Delayed += uint64(d)
		t.Active += uint64(a)
	}
	return t
}
