// Package queue is the priority-queue engine that runs inside the Raft state machine.
//
// It is deterministic: no clocks, no randomness, no I/O. Time comes in as the `now`
// argument (Unix nanoseconds from the Raft log) and ids from the caller's IDs source.
// It is not safe for concurrent use; the state package serialises access.
package queue

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/google/btree"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// DefaultLease is the lease of a queue created without one.
const DefaultLease = 60 * time.Second

// MaxPriorities is the most priority levels a queue can have (and the default).
const MaxPriorities = 32

// IDs hands out cluster-wide ids, increasing, never reused (the state's counter).
type IDs interface{ NextID() uint64 }

// Delivery is one pulled item. Item.Value is stored bytes: compressed when Compressed.
// Item.Value shares the queue's copy of the bytes: callers must not modify it.
type Delivery struct {
	Item       *pb.Item
	Compressed bool
}

// Queue is one queue's items and settings.
//
// Time: every method taking now expects that Advance(now) has already run for that now
// (the state package advances every due queue at the start of each log entry). Pull
// relies on it: it does not look at ttls or delays itself, so an item whose ttl ran out
// or whose delay has not yet been moved to the visible set by Advance is handled only by
// Advance.
//
// Items are in one of three states: delayed (waiting, not yet visible), ready (waiting,
// visible) and active (pulled, leased to a session). Session 0 (pulls without a stream,
// e.g. REST) is treated as a session like any other: its pulls bind key groups to
// "session 0" until session 0 holds no active item of the group.
//
// Values (InputItem.Value, QueueItem.Value) are kept without copying: the queue takes
// ownership of the byte slices handed to it, and slices it returns share its copy.
//
// Data structures (n items, all operations O(log n)):
//   - items: every item by id (a copy-on-write B-tree, see Freeze); uniq: unique_key →
//     item; groupsByKey: key → group.
//   - ready: ungrouped visible items by (priority desc, id asc).
//   - each group: its visible items in the same order; a group with visible items is
//     in groups (unbound groups, ordered by their best item) or in its session's bound
//     heap (groups bound to that session, same order), never both.
//   - delayed: delayed items by (visible_at, id); leases: active items by
//     (lease_until, id); expiry: waiting items with a ttl by (expires_at, id).
type Queue struct {
	cfg     *pb.CreateQueueRequest
	paused  bool
	leaseNs int64

	items       *btree.BTreeG[*item] // by id
	gen         uint32               // items of an older gen may be read by a Frozen view (one per Freeze: 2^32 snapshots before a wrap)
	order       enqueueOrder         // whether enqueue times follow ids (stats.go); beside items, read by every link
	probe       item                 // the key of write-path lookups in items
	uniq        map[string]*item
	groupsByKey map[string]*group
	sessions    map[uint64]*session

	ready   itemHeap              // ungrouped ready items
	groups  groupHeap             // unbound groups with ready items
	delayed itemHeap              // delayed items by visible_at
	leases  itemHeap              // active items by lease_until
	expiry  *btree.BTreeG[dueKey] // waiting items with a ttl by (expires_at, id)

	waitingByPriority [MaxPriorities]uint32 // waiting items (ready or delayed) per priority, for Stats
	oldest            oldestIndex           // finds the oldest waiting item for Gauges (stats.go)
}

type itemState uint8

const (
	stNone    itemState = iota // in no state structure (being moved or removed)
	stDelayed                  // waiting, in delayed
	stReady                    // waiting, in ready or its group's ready
	stActive                   // leased, in leases
)

// item is one queue item; 64 bytes (a size class of its own, checked by a test).
//
// What every waiting item needs is in the item itself; the fields most items leave zero
// (the due time of a delayed or active item, the ttl's end, the holder, the unique key)
// are in x, nil when all are zero. The value is a pointer and a length rather than a
// slice (a value's capacity is never used).
//
// An item whose gen is older than its queue's may be shared with a Frozen view: it is
// replaced by a copy (own) before any field but pos changes (pos, which only the queue's
// own heaps read, is the only field of its 8-byte word that a view does not read either).
// Its x is then shared by both copies: it is copied too before a change (Queue.x).
type item struct {
	id         uint64
	enqueuedAt int64
	val        *byte    // the value's first byte (nil when empty): see value
	grp        *group   // nil: no key
	x          *itemExt // nil: every field of itemExt is zero
	vlen       uint32   // the value's length
	pos        int32    // position in ready / group ready / delayed / leases
	deliveries uint32
	gen        uint32
	priority   uint8
	state      itemState
	compressed bool
}

// itemExt is the part of an item most items do not need. One of an older gen than its
// queue's may be shared with a Frozen view (through an item and its copy): Queue.x copies it
// before a change.
type itemExt struct {
	due       int64 // delayed: visible_at; active: lease_until; else 0
	expiresAt int64 // 0: never
	holder    uint64
	ukey      string // "": none
	gen       uint32
}

func (it *item) value() []byte {
	if it.val == nil {
		return nil
	}
	return unsafe.Slice(it.val, it.vlen)
}

// setValue keeps v's bytes (not a copy) as the item's value. Values are far below 4 GiB
// (an item travels in one Raft entry).
func (it *item) setValue(v []byte) {
	if len(v) == 0 {
		it.val, it.vlen = nil, 0
		return
	}
	it.val, it.vlen = unsafe.SliceData(v), uint32(len(v))
}

func (it *item) due() int64 {
	if it.x == nil {
		return 0
	}
	return it.x.due
}

func (it *item) expiresAt() int64 {
	if it.x == nil {
		return 0
	}
	return it.x.expiresAt
}

func (it *item) holder() uint64 {
	if it.x == nil {
		return 0
	}
	return it.x.holder
}

func (it *item) ukey() string {
	if it.x == nil {
		return ""
	}
	return it.x.ukey
}

// x returns an item's rarely used fields ready to be changed: new ones when it has none,
// or a copy when a Frozen view may read them (their gen is older than the queue's). it
// must be owned (own). After the change, trimX drops them if they became all zero.
func (q *Queue) x(it *item) *itemExt {
	switch {
	case it.x == nil:
		it.x = &itemExt{gen: q.gen}
	case it.x.gen != q.gen:
		c := *it.x
		c.gen = q.gen
		it.x = &c
	}
	return it.x
}

// trimX drops an item's rarely used fields when all are zero.
func trimX(it *item) {
	if x := it.x; x != nil && x.due == 0 && x.expiresAt == 0 && x.holder == 0 && x.ukey == "" {
		it.x = nil
	}
}

// itemsDegree is the degree of the items B-tree.
const itemsDegree = 32

func itemLess(a, b *item) bool { return a.id < b.id }

// dueKey is an item's place in expiry: (expires_at, id).
type dueKey struct {
	at int64
	id uint64
}

func dueLess(a, b dueKey) bool { return a.at < b.at || (a.at == b.at && a.id < b.id) }

// group is the items sharing one non-empty key.
type group struct {
	key    string
	ready  itemHeap   // the group's ready items
	in     *groupHeap // groups or a session's bound heap; nil when no ready items
	holder uint64     // session bound to while active > 0
	active uint32     // active items (all held by holder)
	n      uint32     // items of any state
	pos    int32      // position in in
}

// session is a pulling session that holds active items.
type session struct {
	active map[uint64]*item
	bound  groupHeap // groups bound to the session that have ready items
}

// New returns an empty queue. cfg is validated by the caller; New applies defaults
// (priorities 0 → 32, lease nil/0 → DefaultLease) and keeps its own copy.
func New(cfg *pb.CreateQueueRequest) *Queue {
	c := &pb.CreateQueueRequest{}
	if cfg != nil {
		c = proto.Clone(cfg).(*pb.CreateQueueRequest)
	}
	if c.Priorities == 0 || c.Priorities > MaxPriorities {
		c.Priorities = MaxPriorities
	}
	lease := c.GetLease().AsDuration()
	if c.Lease == nil || lease <= 0 {
		lease = DefaultLease
		c.Lease = durationpb.New(lease)
	}
	return &Queue{
		cfg:         c,
		leaseNs:     int64(lease),
		gen:         1,
		items:       btree.NewG(itemsDegree, itemLess),
		uniq:        map[string]*item{},
		groupsByKey: map[string]*group{},
		sessions:    map[uint64]*session{},
		ready:       itemHeap{kind: byReady},
		delayed:     itemHeap{kind: byDue},
		leases:      itemHeap{kind: byDue},
		expiry:      btree.NewG(itemsDegree, dueLess),
		order:       enqueueOrder{hiEnq: math.MinInt64},
		oldest:      newOldestIndex(),
	}
}

// Config returns the queue's settings (with defaults applied). Callers must not modify it.
func (q *Queue) Config() *pb.CreateQueueRequest { return q.cfg }

// Paused reports whether pulls are paused.
func (q *Queue) Paused() bool { return q.paused }

// SetPaused pauses or resumes pulls.
func (q *Queue) SetPaused(p bool) { q.paused = p }

// Resize sets max_size (0 = unlimited); below the current count (waiting + active) it fails
// with apierr.Precondition naming the count.
func (q *Queue) Resize(maxSize uint32) *apierr.Error {
	if n := q.items.Len(); maxSize != 0 && n > int(maxSize) {
		return apierr.Precondition("queue %q holds %d items, more than max_size %d", q.cfg.QueueName, n, maxSize)
	}
	q.cfg.MaxSize = maxSize
	return nil
}

// Counts returns the waiting (visible or delayed) and active item counts.
func (q *Queue) Counts() (waiting, active uint32) {
	a := q.leases.len()
	return uint32(q.items.Len() - a), uint32(a)
}

// Fresh is the number of items an Enqueue of items would add, so the room it needs: the
// items whose unique key is neither in the queue nor on an earlier item of the batch.
func (q *Queue) Fresh(items []*pb.InputItem) int {
	fresh := 0
	var seen map[string]bool
	for _, in := range items {
		if uk := in.GetUniqueKey(); len(uk) > 0 {
			if _, ok := q.uniq[string(uk)]; ok || seen[string(uk)] {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[string(uk)] = true
		}
		fresh++
	}
	return fresh
}

// Enqueue adds items all-or-nothing. ids[i] is the new (or, for a unique_key already in the
// queue, the existing) id of items[i] and dup[i] says which. Errors: INVALID_ARGUMENT for a
// priority out of range; QUEUE_FULL when the new items do not fit under max_size.
//
// Also INVALID_ARGUMENT: a negative or malformed ttl or delay. Values are stored as given
// (already compressed by the caller when Compress is set).
func (q *Queue) Enqueue(now int64, items []*pb.InputItem, ids IDs) (out []uint64, dup []bool, err *apierr.Error) {
	out, dup = make([]uint64, len(items)), make([]bool, len(items))
	if err := q.EnqueueInto(now, items, ids, out, dup); err != nil {
		return nil, nil, err
	}
	return out, dup, nil
}

// EnqueueInto is Enqueue writing the ids and duplicate flags into out and dup, which have
// len(items) elements each (what they hold after an error is undefined).
func (q *Queue) EnqueueInto(now int64, items []*pb.InputItem, ids IDs, out []uint64, dup []bool) *apierr.Error {
	type plan struct {
		ttl, delay int64
		first      int // batch index of the first item with the same unique key, -1 if none
	}
	var few [4]plan // most enqueues carry one item: no allocation for their plan
	var plans []plan
	if len(items) <= len(few) {
		plans = few[:len(items)]
	} else {
		plans = make([]plan, len(items))
	}
	var batchKeys map[string]int
	fresh := 0
	for i, in := range items {
		if p := in.GetPriority(); p >= q.cfg.Priorities {
			return apierr.InvalidArgument("items[%d].priority %d is out of range: the queue's priorities are 0..%d", i, p, q.cfg.Priorities-1)
		}
		ttl, e := durNs(in.GetTtl())
		if e != nil {
			return apierr.InvalidArgument("items[%d].ttl: %v", i, e)
		}
		delay, e := durNs(in.GetDelay())
		if e != nil {
			return apierr.InvalidArgument("items[%d].delay: %v", i, e)
		}
		plans[i] = plan{ttl: ttl, delay: delay, first: -1}
		if uk := in.GetUniqueKey(); len(uk) > 0 {
			if _, ok := q.uniq[string(uk)]; ok {
				continue
			}
			if j, ok := batchKeys[string(uk)]; ok {
				plans[i].first = j
				continue
			}
			if batchKeys == nil {
				batchKeys = map[string]int{}
			}
			batchKeys[string(uk)] = i
		}
		fresh++
	}
	if max := q.cfg.MaxSize; max != 0 && fresh > 0 && q.items.Len()+fresh > int(max) {
		return apierr.New(pb.StatusCode_STATUS_CODE_QUEUE_FULL,
			"queue %q is full: it holds %d of max_size %d items, %d more do not fit", q.cfg.QueueName, q.items.Len(), max, fresh)
	}
	for i, in := range items {
		p := plans[i]
		if p.first >= 0 {
			out[i], dup[i] = out[p.first], true
			continue
		}
		var uk string
		if b := in.GetUniqueKey(); len(b) > 0 {
			if old, ok := q.uniq[string(b)]; ok {
				out[i], dup[i] = old.id, true
				continue
			}
			uk = string(b)
		}
		it := &item{
			id:         ids.NextID(),
			enqueuedAt: now,
			priority:   uint8(in.GetPriority()),
			compressed: in.GetCompress(),
			pos:        -1,
			gen:        q.gen,
		}
		it.setValue(in.GetValue())
		if uk != "" || p.ttl > 0 {
			x := q.x(it)
			x.ukey = uk
			if p.ttl > 0 {
				x.expiresAt = addSat(now, p.ttl)
			}
		}
		q.link(it, in.GetKey())
		var visibleAt int64
		if p.delay > 0 {
			visibleAt = addSat(now, p.delay)
		}
		q.toWaiting(now, it, visibleAt)
		out[i] = it.id
	}
	return nil
}

// Pull activates up to max (>= 1) visible items for session (0: no stream) and leases them
// until now + lease. Bound groups of session first, then (priority desc, id asc). A paused
// queue returns nothing.
func (q *Queue) Pull(now int64, session uint64, max int) []Delivery {
	return q.PullWithin(now, session, max, 0)
}

// PullWithin is Pull that also stops before the item that would take the items' size
// (DeliverySize each) past maxBytes, so it never leases what one answer cannot carry. The
// first item is always taken; maxBytes 0 means no bound.
func (q *Queue) PullWithin(now int64, session uint64, max int, maxBytes uint64) []Delivery {
	if q.paused {
		return nil
	}
	if max < 1 {
		max = 1
	}
	var out []Delivery
	var size uint64
	for len(out) < max {
		it := q.next(session)
		if it == nil {
			break
		}
		n := q.deliverySize(it)
		if maxBytes > 0 && len(out) > 0 && size+n > maxBytes {
			break
		}
		size += n
		it = q.own(it)
		q.activate(now, it, session)
		if out == nil {
			out = make([]Delivery, 0, min(max, q.items.Len()))
		}
		out = append(out, Delivery{Item: &pb.Item{
			Id:            it.id,
			Priority:      uint32(it.priority),
			Key:           keyBytes(it),
			UniqueKey:     ukeyBytes(it),
			Value:         it.value(),
			DeliveryCount: it.deliveries,
			EnqueuedAt:    timestamppb.New(time.Unix(0, it.enqueuedAt)),
		}, Compressed: it.compressed})
	}
	return out
}

// Commit removes an active item. ITEM_NOT_FOUND when unknown, ITEM_NOT_BUSY when waiting.
func (q *Queue) Commit(now int64, id uint64) *apierr.Error {
	it, err := q.activeItem(id)
	if err != nil {
		return err
	}
	q.drop(it)
	return nil
}

// Requeue returns an active item to waiting (delivery_count + 1) with the new ttl, priority
// and delay where given. When delivery_count reaches max_deliveries the item is removed and
// returned as dead instead.
//
// Errors: ITEM_NOT_FOUND, ITEM_NOT_BUSY as for Commit; INVALID_ARGUMENT for a priority out
// of range or a negative ttl or delay (the item is then left as it was).
func (q *Queue) Requeue(now int64, r *pb.RequeueItem) (dead *raftpb.QueueItem, err *apierr.Error) {
	it, err := q.activeItem(r.GetId())
	if err != nil {
		return nil, err
	}
	if r.Priority != nil && r.GetPriority() >= q.cfg.Priorities {
		return nil, apierr.InvalidArgument("priority %d is out of range: the queue's priorities are 0..%d", r.GetPriority(), q.cfg.Priorities-1)
	}
	ttl, e := durNs(r.GetTtl())
	if e != nil {
		return nil, apierr.InvalidArgument("ttl: %v", e)
	}
	delay, e := durNs(r.GetDelay())
	if e != nil {
		return nil, apierr.InvalidArgument("delay: %v", e)
	}
	q.release(it)
	it.deliveries++
	if r.Priority != nil {
		it.priority = uint8(r.GetPriority())
	}
	if q.cfg.MaxDeliveries > 0 && it.deliveries >= q.cfg.MaxDeliveries {
		rec := q.record(it)
		q.drop(it)
		return rec, nil
	}
	if ttl > 0 {
		q.x(it).expiresAt = addSat(now, ttl)
	} else if it.expiresAt() != 0 {
		q.x(it).expiresAt = 0
	}
	var visibleAt int64
	if delay > 0 {
		visibleAt = addSat(now, delay)
	}
	q.toWaiting(now, it, visibleAt)
	return nil, nil
}

// Delete removes a waiting or active item. ITEM_NOT_FOUND when unknown.
func (q *Queue) Delete(now int64, id uint64) *apierr.Error {
	it := q.lookup(id)
	if it == nil {
		return notFound(id)
	}
	q.drop(q.own(it))
	return nil
}

// Extend sets an active item's lease end to now + lease (lease <= 0: the queue's lease).
// ITEM_NOT_FOUND when unknown, ITEM_NOT_BUSY when waiting.
func (q *Queue) Extend(now int64, id uint64, lease time.Duration) *apierr.Error {
	it, err := q.activeItem(id)
	if err != nil {
		return err
	}
	if lease <= 0 {
		lease = time.Duration(q.leaseNs)
	}
	q.x(it).due = addSat(now, int64(lease))
	q.leases.fix(it)
	return nil
}

// CloseSession returns session's active items to waiting (delivery_count + 1) and ends its
// group bindings. Items reaching max_deliveries are removed and returned as dead.
// Items whose ttl has passed are removed and returned as dead too.
func (q *Queue) CloseSession(now int64, session uint64) (dead []*raftpb.QueueItem) {
	s := q.sessions[session]
	if s == nil {
		return nil
	}
	held := make([]*item, 0, len(s.active))
	for _, it := range s.active {
		held = append(held, it)
	}
	slices.SortFunc(held, func(a, b *item) int { return cmpU64(a.id, b.id) })
	for _, it := range held {
		if rec := q.endLease(now, q.own(q.lookup(it.id))); rec != nil {
			dead = append(dead, rec)
		}
	}
	return dead
}

// Advance fires every deadline <= now: delayed items become visible, waiting items past
// their ttl are removed (returned as dead), leases that ran out return items to waiting
// (delivery_count + 1; dead at max_deliveries).
//
// Dead items come first from leases (by lease end, id), then from ttls (by expiry, id).
// An item whose lease ends after its ttl has passed is dead too.
func (q *Queue) Advance(now int64) (dead []*raftpb.QueueItem) {
	for it := q.leases.min(); it != nil && it.due() <= now; it = q.leases.min() {
		if rec := q.endLease(now, q.own(it)); rec != nil {
			dead = append(dead, rec)
		}
	}
	for k, ok := q.expiry.Min(); ok && k.at <= now; k, ok = q.expiry.Min() {
		it := q.own(q.lookup(k.id))
		dead = append(dead, q.record(it))
		q.drop(it)
	}
	for it := q.delayed.min(); it != nil && it.due() <= now; it = q.delayed.min() {
		it = q.own(it)
		q.delayed.remove(it)
		it.state = stNone
		q.leaveWaiting(it)
		q.toWaiting(now, it, 0)
	}
	return dead
}

// NextDeadline is the earliest pending deadline (Unix ns), 0 when none.
func (q *Queue) NextDeadline() int64 {
	var next int64
	if it := q.leases.min(); it != nil {
		next = it.due()
	}
	if it := q.delayed.min(); it != nil && (next == 0 || it.due() < next) {
		next = it.due()
	}
	if k, ok := q.expiry.Min(); ok && (next == 0 || k.at < next) {
		next = k.at
	}
	return next
}

// AddDead inserts an item dead-lettered from another queue: waiting, visible at once, no
// ttl, keeping its id, value, key and delivery count. It ignores max_size, and its
// unique_key is kept only if no other item here holds it.
//
// It also keeps the priority, lowered to the highest of this queue when out of its range.
// An id already in the queue is ignored.
func (q *Queue) AddDead(now int64, item *raftpb.QueueItem) {
	if item == nil || q.lookup(item.GetId()) != nil {
		return
	}
	it := q.fromRecord(item)
	q.toWaiting(now, it, 0)
}

// Snapshot emits every item (waiting and active) in id order.
//
// Records carry visible_at only for delayed items (0: visible) and holder and lease_until
// only for active ones.
func (q *Queue) Snapshot(emit func(*raftpb.QueueItem) error) error {
	return q.Freeze().Snapshot(emit)
}

// Restore inserts an item emitted by Snapshot (bindings and indexes are rebuilt).
//
// An active item binds its group to its holder (snapshots of this package never hold one
// group's active items under two sessions; if one does, the first holder restored wins).
// A waiting item with visible_at != 0 is delayed until the next Advance at or past it.
// An id already in the queue is ignored.
func (q *Queue) Restore(item *raftpb.QueueItem) {
	if item == nil || q.lookup(item.GetId()) != nil {
		return
	}
	it := q.fromRecord(item)
	if e := item.GetExpiresAt(); e != 0 {
		q.x(it).expiresAt = e
	}
	if !item.GetActive() {
		q.toWaiting(0, it, item.GetVisibleAt()) // visible_at > 0: delayed
		return
	}
	it.state = stActive
	x := q.x(it)
	x.holder = item.GetHolder()
	x.due = item.GetLeaseUntil()
	trimX(it)
	q.leases.push(it)
	s := q.session(x.holder)
	s.active[it.id] = it
	if g := it.grp; g != nil {
		if g.active == 0 {
			g.holder = x.holder
		}
		g.active++
		q.place(g)
	}
}

// Get returns the item id as a snapshot record (nil when unknown), for inspection.
//
// Get changes nothing and may run concurrently with other readers.
func (q *Queue) Get(id uint64) *raftpb.QueueItem {
	if it := q.find(id); it != nil {
		return q.record(it)
	}
	return nil
}

// find is the item with id, nil when unknown. Unlike lookup, readers may call it
// concurrently.
func (q *Queue) find(id uint64) *item {
	p := readProbes.Get().(*item)
	p.id = id
	it, _ := q.items.Get(p)
	readProbes.Put(p)
	return it
}

// readProbes are lookup keys for readers, who run concurrently (a key passed to the
// B-tree escapes: a fresh one per read would allocate).
var readProbes = sync.Pool{New: func() any { return new(item) }}

// ---- internals ----

func notFound(id uint64) *apierr.Error { return apierr.ItemNotFound("item %d not found", id) }

// activeItem looks up an item that must be active.
// It returns the item ready to be changed (own).
func (q *Queue) activeItem(id uint64) (*item, *apierr.Error) {
	it := q.lookup(id)
	if it == nil {
		return nil, notFound(id)
	}
	if it.state != stActive {
		return nil, apierr.New(pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "item %d is not active", id)
	}
	return q.own(it), nil
}

// lookup is the item with id, nil when unknown. It uses q.probe: write paths only.
func (q *Queue) lookup(id uint64) *item {
	q.probe.id = id
	it, _ := q.items.Get(&q.probe)
	return it
}

// own returns it ready to be changed: it itself, or, when a Frozen view may read it (its
// gen is older than the queue's), a copy that takes its place in every index.
func (q *Queue) own(it *item) *item {
	if it.gen == q.gen {
		return it
	}
	c := new(item)
	*c = *it
	c.gen = q.gen
	q.items.ReplaceOrInsert(c)
	switch it.state {
	case stReady:
		if g := it.grp; g != nil {
			g.ready.s[it.pos] = c
		} else {
			q.ready.s[it.pos] = c
		}
	case stDelayed:
		q.delayed.s[it.pos] = c
	case stActive:
		q.leases.s[it.pos] = c
		q.sessions[it.holder()].active[it.id] = c
	}
	if uk := it.ukey(); uk != "" {
		q.uniq[uk] = c
	}
	return c
}

// fromRecord builds an item (in no state yet) from a record and links it into the item,
// unique-key and group indexes. Its ttl is not set.
func (q *Queue) fromRecord(r *raftpb.QueueItem) *item {
	p := r.GetPriority()
	if p >= q.cfg.Priorities {
		p = q.cfg.Priorities - 1
	}
	it := &item{
		id:         r.GetId(),
		enqueuedAt: r.GetEnqueuedAt(),
		deliveries: r.GetDeliveryCount(),
		priority:   uint8(p),
		compressed: r.GetCompressed(),
		pos:        -1,
		gen:        q.gen,
	}
	it.setValue(r.GetValue())
	if uk := r.GetUniqueKey(); len(uk) > 0 {
		if _, taken := q.uniq[string(uk)]; !taken {
			q.x(it).ukey = string(uk)
		}
	}
	q.link(it, r.GetKey())
	return it
}

// link adds a new item to the id, unique-key and group indexes.
func (q *Queue) link(it *item, key []byte) {
	q.noteOrder(it)
	q.items.ReplaceOrInsert(it)
	if uk := it.ukey(); uk != "" {
		q.uniq[uk] = it
	}
	if len(key) > 0 {
		g := q.groupsByKey[string(key)]
		if g == nil {
			g = &group{key: string(key), ready: itemHeap{kind: byReady}, pos: -1}
			q.groupsByKey[g.key] = g
		}
		g.n++
		it.grp = g
	}
}

// toWaiting puts an item in no state into waiting: delayed until visibleAt when that is
// after now, else ready. A ttl puts it in expiry (where a delayed item already is).
func (q *Queue) toWaiting(now int64, it *item, visibleAt int64) {
	q.waitingByPriority[it.priority]++
	q.oldest.add(it.id)
	if visibleAt > now {
		it.state = stDelayed
		q.x(it).due = visibleAt
		q.delayed.push(it)
	} else {
		it.state = stReady
		if it.due() != 0 {
			q.x(it).due = 0
		}
		trimX(it) // also after a requeue that cleared the ttl
		if g := it.grp; g != nil {
			g.ready.push(it)
			q.place(g)
		} else {
			q.ready.push(it)
		}
	}
	if e := it.expiresAt(); e != 0 {
		q.expiry.ReplaceOrInsert(dueKey{e, it.id})
	}
}

// leaveWaiting counts an item out of waiting (toWaiting counts it in).
func (q *Queue) leaveWaiting(it *item) {
	q.waitingByPriority[it.priority]--
	q.oldest.remove(it.id)
}

// place puts a group in the heap it belongs to: none without ready items, its session's
// bound heap while bound, else the unbound groups; and fixes its position there.
func (q *Queue) place(g *group) {
	var want *groupHeap
	if g.ready.len() > 0 {
		want = &q.groups
		if g.active > 0 {
			if s := q.sessions[g.holder]; s != nil {
				want = &s.bound
			}
		}
	}
	if g.in != want {
		if g.in != nil {
			g.in.remove(g)
		}
		g.in = want
		if want != nil {
			want.push(g)
		}
	} else if want != nil {
		want.fix(g)
	}
}

// next is the item session would be given next: its bound groups' best, else the best
// ungrouped item or unbound group head.
func (q *Queue) next(session uint64) *item {
	if s := q.sessions[session]; s != nil && s.bound.len() > 0 {
		return s.bound.s[0].ready.s[0]
	}
	best := q.ready.min()
	if q.groups.len() > 0 {
		if h := q.groups.s[0].ready.s[0]; best == nil || readyLess(h, best) {
			best = h
		}
	}
	return best
}

func (q *Queue) session(id uint64) *session {
	s := q.sessions[id]
	if s == nil {
		s = &session{active: map[uint64]*item{}}
		q.sessions[id] = s
	}
	return s
}

// activate leases a ready item to session.
func (q *Queue) activate(now int64, it *item, sess uint64) {
	g := it.grp
	if g != nil {
		g.ready.remove(it)
	} else {
		q.ready.remove(it)
	}
	if e := it.expiresAt(); e != 0 {
		q.expiry.Delete(dueKey{e, it.id})
	}
	q.leaveWaiting(it)
	it.state = stActive
	x := q.x(it)
	x.holder = sess
	x.due = addSat(now, q.leaseNs)
	trimX(it)
	q.leases.push(it)
	s := q.session(sess)
	s.active[it.id] = it
	if g != nil {
		if g.active == 0 {
			g.holder = sess
		}
		g.active++
		q.place(g)
	}
}

// release takes an active item out of active (to no state), ending its group's binding
// when it was the group's last active item.
func (q *Queue) release(it *item) {
	q.leases.remove(it)
	it.state = stNone
	holder := it.holder()
	if it.x != nil {
		x := q.x(it)
		x.due, x.holder = 0, 0
		trimX(it)
	}
	s := q.sessions[holder]
	delete(s.active, it.id)
	if g := it.grp; g != nil {
		g.active--
		if g.active == 0 {
			g.holder = 0
		}
		q.place(g)
	}
	if len(s.active) == 0 {
		delete(q.sessions, holder)
	}
}

// endLease ends an active item's delivery without commit (lease end or session close):
// back to waiting with delivery_count + 1, or removed and returned when it reached
// max_deliveries or its ttl has passed.
func (q *Queue) endLease(now int64, it *item) *raftpb.QueueItem {
	q.release(it)
	it.deliveries++
	if (q.cfg.MaxDeliveries > 0 && it.deliveries >= q.cfg.MaxDeliveries) || (it.expiresAt() != 0 && it.expiresAt() <= now) {
		rec := q.record(it)
		q.drop(it)
		return rec
	}
	q.toWaiting(now, it, 0)
	return nil
}

// drop removes an item from the queue and every index.
func (q *Queue) drop(it *item) {
	if e := it.expiresAt(); (it.state == stReady || it.state == stDelayed) && e != 0 {
		q.expiry.Delete(dueKey{e, it.id})
	}
	switch it.state {
	case stActive:
		q.release(it)
	case stDelayed:
		q.delayed.remove(it)
		q.leaveWaiting(it)
	case stReady:
		q.leaveWaiting(it)
		if g := it.grp; g != nil {
			g.ready.remove(it)
			q.place(g)
		} else {
			q.ready.remove(it)
		}
	}
	it.state = stNone
	q.items.Delete(it)
	if q.items.Len() == 0 {
		q.order = enqueueOrder{hiEnq: math.MinInt64}
	}
	if uk := it.ukey(); uk != "" {
		delete(q.uniq, uk)
	}
	if g := it.grp; g != nil {
		g.n--
		if g.n == 0 {
			delete(q.groupsByKey, g.key)
		}
	}
}

// record is the item as a raft record.
func (q *Queue) record(it *item) *raftpb.QueueItem { return record(q.cfg.QueueName, it) }

// record is it of queue as a raft record. It reads only what a Frozen view may read.
func record(queue string, it *item) *raftpb.QueueItem {
	r := &raftpb.QueueItem{}
	fillRecord(r, queue, it)
	r.Key = keyBytes(it)
	r.UniqueKey = ukeyBytes(it)
	return r
}

// fillRecord sets r to it of queue as a raft record, but for Key and UniqueKey (left
// nil). It reads only what a Frozen view may read.
func fillRecord(r *raftpb.QueueItem, queue string, it *item) {
	*r = raftpb.QueueItem{
		Queue:         queue,
		Id:            it.id,
		Priority:      uint32(it.priority),
		Value:         it.value(),
		Compressed:    it.compressed,
		DeliveryCount: it.deliveries,
		EnqueuedAt:    it.enqueuedAt,
		ExpiresAt:     it.expiresAt(),
	}
	switch it.state {
	case stDelayed:
		r.VisibleAt = it.due()
	case stActive:
		r.Active = true
		r.Holder = it.holder()
		r.LeaseUntil = it.due()
	}
}

// DeliveryOverhead is what DeliverySize counts for an item besides its value, key and
// unique key: the id, priority, delivery count, timestamp and framing of an answer.
const DeliveryOverhead = 64

// deliverySize is how many bytes it takes in an answer: its value as the reader gets it
// (uncompressed), its key and unique key, and DeliveryOverhead.
func (q *Queue) deliverySize(it *item) uint64 {
	n := uint64(it.vlen)
	if it.compressed {
		n = UncompressedSize(it.value())
	}
	if it.grp != nil {
		n += uint64(len(it.grp.key))
	}
	n += uint64(len(it.ukey()))
	return n + DeliveryOverhead
}

// UncompressedSize is the size of a zstd-compressed value once decompressed, from its frame
// header (the server's compressor always records it); the compressed size when the header
// does not say.
func UncompressedSize(v []byte) uint64 {
	var h zstd.Header
	if err := h.Decode(v); err == nil && h.HasFCS {
		return h.FrameContentSize
	}
	return uint64(len(v))
}

func keyBytes(it *item) []byte {
	if it.grp == nil {
		return nil
	}
	return []byte(it.grp.key)
}

func ukeyBytes(it *item) []byte {
	if uk := it.ukey(); uk != "" {
		return []byte(uk)
	}
	return nil
}

// durNs converts a duration field to ns; nil is 0.
func durNs(d *durationpb.Duration) (int64, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, err
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, fmt.Errorf("%v is negative", v)
	}
	return int64(v), nil
}

// addSat is a + b (b >= 0), saturating at the largest int64.
func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
