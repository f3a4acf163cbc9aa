package queue

import "github.com/google/btree"

// Gauges are a queue's gauges for metrics (Stats, for operators, is an exact full scan).
type Gauges struct {
	// Waiting counts waiting items (visible or delayed) by priority (index); kept up to date
	// by every transition, so it costs nothing to read.
	Waiting []uint32
	// Delayed counts waiting items not yet visible; Active, leased ones.
	Delayed, Active uint32
	// OldestWaiting is the enqueue time (Unix ns) of the oldest waiting item; 0: none
	// waiting, or (OldestKnown false) not looked for: the queue's enqueue times are out of
	// id order (see oldestIndex) and it holds more than UnorderedScanLimit items.
	OldestWaiting int64
	OldestKnown   bool
}

// Gauges returns the queue's gauges: O(priorities), plus finding the oldest waiting item,
// O(log n) and at most one id block's items (see oldestIndex).
func (q *Queue) Gauges() Gauges {
	n := min(int(q.cfg.GetPriorities()), MaxPriorities)
	st := Gauges{Waiting: append([]uint32(nil), q.waitingByPriority[:n]...), Active: uint32(q.leases.len()), Delayed: uint32(q.delayed.len())}
	st.OldestWaiting, st.OldestKnown = q.oldestWaiting()
	return st
}

// UnorderedScanLimit bounds the queues whose oldest waiting item Gauges finds by a pass over
// their items: only a queue whose enqueue times are out of id order needs one (which items
// applied by a server never are: see oldestIndex), and the pass (about 0.1-0.5 µs an item)
// holds the state's read lock, so a larger one reports no oldest item rather than stall
// applies for a scrape.
const UnorderedScanLimit = 100_000

// oldestWaiting is the enqueue time of the oldest waiting item (0: none waits), and false
// when it was not looked for (an unordered queue above UnorderedScanLimit). Readers may call
// it concurrently: it only reads.
func (q *Queue) oldestWaiting() (int64, bool) {
	if q.order.broken {
		if q.items.Len() > UnorderedScanLimit {
			return 0, false
		}
		var at int64
		q.items.Ascend(func(it *item) bool {
			if (it.state == stReady || it.state == stDelayed) && (at == 0 || it.enqueuedAt < at) {
				at = it.enqueuedAt
			}
			return true
		})
		return at, true
	}
	b, ok := q.oldest.order.Min()
	if !ok {
		return 0, true
	}
	// The first waiting item by id is in block b, the first block holding one: at most
	// 1<<waitBlockShift items (active ones) come before it in the block.
	p := readProbes.Get().(*item)
	p.id = b << waitBlockShift
	var at int64
	q.items.AscendGreaterOrEqual(p, func(it *item) bool {
		if it.state == stReady || it.state == stDelayed {
			at = it.enqueuedAt
			return false
		}
		return true
	})
	readProbes.Put(p)
	return at, true
}

// waitBlockShift sets the size of oldestIndex's id blocks: 4096 ids.
const waitBlockShift = 12

// enqueueOrder tells whether enqueue times follow ids in a queue, which lets oldestIndex
// find the oldest waiting item by id.
//
// Ids and enqueue times come in the same order: an item gets the state's next id and the
// log's time (which never runs back) when it is enqueued, keeps both for good (requeues,
// lease ends, dead-lettering, redrive, snapshots and restores carry them along), and ids
// are never reused. So the oldest waiting item is the first waiting one by id. noteOrder
// checks that order as items come in (records of a snapshot not written by a server could
// break it: such a queue falls back to a pass over its items until it is empty again).
type enqueueOrder struct {
	hiID   uint64 // the largest id linked since the queue was last empty
	hiEnq  int64  // the latest enqueue time linked since then
	broken bool   // an item linked since then broke the order of enqueue times by id
}

// oldestIndex finds the first waiting item by id, the oldest one while enqueueOrder holds.
//
// The first waiting item by id: the item tree also holds leased items, often the oldest
// ones (pulls take the lowest ids first), so a walk from its start could pass every leased
// item. Instead waiting items are counted per block of 4096 consecutive ids, and the
// blocks holding some are kept in order: the first of them holds the first waiting item,
// found by a walk over at most that block's items. A transition into or out of waiting
// updates one counter (a map access, none when it is the block of the previous one), the
// block order changes only when a block gains its first or loses its last waiting item.
// Memory: one block (~40 B) per 4096 ids holding a waiting item (ids are the whole state's,
// so a queue gets fewer of them when other queues are busy).
//
// It is the queue's own (not copied on write): Frozen views do not read it.
type oldestIndex struct {
	blocks             map[uint64]*waitBlock // block (id >> waitBlockShift) → its waiting items; only blocks with some
	order              *btree.BTreeG[uint64] // the keys of blocks, in order
	addHint, leaveHint *waitBlock            // the blocks last counted into and out of (nil: none)
}

type waitBlock struct {
	key uint64
	n   uint32
}

func newOldestIndex() oldestIndex {
	return oldestIndex{blocks: map[uint64]*waitBlock{}, order: btree.NewOrderedG[uint64](16)}
}

// add counts a waiting item in.
func (o *oldestIndex) add(id uint64) {
	k := id >> waitBlockShift
	w := o.addHint
	if w == nil || w.key != k {
		if w = o.blocks[k]; w == nil {
			w = &waitBlock{key: k}
			o.blocks[k] = w
			o.order.ReplaceOrInsert(k)
		}
		o.addHint = w
	}
	w.n++
}

// remove counts a waiting item out.
func (o *oldestIndex) remove(id uint64) {
	k := id >> waitBlockShift
	w := o.leaveHint
	if w == nil || w.key != k {
		w = o.blocks[k]
		o.leaveHint = w
	}
	if w.n--; w.n == 0 {
		delete(o.blocks, k)
		o.order.Delete(k)
		if o.addHint == w {
			o.addHint = nil
		}
		o.leaveHint = nil
	}
}

// noteOrder checks that a new item (not yet in items) keeps enqueue times in id order. An
// enqueue (the largest id, the latest time) costs two comparisons; an item linked below the
// largest id (dead-lettered, redriven) or with an earlier time is compared with its
// neighbours by id.
func (q *Queue) noteOrder(it *item) {
	o := &q.order
	if it.id > o.hiID && it.enqueuedAt >= o.hiEnq {
		o.hiID, o.hiEnq = it.id, it.enqueuedAt
		return
	}
	o.hiID, o.hiEnq = max(o.hiID, it.id), max(o.hiEnq, it.enqueuedAt)
	if o.broken {
		return
	}
	q.probe.id = it.id
	q.items.DescendLessOrEqual(&q.probe, func(prev *item) bool {
		o.broken = prev.enqueuedAt > it.enqueuedAt
		return false
	})
	q.items.AscendGreaterOrEqual(&q.probe, func(next *item) bool {
		o.broken = o.broken || next.enqueuedAt < it.enqueuedAt
		return false
	})
}

// DelayedActive returns the delayed and active item counts in O(1).
func (q *Queue) DelayedActive() (delayed, active uint32) {
	return uint32(q.delayed.len()), uint32(q.leases.len())
}
