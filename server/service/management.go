package service

import (
	"context"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// ManagementServer implements ManagementService (queues).
type ManagementServer struct {
	managementpb.UnimplementedManagementServiceServer
	*Service
}

// StorageManagementServer implements StorageManagementService.
type StorageManagementServer struct {
	managementpb.UnimplementedStorageManagementServiceServer
	*Service
}

// change proposes a catalog command and maps its failure to a gRPC status.
func (s *Service) change(ctx context.Context, typ raftpb.Type, cmd proto.Message) (*emptypb.Empty, error) {
	res, err := s.node.Propose(ctx, typ, cmd)
	if err != nil {
		return nil, s.toFault(err)
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return &emptypb.Empty{}, nil
}

// CreateQueue creates a queue.
func (s ManagementServer) CreateQueue(ctx context.Context, r *pb.CreateQueueRequest) (*emptypb.Empty, error) {
	if err := s.limits.checkNewName("queue_name", r.GetQueueName()); err != nil {
		return nil, err
	}
	if err := state.ValidateCreateQueue(r); err != nil {
		return nil, err
	}
	if err := s.checkQueueCap(); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_CREATE_QUEUE, r)
}

// ResizeQueue changes a queue's max_size.
func (s ManagementServer) ResizeQueue(ctx context.Context, r *pb.ResizeQueueRequest) (*emptypb.Empty, error) {
	if err := state.ValidateName("queue_name", r.GetQueueName()); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_RESIZE_QUEUE, r)
}

// DeleteQueue deletes a queue.
func (s ManagementServer) DeleteQueue(ctx context.Context, r *pb.DeleteQueueRequest) (*emptypb.Empty, error) {
	if err := state.ValidateName("queue_name", r.GetQueueName()); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_DELETE_QUEUE, r)
}

// PauseQueue pauses pulls.
func (s ManagementServer) PauseQueue(ctx context.Context, r *pb.PauseQueueRequest) (*emptypb.Empty, error) {
	if err := state.ValidateName("queue_name", r.GetQueueName()); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_PAUSE_QUEUE, r)
}

// ResumeQueue resumes pulls.
func (s ManagementServer) ResumeQueue(ctx context.Context, r *pb.ResumeQueueRequest) (*emptypb.Empty, error) {
	if err := state.ValidateName("queue_name", r.GetQueueName()); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_RESUME_QUEUE, r)
}

// ListQueues lists every queue (a linearizable read).
func (s ManagementServer) ListQueues(ctx context.Context, _ *emptypb.Empty) (*pb.ListQueuesResponse, error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	return &pb.ListQueuesResponse{Queues: s.node.ListQueues()}, nil
}

// CreateStorage creates a storage.
func (s StorageManagementServer) CreateStorage(ctx context.Context, r *pb.CreateStorageRequest) (*emptypb.Empty, error) {
	if err := s.limits.checkNewName("storage_name", r.GetStorageName()); err != nil {
		return nil, err
	}
	if err := s.checkStorageCap(); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_CREATE_STORAGE, r)
}

// DeleteStorage deletes a storage.
func (s StorageManagementServer) DeleteStorage(ctx context.Context, r *pb.DeleteStorageRequest) (*emptypb.Empty, error) {
	if err := state.ValidateName("storage_name", r.GetStorageName()); err != nil {
		return nil, err
	}
	return s.change(ctx, raftpb.Type_TYPE_DELETE_STORAGE, r)
}

// ListStorages lists every storage (a linearizable read).
func (s StorageManagementServer) ListStorages(ctx context.Context, _ *emptypb.Empty) (*pb.ListStoragesResponse, error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	return &pb.ListStoragesResponse{Storages: s.node.ListStorages()}, nil
}
