package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/raftnode"
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
	cmd := &raftpb.QueueEnqueue{Queue: queue, Items: prepared}
	if timeout <= 0 {
		// No retry, so no attempt (and no wake key) to keep: the hot path of pipelined
		// enqueues, three allocations less than through startAttemptIn.
		f := s.node.Enqueue(cmd)
		return func(ctx context.Context) (*state.EnqueueResult, *apierr.Error) {
			r, fault, err := f.Wait(ctx)
			if err != nil {
				return nil, s.toFault(err)
			}
			return r, fault
		}
	}
	// An enqueue into a full queue waits in the queue's room line, woken one per slot freed
	// (state.RoomKey), and tries again once the leader's state shows room for all its items.
	key := state.RoomKey(queue)
	line := func(seq uint64) *state.Hold { return s.node.Notifier().HoldOneAt(key, seq) }
	a := startAttemptIn(s, "enqueue", key, line, func() raftnode.Future[*state.EnqueueResult] { return s.node.Enqueue(cmd) }, timeout,
		func(f *apierr.Error) bool { return f.Status == pb.StatusCode_STATUS_CODE_QUEUE_FULL })
	a.ready = func() bool {
		fits, _ := s.node.EnqueueFits(queue, prepared)
		return fits
	}
	a.passOn = func() bool {
		_, room := s.node.EnqueueFits(queue, prepared)
		return room > 0 // some room, too little for this batch: maybe enough for the next
	}
	return func(ctx context.Context) (*state.EnqueueResult, *apierr.Error) {
		r, fault, err := a.finish(ctx)
		if err != nil {
			return nil, s.toFault(err)
		}
		return r, fault
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
	out := items // copied on the first item that compresses (the caller's slice stays as is)
	for i, it := range items {
		if it == nil {
			return nil, apierr.InvalidArgument("items[%d] is missing", i)
		}
		if err := s.limits.checkItem("items", i, it); err != nil {
			return nil, err
		}
		if err := checkDuration("ttl", it.GetTtl()); err != nil {
			return nil, err
		}
		if err := checkDuration("delay", it.GetDelay()); err != nil {
			return nil, err
		}
		if it.GetCompress() {
			if &out[0] == &items[0] {
				out = append([]*pb.InputItem(nil), items...)
			}
			c := proto.Clone(it).(*pb.InputItem)
			c.Value = compress(it.GetValue())
			out[i] = c
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
	return s.perIDOp(s.node.QueueIDs(typ, cmd))
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
	return s.perIDOp(s.node.Requeue(&raftpb.QueueRequeue{Queue: queue, Items: items}))
}

func (s *Service) perIDOp(f raftnode.Future[state.PerID]) func(context.Context) (state.PerID, *apierr.Error) {
	return func(ctx context.Context) (state.PerID, *apierr.Error) { return wait(ctx, s, f) }
}

// wait waits for a typed result, turning an unknown outcome into its fault.
func wait[T any](ctx context.Context, s *Service, f raftnode.Future[T]) (T, *apierr.Error) {
	v, fault, err := f.Wait(ctx)
	if err != nil {
		return v, s.toFault(err)
	}
	return v, fault
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
	return s.node.Queue(queue)
}
