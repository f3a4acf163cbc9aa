package service

import (
	"context"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// QueuesServer implements QueuesService/Connect.
type QueuesServer struct {
	grpcpb.UnimplementedQueuesServiceServer
	*Service
}

// Connect serves one queue stream. Items pulled on it are leased to its session and return
// to the queue when it ends.
func (s QueuesServer) Connect(stream grpcpb.QueuesService_ConnectServer) error {
	return serveStream[pb.QueueRequest, pb.QueueResponse](stream, &queueSession{s: s.Service, id: s.newSession()}, s.draining)
}

type queueSession struct {
	s     *Service
	id    uint64
	queue string
	// pulled says whether this session may hold items (so close has something to release).
	pulled bool
	// enqueued is the answer of every enqueue without a timeout, reused: those finish one at
	// a time on the stream's answer goroutine (opWrite), and Send encodes an answer before it
	// returns, keeping no reference to it, so one set of messages per stream serves them all
	// (three allocations less per enqueue).
	enqueued struct {
		resp pb.QueueResponse
		enq  pb.QueueResponse_Enqueue
		ok   pb.EnqueueResponse
	}
}

func queueStatus(corr uint64, err *apierr.Error) *pb.QueueResponse {
	st := &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_OK}
	if err != nil {
		st = &pb.StatusResponse{Code: err.Status, Message: err.Msg}
	}
	return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_Status{Status: st}}
}

func (q *queueSession) setup(ctx context.Context, req *pb.QueueRequest) (*pb.QueueResponse, bool, error) {
	corr := req.GetCorrelationId()
	setup := req.GetSetup()
	if setup == nil {
		return queueStatus(corr, apierr.InvalidArgument("the first command of a stream must be setup")), false, nil
	}
	if err := state.ValidateName("queue_name", setup.GetQueueName()); err != nil {
		return queueStatus(corr, err), false, nil
	}
	if fault, end := q.s.setupBarrier(ctx); end != nil || fault != nil {
		return queueStatus(corr, fault), false, end
	}
	if err := q.s.node.HasQueue(setup.GetQueueName()); err != nil {
		return queueStatus(corr, err), false, nil
	}
	q.queue = setup.GetQueueName()
	return queueStatus(corr, nil), true, nil
}

func (q *queueSession) close() {
	if !q.pulled {
		return
	}
	// Return this stream's active items and end its group bindings. If this node is no
	// longer the leader the items come back when their leases run out.
	if _, fault, err := q.s.node.CloseSession(&raftpb.CloseSession{Session: q.id}).Wait(context.Background()); err != nil || fault != nil {
		q.s.log.Debug("closing queue session", "session", q.id, "err", err, "refused", fault)
	}
}

func (q *queueSession) start(ctx context.Context, req *pb.QueueRequest) (func(context.Context) *pb.QueueResponse, opKind) {
	switch req.GetCommand().(type) {
	case *pb.QueueRequest_GetQueueInfo:
		return q.info(req.GetCorrelationId()), opRead
	case *pb.QueueRequest_Pull, *pb.QueueRequest_PullSingle:
		return q.write(req), opWait
	case *pb.QueueRequest_Enqueue:
		if asDuration(req.GetEnqueue().GetTimeout()) > 0 {
			return q.write(req), opSlowWrite // may wait for room in a full queue
		}
	case *pb.QueueRequest_BatchEnqueue:
		if asDuration(req.GetBatchEnqueue().GetTimeout()) > 0 {
			return q.write(req), opSlowWrite
		}
	}
	return q.write(req), opWrite
}

func (q *queueSession) write(req *pb.QueueRequest) func(context.Context) *pb.QueueResponse {
	corr := req.GetCorrelationId()
	reply := func(r *pb.QueueResponse) func(context.Context) *pb.QueueResponse {
		r.CorrelationId = corr
		return func(context.Context) *pb.QueueResponse { return r }
	}
	fail := func(err *apierr.Error) func(context.Context) *pb.QueueResponse { return reply(queueStatus(corr, err)) }
	s := q.s
	switch c := req.GetCommand().(type) {
	case *pb.QueueRequest_Setup:
		return fail(apierr.InvalidArgument("the stream is already set up for queue %q", q.queue))
	case *pb.QueueRequest_Noop:
		return fail(nil)
	case *pb.QueueRequest_Enqueue:
		timeout := asDuration(c.Enqueue.GetTimeout())
		op := s.enqueueOp(q.queue, []*pb.InputItem{c.Enqueue.GetItem()}, timeout)
		reuse := timeout <= 0 // an opWrite (see start): answered on the answer goroutine
		return func(ctx context.Context) *pb.QueueResponse {
			r, err := op(ctx)
			if err != nil {
				return queueStatus(corr, err)
			}
			if reuse {
				a := &q.enqueued
				a.ok.Id, a.ok.Duplicate = r.IDs[0], r.Duplicate[0]
				a.enq.Enqueue = &a.ok
				a.resp.CorrelationId, a.resp.Response = corr, &a.enq
				return &a.resp
			}
			return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: r.IDs[0], Duplicate: r.Duplicate[0]}}}
		}
	case *pb.QueueRequest_BatchEnqueue:
		op := s.enqueueOp(q.queue, c.BatchEnqueue.GetItems(), asDuration(c.BatchEnqueue.GetTimeout()))
		return func(ctx context.Context) *pb.QueueResponse {
			r, err := op(ctx)
			if err != nil {
				return queueStatus(corr, err)
			}
			return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_BatchEnqueue{BatchEnqueue: &pb.BatchEnqueueResponse{Ids: r.IDs}}}
		}
	case *pb.QueueRequest_PullSingle:
		q.pulled = true
		op := s.pullOp(q.queue, q.id, 1, asDuration(c.PullSingle.GetTimeout()))
		return func(ctx context.Context) *pb.QueueResponse {
			items, paused, err := op(ctx)
			switch {
			case err != nil:
				return queueStatus(corr, err)
			case len(items) > 0:
				return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_PullSingle{PullSingle: &pb.PullSingleResponse{Item: items[0]}}}
			case paused:
				return queueStatus(corr, apierr.New(pb.StatusCode_STATUS_CODE_QUEUE_PAUSED, "queue %q is paused", q.queue))
			default:
				return queueStatus(corr, apierr.New(pb.StatusCode_STATUS_CODE_TIMEOUT, "no item became available within the timeout"))
			}
		}
	case *pb.QueueRequest_Pull:
		q.pulled = true
		op := s.pullOp(q.queue, q.id, c.Pull.GetBatchSize(), asDuration(c.Pull.GetTimeout()))
		return func(ctx context.Context) *pb.QueueResponse {
			items, paused, err := op(ctx)
			switch {
			case err != nil:
				return queueStatus(corr, err)
			case len(items) == 0 && paused:
				return queueStatus(corr, apierr.New(pb.StatusCode_STATUS_CODE_QUEUE_PAUSED, "queue %q is paused", q.queue))
			}
			return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{Items: items}}}
		}
	case *pb.QueueRequest_CommitSingle:
		op := s.idsOp(raftpb.Type_TYPE_QUEUE_COMMIT, q.queue, []uint64{c.CommitSingle.GetId()}, 0)
		return single(corr, op, func() *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_CommitSingle{CommitSingle: &pb.CommitSingleResponse{Committed: true}}}
		})
	case *pb.QueueRequest_Commit:
		op := s.idsOp(raftpb.Type_TYPE_QUEUE_COMMIT, q.queue, c.Commit.GetIds(), 0)
		return batch(corr, op, func(n int32) *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_Commit{Commit: &pb.CommitResponse{Ret: n}}}
		})
	case *pb.QueueRequest_RequeueSingle:
		op := s.requeueOp(q.queue, []*pb.RequeueItem{c.RequeueSingle.GetItem()})
		return single(corr, op, func() *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_RequeueSingle{RequeueSingle: &pb.RequeueSingleResponse{Requeued: true}}}
		})
	case *pb.QueueRequest_Requeue:
		op := s.requeueOp(q.queue, c.Requeue.GetItems())
		return batch(corr, op, func(n int32) *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_Requeue{Requeue: &pb.RequeueResponse{Ret: n}}}
		})
	case *pb.QueueRequest_DeleteSingle:
		op := s.idsOp(raftpb.Type_TYPE_QUEUE_DELETE, q.queue, []uint64{c.DeleteSingle.GetId()}, 0)
		return single(corr, op, func() *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_DeleteSingle{DeleteSingle: &pb.DeleteSingleResponse{Deleted: true}}}
		})
	case *pb.QueueRequest_Delete:
		op := s.idsOp(raftpb.Type_TYPE_QUEUE_DELETE, q.queue, c.Delete.GetIds(), 0)
		return batch(corr, op, func(n int32) *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_Delete{Delete: &pb.DeleteResponse{Ret: n}}}
		})
	case *pb.QueueRequest_Extend:
		if err := checkDuration("lease", c.Extend.GetLease()); err != nil {
			return fail(err)
		}
		op := s.idsOp(raftpb.Type_TYPE_QUEUE_EXTEND, q.queue, c.Extend.GetIds(), asDuration(c.Extend.GetLease()))
		return batch(corr, op, func(n int32) *pb.QueueResponse {
			return &pb.QueueResponse{Response: &pb.QueueResponse_Extend{Extend: &pb.ExtendResponse{Ret: n}}}
		})
	default:
		return fail(apierr.InvalidArgument("the request carries no known command"))
	}
}

func (q *queueSession) info(corr uint64) func(context.Context) *pb.QueueResponse {
	return func(ctx context.Context) *pb.QueueResponse {
		info, err := q.s.queueInfo(ctx, q.queue)
		if err != nil {
			return queueStatus(corr, err)
		}
		return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoResponse{
			MaxSize: info.GetMaxSize(), Length: info.GetCount() - info.GetActive(), Active: info.GetActive(),
			Priorities: info.GetPriorities(), Paused: info.GetPaused(),
		}}}
	}
}

// single answers a one-id command: its own error, or ok().
func single(corr uint64, op func(context.Context) (state.PerID, *apierr.Error), ok func() *pb.QueueResponse) func(context.Context) *pb.QueueResponse {
	return func(ctx context.Context) *pb.QueueResponse {
		r, err := op(ctx)
		if err == nil && len(r) == 1 {
			err = r[0]
		}
		if err != nil {
			return queueStatus(corr, err)
		}
		resp := ok()
		resp.CorrelationId = corr
		return resp
	}
}

// batch answers a many-id command with the number that succeeded.
func batch(corr uint64, op func(context.Context) (state.PerID, *apierr.Error), ok func(int32) *pb.QueueResponse) func(context.Context) *pb.QueueResponse {
	return func(ctx context.Context) *pb.QueueResponse {
		r, err := op(ctx)
		if err != nil {
			return queueStatus(corr, err)
		}
		resp := ok(succeeded(r))
		resp.CorrelationId = corr
		return resp
	}
}
