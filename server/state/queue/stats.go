package queue

// OldestScanLimit bounds the queues whose oldest waiting item Gauges looks for: finding it
// is a pass over the queue's items (about 0.1-0.5 µs each), taken under the state's read
// lock, so a larger queue reports no oldest item rather than stall applies for a scrape.
const OldestScanLimit = 100_000

// Gauges are a queue's gauges for metrics (Stats, for operators, is an exact full scan).
type Gauges struct {
	// Waiting counts waiting items (visible or delayed) by priority (index); kept up to date
	// by every transition, so it costs nothing to read.
	Waiting []uint32
	// Delayed counts waiting items not yet visible; Active, leased ones.
	Delayed, Active uint32
	// OldestWaiting is the enqueue time (Unix ns) of the oldest waiting item; 0: none
	// waiting, or (OldestKnown false) the queue holds more than OldestScanLimit items.
	OldestWaiting int64
	OldestKnown   bool
}

// Gauges returns the queue's gauges: O(priorities), plus a pass over its items for the
// oldest waiting one when it holds at most OldestScanLimit items.
func (q *Queue) Gauges() Gauges {
	n := min(int(q.cfg.GetPriorities()), MaxPriorities)
	st := Gauges{Waiting: append([]uint32(nil), q.waitingByPriority[:n]...), Active: uint32(q.leases.len()), Delayed: uint32(q.delayed.len())}
	if q.items.Len() > OldestScanLimit {
		return st
	}
	st.OldestKnown = true
	q.items.Ascend(func(it *item) bool {
		if (it.state == stReady || it.state == stDelayed) && (st.OldestWaiting == 0 || it.enqueuedAt < st.OldestWaiting) {
			st.OldestWaiting = it.enqueuedAt
		}
		return true
	})
	return st
}

// DelayedActive returns the delayed and active item counts in O(1).
func (q *Queue) DelayedActive() (delayed, active uint32) {
	return uint32(q.delayed.len()), uint32(q.leases.len())
}
