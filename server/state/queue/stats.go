package queue

// Stats are a queue's gauges for metrics, taken by one pass over its items.
type Stats struct {
	// Waiting counts waiting items (visible or delayed) by priority (index).
	Waiting []uint32
	// Delayed counts waiting items not yet visible; Active, leased ones.
	Delayed, Active uint32
	// OldestWaiting is the enqueue time (Unix ns) of the oldest waiting item; 0: none.
	OldestWaiting int64
}

// Stats counts the queue's items. It is O(items): callers take it for a bounded number of
// queues (metrics: the largest ones), not on every command.
func (q *Queue) Stats() Stats {
	st := Stats{Waiting: make([]uint32, q.cfg.GetPriorities()), Active: uint32(q.leases.len()), Delayed: uint32(q.delayed.len())}
	for _, it := range q.items {
		if it.state != stReady && it.state != stDelayed {
			continue
		}
		if int(it.priority) < len(st.Waiting) {
			st.Waiting[it.priority]++
		}
		if st.OldestWaiting == 0 || it.enqueuedAt < st.OldestWaiting {
			st.OldestWaiting = it.enqueuedAt
		}
	}
	return st
}

// DelayedActive returns the delayed and active item counts in O(1).
func (q *Queue) DelayedActive() (delayed, active uint32) {
	return uint32(q.delayed.len()), uint32(q.leases.len())
}
