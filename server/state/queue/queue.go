// Package queue is the priority-queue engine that runs inside the Raft state machine.
//
// It is deterministic: no clocks, no randomness, no I/O. Time comes in as the `now`
// argument (Unix nanoseconds from the Raft log) and ids from the caller's IDs source.
// It is not safe for concurrent use; the state package serialises access.
package queue

import (
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/fault"
)

// DefaultLease is the lease of a queue created without one.
const DefaultLease = 60 * time.Second

// IDs hands out cluster-wide ids, increasing, never reused (the state's counter).
type IDs interface{ NextID() uint64 }

// Delivery is one pulled item. Item.Value is stored bytes: compressed when Compressed.
type Delivery struct {
	Item       *pb.Item
	Compressed bool
}

// Queue is one queue's items and settings.
type Queue struct{}

// New returns an empty queue. cfg is validated by the caller; New applies defaults
// (priorities 0 → 32, lease nil/0 → DefaultLease) and keeps its own copy.
func New(cfg *pb.CreateQueueRequest) *Queue { panic("TODO") }

// Config returns the queue's settings (with defaults applied). Callers must not modify it.
func (q *Queue) Config() *pb.CreateQueueRequest { panic("TODO") }

// Paused reports whether pulls are paused.
func (q *Queue) Paused() bool { panic("TODO") }

// SetPaused pauses or resumes pulls.
func (q *Queue) SetPaused(p bool) { panic("TODO") }

// Resize sets max_size (0 = unlimited); below the current count (waiting + active) it fails
// with fault.Precondition naming the count.
func (q *Queue) Resize(maxSize uint32) *fault.Error { panic("TODO") }

// Counts returns the waiting (visible or delayed) and active item counts.
func (q *Queue) Counts() (waiting, active uint32) { panic("TODO") }

// Enqueue adds items all-or-nothing. ids[i] is the new (or, for a unique_key already in the
// queue, the existing) id of items[i] and dup[i] says which. Errors: INVALID_ARGUMENT for a
// priority out of range; QUEUE_FULL when the new items do not fit under max_size.
func (q *Queue) Enqueue(now int64, items []*pb.InputItem, ids IDs) (out []uint64, dup []bool, err *fault.Error) {
	panic("TODO")
}

// Pull activates up to max (>= 1) visible items for session (0: no stream) and leases them
// until now + lease. Bound groups of session first, then (priority desc, id asc). A paused
// queue returns nothing.
func (q *Queue) Pull(now int64, session uint64, max int) []Delivery { panic("TODO") }

// Commit removes an active item. ITEM_NOT_FOUND when unknown, ITEM_NOT_BUSY when waiting.
func (q *Queue) Commit(now int64, id uint64) *fault.Error { panic("TODO") }

// Requeue returns an active item to waiting (delivery_count + 1) with the new ttl, priority
// and delay where given. When delivery_count reaches max_deliveries the item is removed and
// returned as dead instead.
func (q *Queue) Requeue(now int64, r *pb.RequeueItem) (dead *raftpb.QueueItem, err *fault.Error) {
	panic("TODO")
}

// Delete removes a waiting or active item. ITEM_NOT_FOUND when unknown.
func (q *Queue) Delete(now int64, id uint64) *fault.Error { panic("TODO") }

// Extend sets an active item's lease end to now + lease (lease <= 0: the queue's lease).
func (q *Queue) Extend(now int64, id uint64, lease time.Duration) *fault.Error { panic("TODO") }

// CloseSession returns session's active items to waiting (delivery_count + 1) and ends its
// group bindings. Items reaching max_deliveries are removed and returned as dead.
func (q *Queue) CloseSession(now int64, session uint64) (dead []*raftpb.QueueItem) { panic("TODO") }

// Advance fires every deadline <= now: delayed items become visible, waiting items past
// their ttl are removed (returned as dead), leases that ran out return items to waiting
// (delivery_count + 1; dead at max_deliveries).
func (q *Queue) Advance(now int64) (dead []*raftpb.QueueItem) { panic("TODO") }

// NextDeadline is the earliest pending deadline (Unix ns), 0 when none.
func (q *Queue) NextDeadline() int64 { panic("TODO") }

// AddDead inserts an item dead-lettered from another queue: waiting, visible at once, no
// ttl, keeping its id, value, key and delivery count. It ignores max_size, and its
// unique_key is kept only if no other item here holds it.
func (q *Queue) AddDead(now int64, item *raftpb.QueueItem) { panic("TODO") }

// Snapshot emits every item (waiting and active) in id order.
func (q *Queue) Snapshot(emit func(*raftpb.QueueItem) error) error { panic("TODO") }

// Restore inserts an item emitted by Snapshot (bindings and indexes are rebuilt).
func (q *Queue) Restore(item *raftpb.QueueItem) { panic("TODO") }
