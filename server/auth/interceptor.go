package auth

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// Unary authenticates and authorises a unary call (and so every REST request through the
// gateway), and audits management and cluster calls. It runs before forwarding: a follower
// checks the caller itself, then forwards (see DESIGN.md).
func (a *Auth) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	n := methodNeed(info.FullMethod)
	if n == needNothing {
		return handler(ctx, req)
	}
	id, err := a.fromGRPC(ctx)
	if err == nil {
		err = id.check(n, resourceOf(req))
	}
	if err != nil {
		a.denied(ctx, id, info.FullMethod, req, err)
		return nil, err
	}
	ctx = withIdentity(ctx, id)
	if !audited[info.FullMethod] {
		return handler(ctx, req)
	}
	resp, err := handler(ctx, req)
	a.record(ctx, id, info.FullMethod, req, err)
	return resp, err
}

// Stream authenticates a stream when it opens, authorises its setup (the queue or storage
// it binds to: a refusal ends the stream with PermissionDenied) and each later command
// against the caller's role on that name. A refused command is answered on the stream
// (status ERROR, "permission denied: ...") and the stream goes on.
func (a *Auth) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	n := methodNeed(info.FullMethod)
	if n == needNothing {
		return handler(srv, ss)
	}
	id, err := a.fromGRPC(ss.Context())
	if err == nil && n == needAdmin {
		err = id.check(n, "")
	}
	if err != nil {
		a.denied(ss.Context(), id, info.FullMethod, nil, err)
		return err
	}
	if !a.Enabled() {
		return handler(srv, ss)
	}
	return handler(srv, &guardedStream{ServerStream: ss, ctx: withIdentity(ss.Context(), id), a: a, id: id, method: info.FullMethod})
}

// guardedStream checks each command a stream receives.
type guardedStream struct {
	grpc.ServerStream
	ctx    context.Context // carries the caller's identity (ForwardMetadata of a relayed stream)
	a      *Auth
	id     *Identity
	method string
	bound  bool   // a setup passed: name is fixed for the stream
	name   string // the queue or storage of the stream

	sendMu sync.Mutex // the service and refusals both send
}

func (g *guardedStream) Context() context.Context { return g.ctx }

func (g *guardedStream) SendMsg(m any) error {
	g.sendMu.Lock()
	defer g.sendMu.Unlock()
	return g.ServerStream.SendMsg(m)
}

func (g *guardedStream) RecvMsg(m any) error {
	for {
		if err := g.ServerStream.RecvMsg(m); err != nil {
			return err
		}
		refusal, err := g.authorise(m)
		if err != nil {
			g.a.denied(g.Context(), g.id, g.method, m, err)
			return err
		}
		if refusal == nil {
			return nil
		}
		if err := g.SendMsg(refusal); err != nil {
			return err
		}
	}
}

// authorise decides on one received command: pass it on (nil, nil), answer it here
// (refusal), or end the stream (err).
func (g *guardedStream) authorise(m any) (refusal any, err error) {
	if g.id, err = g.a.refresh(g.id); err != nil {
		return nil, err
	}
	var setup *string
	var n need
	switch r := m.(type) {
	case *pb.QueueRequest:
		switch c := r.GetCommand().(type) {
		case *pb.QueueRequest_Setup:
			name := c.Setup.GetQueueName()
			setup = &name
		case *pb.QueueRequest_Enqueue, *pb.QueueRequest_BatchEnqueue:
			n = needProducer
		case *pb.QueueRequest_Noop, *pb.QueueRequest_GetQueueInfo, nil:
			n = needQueue
		default: // pull, commit, requeue, delete, extend
			n = needConsumer
		}
	case *pb.StorageRequest:
		if s := r.GetSetup(); s != nil {
			name := s.GetStorageName()
			setup = &name
		}
		n = needKV
	default:
		return nil, nil
	}
	if setup != nil {
		if g.bound && *setup != g.name {
			return g.refuse(m, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "the stream is already bound to "+g.name), nil
		}
		kind := needQueue
		if _, ok := m.(*pb.StorageRequest); ok {
			kind = needKV
		}
		if err := g.id.check(kind, *setup); err != nil {
			return nil, err
		}
		g.bound, g.name = true, *setup
		return nil, nil
	}
	if !g.bound {
		return nil, nil // the service answers: the first command must be setup
	}
	if err := g.id.check(n, g.name); err != nil {
		g.a.denied(g.Context(), g.id, g.method, m, err)
		return g.refuse(m, pb.StatusCode_STATUS_CODE_ERROR, status.Convert(err).Message()), nil
	}
	return nil, nil
}

func (g *guardedStream) refuse(m any, code pb.StatusCode, msg string) any {
	st := &pb.StatusResponse{Code: code, Message: msg}
	switch r := m.(type) {
	case *pb.QueueRequest:
		return &pb.QueueResponse{CorrelationId: r.GetCorrelationId(), Response: &pb.QueueResponse_Status{Status: st}}
	case *pb.StorageRequest:
		return &pb.StorageResponse{CorrelationId: r.GetCorrelationId(), Response: &pb.StorageResponse_Status{Status: st}}
	}
	return nil
}

// unauthenticated reports whether err is a missing or wrong credential.
func unauthenticated(err error) bool { return status.Code(err) == codes.Unauthenticated }
