package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// Operator tools on queues (QueueDataService): peek and stats are reads (leader, after the
// read barrier, no log entry); purge and redrive are one command, so one log entry, each.

// defaultPeek is how many items a peek without a limit shows.
const defaultPeek = 10

// peekItemExtra bounds what a PeekedItem carries besides its item: two timestamps, the
// dead-letter source name (up to 200 bytes) and framing.
const peekItemExtra = 256

// PeekItems shows waiting items without leasing them.
func (s QueueDataServer) PeekItems(ctx context.Context, r *octopusmqv1.PeekItemsRequest) (*octopusmqv1.PeekItemsResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	limit := int(r.GetLimit())
	switch {
	case limit < 0:
		return nil, apierr.InvalidArgument("limit %d is negative", limit)
	case limit == 0:
		limit = defaultPeek
	case limit > s.limits.MaxBatch:
		return nil, apierr.InvalidArgument("limit %d is more than the server's batch limit %d", limit, s.limits.MaxBatch)
	}
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	budget := max(s.limits.MaxResponseBytes-itemOverhead-limit*peekItemExtra, 1)
	recs, more, err := s.node.PeekQueue(r.GetQueueName(), limit, r.GetIncludeDelayed(), uint64(budget))
	if err != nil {
		return nil, err
	}
	out := &octopusmqv1.PeekItemsResponse{Items: make([]*octopusmqv1.PeekedItem, len(recs)), More: more}
	for i, rec := range recs {
		v := rec.GetValue()
		if rec.GetCompressed() {
			d, derr := decompress(v)
			if derr != nil {
				return nil, apierr.From(derr)
			}
			v = d
		}
		p := &octopusmqv1.PeekedItem{
			Item: &pb.Item{
				Id: rec.GetId(), Priority: rec.GetPriority(), Key: rec.GetKey(), UniqueKey: rec.GetUniqueKey(),
				Value: v, DeliveryCount: rec.GetDeliveryCount(), EnqueuedAt: unixTime(rec.GetEnqueuedAt()),
			},
			DeadLetterSource: rec.GetDeadLetterSource(),
		}
		if t := rec.GetVisibleAt(); t != 0 {
			p.VisibleAt = unixTime(t)
		}
		if t := rec.GetExpiresAt(); t != 0 {
			p.ExpiresAt = unixTime(t)
		}
		out.Items[i] = p
	}
	return out, nil
}

func unixTime(ns int64) *timestamppb.Timestamp { return timestamppb.New(time.Unix(0, ns)) }

// PurgeQueue removes every waiting item; leased ones stay.
func (s QueueDataServer) PurgeQueue(ctx context.Context, r *octopusmqv1.PurgeQueueRequest) (*octopusmqv1.PurgeQueueResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	res, fault := wait(ctx, s.Service, s.node.PurgeQueue(&raftpb.QueuePurge{Queue: r.GetQueueName()}))
	if fault != nil {
		return nil, fault
	}
	return &octopusmqv1.PurgeQueueResponse{Count: uint32(res.Count)}, nil
}

// RedriveQueue moves the queue's dead-lettered items back into it.
func (s QueueDataServer) RedriveQueue(ctx context.Context, r *octopusmqv1.RedriveQueueRequest) (*octopusmqv1.RedriveQueueResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	v, fault := wait(ctx, s.Service, s.node.RedriveQueue(&raftpb.QueueRedrive{Queue: r.GetQueueName(), Max: r.GetMaxItems()}))
	if fault != nil {
		return nil, fault
	}
	return &octopusmqv1.RedriveQueueResponse{Count: uint32(v.Moved), Remaining: uint32(v.Remaining)}, nil
}

// GetQueueStats reports a queue's live statistics.
func (s QueueDataServer) GetQueueStats(ctx context.Context, r *octopusmqv1.GetQueueStatsRequest) (*octopusmqv1.GetQueueStatsResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	st, err := s.node.QueueStats(r.GetQueueName())
	if err != nil {
		return nil, err
	}
	out := &octopusmqv1.GetQueueStatsResponse{
		QueueName: r.GetQueueName(), VisibleByPriority: st.VisibleByPriority,
		Delayed: st.Delayed, Active: st.Active, DeadLettered: uint32(st.DeadLettered),
		Time:          unixTime(st.Clock),
		EnqueuedTotal: st.Counters.Enqueued, CommittedTotal: st.Counters.Committed,
		Paused: st.Paused, MaxSize: st.MaxSize,
	}
	if st.OldestEnqueuedAt != 0 {
		out.OldestEnqueuedAt = unixTime(st.OldestEnqueuedAt)
	}
	return out, nil
}
