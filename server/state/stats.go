package state

import "github.com/clbs-io/octopusmq/server/state/queue"

// QueueGauges returns the metrics gauges (queue.Gauges) of the named queues that exist;
// callers name a bounded number of them (each costs O(priorities + log n): queue.Gauges).
func (s *State) QueueGauges(names []string) map[string]queue.Gauges {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]queue.Gauges, len(names))
	for _, n := range names {
		if q, ok := s.queues[n]; ok {
			out[n] = q.Gauges()
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
