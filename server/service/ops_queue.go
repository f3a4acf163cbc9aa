package service

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// Queue operations shared by the stream (QueuesService) and the unary data plane.
// Each starts in request order and is finished concurrently (see attempt).

// enqueueOp adds items (all or none), waiting up to timeout for room under max_size.
func (s *Service) enqueueOp(queue string, items []*pb.InputItem, timeout time.Duration) func(context.Context) (*state.EnqueueResult, *apierr.Error) {
	prepared, ferr := s.prepareItems(items)
	if ferr != nil {
		return func(context.Context) (*state.EnqueueResult, *apierr.Error) { return nil, ferr }
	}
	a := s.start(state.QueueKey(queue), raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: queue, Items: prepared}, timeout,
		func(r state.Result) bool { return r.Err != nil && r.Err.Status == pb.StatusCode_STATUS_CODE_QUEUE_FULL })
	return func(ctx context.Context) (*state.EnqueueResult, *apierr.Error) {
		res, err := a.finish(ctx)
		if err != nil {
			return nil, s.toFault(err)
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Value.(*state.EnqueueResult), nil
	}
}

// prepareItems validates values and compresses those that ask for it, so the log holds the
// compressed bytes. The caller's messages are not modified.
func (s *Service) prepareItems(items []*pb.InputItem) ([]*pb.InputItem, *apierr.Error) {
	if len(items) == 0 {
		return nil, apierr.InvalidArgument("items must not be empty")
	}
	if err := s.limits.checkBatch("items", len(items)); err != nil {
		return nil, err
	}
	out := make([]*pb.InputItem, len(items))
	for i, it := range items {
		if it == nil {
			return nil, apierr.InvalidArgument("items[%d] is missing", i)
		}
		if err := s.limits.checkItem(fmt.Sprintf("items[%d]", i), it); err != nil {
			return nil, err
		}
		if err := checkDuration("ttl", it.GetTtl()); err != nil {
			return nil, err
		}
		if err := checkDuration("delay", it.GetDelay()); err != nil {
			return nil, err
		}
		if it.GetCompress() {
			c := proto.Clone(it).(*pb.InputItem)
			c.Value = compress(it.GetValue())
			out[i] = c
		} else {
			out[i] = it
		}
	}
	return out, nil
}

// idsOp submits commit, delete or extend by id and returns one error per id.
func (s *Service) idsOp(typ raftpb.Type, queue string, ids []uint64, lease time.Duration) func(context.Context) (state.PerID, *apierr.Error) {
	if err := s.limits.checkBatch("ids", len(ids)); err != nil {
		return failedPerID(err)
	}
	cmd := &raftpb.QueueIds{Queue: queue, Ids: ids}
	if lease > 0 {
		cmd.Lease = durationOf(lease)
	}
	return s.perIDOp(typ, cmd)
}

// requeueOp returns active items to waiting.
func (s *Service) requeueOp(queue string, items []*pb.RequeueItem) func(context.Context) (state.PerID, *apierr.Error) {
	if err := s.limits.checkBatch("items", len(items)); err != nil {
		return failedPerID(err)
	}
	for i, it := range items {
		if it == nil {
			return failedPerID(apierr.InvalidArgument("items[%d] is missing", i))
		}
		if err := checkDuration("ttl", it.GetTtl()); err != nil {
			return failedPerID(err)
		}
		if err := checkDuration("delay", it.GetDelay()); err != nil {
			return failedPerID(err)
		}
	}
	return s.perIDOp(raftpb.Type_TYPE_QUEUE_REQUEUE, &raftpb.QueueRequeue{Queue: queue, Items: items})
}

func (s *Service) perIDOp(typ raftpb.Type, cmd proto.Message) func(context.Context) (state.PerID, *apierr.Error) {
	pd := s.node.Submit(typ, cmd)
	return func(ctx context.Context) (state.PerID, *apierr.Error) {
		res, err := pd.Wait(ctx)
		if err != nil {
			return nil, s.toFault(err)
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Value.(state.PerID), nil
	}
}

func failedPerID(err *apierr.Error) func(context.Context) (state.PerID, *apierr.Error) {
	return func(context.Context) (state.PerID, *apierr.Error) { return nil, err }
}

// succeeded counts the ids without error.
func succeeded(r state.PerID) int32 {
	var n int32
	for _, e := range r {
		if e == nil {
			n++
		}
	}
	return n
}

// queueInfo is a linearizable read of a queue's settings and counters.
func (s *Service) queueInfo(ctx context.Context, queue string) (*pb.ListQueueItem, *apierr.Error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	return s.state.Queue(queue)
}
