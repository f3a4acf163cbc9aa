package queue

import (
	"container/heap"
	"slices"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// Operator tools: peek, purge and statistics. They only read the item index (and drop
// items through drop), so they do not depend on how the waiting structures are built.

// Purge removes every waiting item (visible and delayed) and returns how many. Active
// items stay leased to their consumers (who may still commit, requeue or extend them).
// Purged items are not dead-lettered: purging is deliberate.
//
// Cost: expiry holds only waiting items, so it is cleared at once; the other items leave
// their heaps from the last position down, so no removal has to sift (O(1) each, plus a
// group's place when it has a key, and O(log n) in the item tree). The result does not
// depend on that order: every waiting structure ends empty of them.
func (q *Queue) Purge() int {
	q.expiry.Clear(false)
	waiting := make([]*item, 0, q.items.Len()-q.leases.len())
	q.items.Ascend(func(it *item) bool {
		if it.state != stActive {
			waiting = append(waiting, it)
		}
		return true
	})
	slices.SortFunc(waiting, func(a, b *item) int {
		if a.pos != b.pos {
			return int(b.pos) - int(a.pos) // last positions first
		}
		return cmpU64(a.id, b.id)
	})
	for _, it := range waiting {
		q.drop(q.own(it))
	}
	return len(waiting)
}

// Peek returns up to limit (>= 1) waiting items as records without changing anything:
// visible items in delivery order (priority desc, id asc; key-group bindings aside), then,
// with includeDelayed, delayed items by the time they become visible. It stops before the
// item that would take the items' delivery size past maxBytes (the first is always taken;
// 0: no bound). more reports that further items of the kinds asked for exist.
//
// It scans the items once (O(n log limit)): it is an operator's tool, not a data path.
func (q *Queue) Peek(limit int, includeDelayed bool, maxBytes uint64) (recs []*raftpb.QueueItem, more bool) {
	if limit < 1 {
		limit = 1
	}
	h := &peekHeap{}
	eligible := 0
	q.items.Ascend(func(it *item) bool {
		if it.state != stReady && (it.state != stDelayed || !includeDelayed) {
			return true
		}
		eligible++
		if h.Len() < limit {
			heap.Push(h, it)
		} else if peekLess(it, h.s[0]) {
			h.s[0] = it
			heap.Fix(h, 0)
		}
		return true
	})
	picked := slices.Clone(h.s)
	slices.SortFunc(picked, func(a, b *item) int {
		if peekLess(a, b) {
			return -1
		}
		return 1
	})
	var size uint64
	for _, it := range picked {
		n := q.deliverySize(it)
		if maxBytes > 0 && len(recs) > 0 && size+n > maxBytes {
			break
		}
		size += n
		recs = append(recs, q.record(it))
	}
	return recs, eligible > len(recs)
}

// peekLess orders waiting items for Peek: visible before delayed; visible by delivery
// order, delayed by (visible_at, id).
func peekLess(a, b *item) bool {
	if a.state != b.state {
		return a.state == stReady
	}
	if a.state == stReady {
		return readyLess(a, b)
	}
	if ad, bd := a.due(), b.due(); ad != bd {
		return ad < bd
	}
	return a.id < b.id
}

// peekHeap keeps the limit best items with the worst on top.
type peekHeap struct{ s []*item }

func (h *peekHeap) Len() int           { return len(h.s) }
func (h *peekHeap) Less(i, j int) bool { return peekLess(h.s[j], h.s[i]) }
func (h *peekHeap) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *peekHeap) Push(x any)         { h.s = append(h.s, x.(*item)) }
func (h *peekHeap) Pop() any {
	it := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return it
}

// Stats is a queue's depth broken down.
type Stats struct {
	VisibleByPriority []uint32 // index: priority
	Delayed, Active   uint32
	OldestEnqueuedAt  int64 // of the waiting items (Unix ns); 0 when none waits
}

// Stats counts the waiting items per priority, the delayed and active ones, and finds the
// oldest waiting item. One scan of the items.
func (q *Queue) Stats() Stats {
	st := Stats{VisibleByPriority: make([]uint32, q.cfg.Priorities)}
	q.items.Ascend(func(it *item) bool {
		switch it.state {
		case stActive:
			st.Active++
			return true
		case stDelayed:
			st.Delayed++
		default:
			st.VisibleByPriority[it.priority]++
		}
		if st.OldestEnqueuedAt == 0 || it.enqueuedAt < st.OldestEnqueuedAt {
			st.OldestEnqueuedAt = it.enqueuedAt
		}
		return true
	})
	return st
}

// Waiting reports whether id is a waiting (visible or delayed) item of the queue.
func (q *Queue) Waiting(id uint64) bool {
	it := q.find(id)
	return it != nil && it.state != stActive
}

// Room is how many more items fit under max_size (-1: unlimited).
func (q *Queue) Room() int {
	if q.cfg.MaxSize == 0 {
		return -1
	}
	return max(int(q.cfg.MaxSize)-q.items.Len(), 0)
}
