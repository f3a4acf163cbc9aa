package service

import (
	"context"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// QueueDataServer implements QueueDataService, the unary queue data plane behind REST.
// Items pulled here belong to no stream (session 0): they are leased for the queue's lease.
type QueueDataServer struct {
	octopusmqv1.UnimplementedQueueDataServiceServer
	*Service
}

func checkQueueName(name string) error {
	if err := state.ValidateName("queue_name", name); err != nil {
		return err
	}
	return nil
}

// EnqueueItems adds one item or a batch.
func (s QueueDataServer) EnqueueItems(ctx context.Context, r *octopusmqv1.EnqueueItemsRequest) (*octopusmqv1.EnqueueItemsResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := checkDuration("timeout", r.GetTimeout()); err != nil {
		return nil, err
	}
	res, err := s.enqueueOp(r.GetQueueName(), r.GetItems(), asDuration(r.GetTimeout()))(ctx)
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.EnqueueItemsResponse{Ids: res.IDs, Duplicate: res.Duplicate}, nil
}

// PullItems long-polls for items.
func (s QueueDataServer) PullItems(ctx context.Context, r *octopusmqv1.PullItemsRequest) (*octopusmqv1.PullItemsResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := checkDuration("timeout", r.GetTimeout()); err != nil {
		return nil, err
	}
	items, paused, err := s.pullOp(r.GetQueueName(), 0, r.GetBatchSize(), asDuration(r.GetTimeout()))(ctx)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 && paused {
		// As on the stream: a paused queue's pull answers QUEUE_PAUSED at its timeout.
		return nil, apierr.New(pb.StatusCode_STATUS_CODE_QUEUE_PAUSED, "queue %q is paused", r.GetQueueName())
	}
	return &octopusmqv1.PullItemsResponse{Items: items}, nil
}

// CommitItems commits active items.
func (s QueueDataServer) CommitItems(ctx context.Context, r *octopusmqv1.CommitItemsRequest) (*octopusmqv1.CommitItemsResponse, error) {
	n, err := s.countIDs(ctx, raftpb.Type_TYPE_QUEUE_COMMIT, r.GetQueueName(), r.GetIds(), nil)
	return &octopusmqv1.CommitItemsResponse{Count: n}, err
}

// DeleteItems deletes items.
func (s QueueDataServer) DeleteItems(ctx context.Context, r *octopusmqv1.DeleteItemsRequest) (*octopusmqv1.DeleteItemsResponse, error) {
	n, err := s.countIDs(ctx, raftpb.Type_TYPE_QUEUE_DELETE, r.GetQueueName(), r.GetIds(), nil)
	return &octopusmqv1.DeleteItemsResponse{Count: n}, err
}

// ExtendItems renews leases.
func (s QueueDataServer) ExtendItems(ctx context.Context, r *octopusmqv1.ExtendItemsRequest) (*octopusmqv1.ExtendItemsResponse, error) {
	if err := checkDuration("lease", r.GetLease()); err != nil {
		return nil, err
	}
	n, err := s.countIDs(ctx, raftpb.Type_TYPE_QUEUE_EXTEND, r.GetQueueName(), r.GetIds(), r)
	return &octopusmqv1.ExtendItemsResponse{Count: n}, err
}

// RequeueItems returns active items to waiting.
func (s QueueDataServer) RequeueItems(ctx context.Context, r *octopusmqv1.RequeueItemsRequest) (*octopusmqv1.RequeueItemsResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	if len(r.GetItems()) == 0 {
		return nil, apierr.InvalidArgument("items must not be empty")
	}
	res, err := s.requeueOp(r.GetQueueName(), r.GetItems())(ctx)
	if err != nil {
		return nil, err
	}
	// As for commit, delete and extend: a single item answers its own error.
	if len(res) == 1 && res[0] != nil {
		return nil, res[0]
	}
	return &octopusmqv1.RequeueItemsResponse{Count: succeeded(res)}, nil
}

// countIDs runs commit, delete or extend. A single id answers its own error (so curl users
// learn why); several ids answer the number that succeeded.
func (s QueueDataServer) countIDs(ctx context.Context, typ raftpb.Type, queue string, ids []uint64, ext *octopusmqv1.ExtendItemsRequest) (int32, error) {
	if err := checkQueueName(queue); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, apierr.InvalidArgument("ids must not be empty")
	}
	res, err := s.idsOp(typ, queue, ids, asDuration(ext.GetLease()))(ctx)
	if err != nil {
		return 0, err
	}
	if len(ids) == 1 && res[0] != nil {
		return 0, res[0]
	}
	return succeeded(res), nil
}

// GetQueue describes a queue.
func (s QueueDataServer) GetQueue(ctx context.Context, r *octopusmqv1.GetQueueRequest) (*octopusmqv1.GetQueueResponse, error) {
	if err := checkQueueName(r.GetQueueName()); err != nil {
		return nil, err
	}
	info, err := s.queueInfo(ctx, r.GetQueueName())
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.GetQueueResponse{Queue: info}, nil
}
