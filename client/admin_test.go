package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

type fakeManagement struct {
	managementpb.UnimplementedManagementServiceServer
	create func(*pb.CreateQueueRequest) error
	calls  atomic.Int32
}

func (f *fakeManagement) CreateQueue(_ context.Context, req *pb.CreateQueueRequest) (*emptypb.Empty, error) {
	f.calls.Add(1)
	return &emptypb.Empty{}, f.create(req)
}

func TestAdminErrorMapping(t *testing.T) {
	var next error
	f := &fakeManagement{create: func(*pb.CreateQueueRequest) error { return next }}
	addr, _ := serve(t, "", func(s *grpc.Server) { managementpb.RegisterManagementServiceServer(s, f) })
	a, err := NewAdminClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := testCtx(t)
	cases := []struct {
		err  error
		want []error
		not  []error
	}{
		{status.Error(codes.NotFound, `queue "x" not found`), []error{ErrQueueNotFound, ErrNotFound}, []error{ErrStorageNotFound}},
		{status.Error(codes.NotFound, `storage "x" not found`), []error{ErrStorageNotFound, ErrNotFound}, []error{ErrQueueNotFound}},
		{status.Error(codes.AlreadyExists, `queue "x" already exists`), []error{ErrQueueAlreadyExists, ErrAlreadyExists}, nil},
		{status.Error(codes.AlreadyExists, `storage "x" already exists`), []error{ErrStorageAlreadyExists, ErrAlreadyExists}, []error{ErrQueueAlreadyExists}},
		{status.Error(codes.InvalidArgument, "bad name"), []error{ErrInvalidArgument}, nil},
		{status.Error(codes.FailedPrecondition, "queue holds 5 items"), []error{ErrFailedPrecondition}, nil},
	}
	for _, c := range cases {
		next = c.err
		err := a.CreateQueue(ctx, QueueConfig{Name: "x"})
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%v: does not match %v", err, w)
			}
		}
		for _, w := range c.not {
			if errors.Is(err, w) {
				t.Errorf("%v: matches %v", err, w)
			}
		}
		if status.Code(err) != status.Code(c.err) || status.Convert(err).Message() != status.Convert(c.err).Message() {
			t.Errorf("%v: gRPC status not kept", err)
		}
	}
	next = status.Error(codes.AlreadyExists, `queue "x" already exists`)
	if err := a.EnsureQueue(ctx, QueueConfig{Name: "x"}); err != nil {
		t.Errorf("EnsureQueue of an existing queue: %v", err)
	}
}

// A follower's "LEADER_SWITCH <addr>" answer is followed to the leader.
func TestAdminLeaderSwitch(t *testing.T) {
	leader := &fakeManagement{create: func(*pb.CreateQueueRequest) error { return nil }}
	leaderAddr, _ := serve(t, "", func(s *grpc.Server) { managementpb.RegisterManagementServiceServer(s, leader) })
	follower := &fakeManagement{create: func(*pb.CreateQueueRequest) error {
		return status.Error(codes.Unavailable, "LEADER_SWITCH "+leaderAddr)
	}}
	followerAddr, _ := serve(t, "", func(s *grpc.Server) { managementpb.RegisterManagementServiceServer(s, follower) })
	a, err := NewAdminClient(followerAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateQueue(testCtx(t), QueueConfig{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateQueue(testCtx(t), QueueConfig{Name: "y"}); err != nil {
		t.Fatal(err)
	}
	if follower.calls.Load() != 1 || leader.calls.Load() != 2 {
		t.Errorf("calls: follower %d (want 1), leader %d (want 2)", follower.calls.Load(), leader.calls.Load())
	}
	a.Close()
	if err := a.CreateQueue(testCtx(t), QueueConfig{Name: "z"}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
