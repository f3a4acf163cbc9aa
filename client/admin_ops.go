package client

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// PeekedItem is a waiting item as PeekItems shows it.
type PeekedItem struct {
	Item
	// VisibleAt is when a delayed item becomes visible (zero: visible now).
	VisibleAt time.Time
	// ExpiresAt is when the item expires (zero: never).
	ExpiresAt time.Time
	// DeadLetterSource is, in a dead-letter queue, the queue the item came from.
	DeadLetterSource string
}

// QueueStats is a queue's live statistics (QueueStats).
type QueueStats struct {
	// VisibleByPriority[p] counts the visible waiting items of priority p.
	VisibleByPriority []uint32
	// Delayed waiting items, Active (leased, in-flight) items, and the items this queue
	// dead-lettered that are still in its dead-letter queue.
	Delayed, Active, DeadLettered uint32
	// OldestEnqueuedAt is the enqueue time of the oldest waiting item (zero: none).
	OldestEnqueuedAt time.Time
	// Time is the cluster's log clock when read (age = Time - OldestEnqueuedAt).
	Time time.Time
	// EnqueuedTotal and CommittedTotal count since the answering leader loaded the queue:
	// rates are differences between reads; a decrease means a reset.
	EnqueuedTotal, CommittedTotal uint64
	Paused                        bool
	MaxSize                       uint32
}

// Visible is the number of visible waiting items.
func (s *QueueStats) Visible() uint32 {
	var n uint32
	for _, c := range s.VisibleByPriority {
		n += c
	}
	return n
}

// QueueData calls the unary queue data service (the one behind REST) on the cluster,
// following the leader like the management calls; retry re-sends a call when a node was
// unreachable (only for calls safe to repeat).
func (a *AdminClient) QueueData(ctx context.Context, retry bool, fn func(octopusmqv1.QueueDataServiceClient) error) error {
	return a.invoke(ctx, retry, func(cc *grpc.ClientConn) error { return fn(octopusmqv1.NewQueueDataServiceClient(cc)) })
}

// PeekItems shows up to limit (0: 10) waiting items of queue without leasing them, in
// the order pulls would take them; includeDelayed adds delayed items after the visible
// ones. more says further items exist.
func (a *AdminClient) PeekItems(ctx context.Context, queue string, limit int, includeDelayed bool) (items []PeekedItem, more bool, err error) {
	var resp *octopusmqv1.PeekItemsResponse
	err = a.QueueData(ctx, true, func(c octopusmqv1.QueueDataServiceClient) error {
		var e error
		resp, e = c.PeekItems(ctx, &octopusmqv1.PeekItemsRequest{QueueName: queue, Limit: int32(limit), IncludeDelayed: includeDelayed})
		return e
	})
	if err != nil {
		return nil, false, err
	}
	for _, p := range resp.GetItems() {
		it := PeekedItem{Item: *itemFromProto(p.GetItem()), DeadLetterSource: p.GetDeadLetterSource()}
		if p.VisibleAt != nil {
			it.VisibleAt = p.GetVisibleAt().AsTime()
		}
		if p.ExpiresAt != nil {
			it.ExpiresAt = p.GetExpiresAt().AsTime()
		}
		items = append(items, it)
	}
	return items, resp.GetMore(), nil
}

// PurgeQueue removes every waiting (visible or delayed) item of queue in one log entry and
// returns how many; leased items stay with their consumers.
func (a *AdminClient) PurgeQueue(ctx context.Context, queue string) (int, error) {
	var resp *octopusmqv1.PurgeQueueResponse
	err := a.QueueData(ctx, false, func(c octopusmqv1.QueueDataServiceClient) error {
		var e error
		resp, e = c.PurgeQueue(ctx, &octopusmqv1.PurgeQueueRequest{QueueName: queue})
		return e
	})
	return int(resp.GetCount()), err
}

// RedriveQueue moves up to maxItems (0: all that fit) of the items queue dead-lettered
// back from its dead-letter queue in one log entry; remaining are those left there.
func (a *AdminClient) RedriveQueue(ctx context.Context, queue string, maxItems uint32) (moved, remaining int, err error) {
	var resp *octopusmqv1.RedriveQueueResponse
	err = a.QueueData(ctx, false, func(c octopusmqv1.QueueDataServiceClient) error {
		var e error
		resp, e = c.RedriveQueue(ctx, &octopusmqv1.RedriveQueueRequest{QueueName: queue, MaxItems: maxItems})
		return e
	})
	return int(resp.GetCount()), int(resp.GetRemaining()), err
}

// QueueStats reads a queue's live statistics.
func (a *AdminClient) QueueStats(ctx context.Context, queue string) (*QueueStats, error) {
	var resp *octopusmqv1.GetQueueStatsResponse
	err := a.QueueData(ctx, true, func(c octopusmqv1.QueueDataServiceClient) error {
		var e error
		resp, e = c.GetQueueStats(ctx, &octopusmqv1.GetQueueStatsRequest{QueueName: queue})
		return e
	})
	if err != nil {
		return nil, err
	}
	st := &QueueStats{
		VisibleByPriority: resp.GetVisibleByPriority(), Delayed: resp.GetDelayed(), Active: resp.GetActive(),
		DeadLettered: resp.GetDeadLettered(), Time: resp.GetTime().AsTime(),
		EnqueuedTotal: resp.GetEnqueuedTotal(), CommittedTotal: resp.GetCommittedTotal(),
		Paused: resp.GetPaused(), MaxSize: resp.GetMaxSize(),
	}
	if resp.OldestEnqueuedAt != nil {
		st.OldestEnqueuedAt = resp.GetOldestEnqueuedAt().AsTime()
	}
	return st, nil
}
