package service

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/raftnode"
)

// ClusterServer implements ClusterService.
type ClusterServer struct {
	octopusmqv1.UnimplementedClusterServiceServer
	*Service
}

// GetCluster reports the members and this node's Raft state.
func (s ClusterServer) GetCluster(ctx context.Context, _ *octopusmqv1.GetClusterRequest) (*octopusmqv1.GetClusterResponse, error) {
	r := s.node.Raft()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "raft configuration: %v", err)
	}
	leaderID, _ := s.node.Leader()
	stats := r.Stats()
	out := &octopusmqv1.GetClusterResponse{
		NodeId:       s.node.ID(),
		State:        r.State().String(),
		Term:         parseUint(stats["term"]),
		LastLogIndex: r.LastIndex(),
		CommitIndex:  r.CommitIndex(),
		AppliedIndex: s.node.AppliedIndex(),
		LeaderId:     leaderID,
	}
	for _, srv := range cf.Configuration().Servers {
		out.Members = append(out.Members, &octopusmqv1.Member{
			Id:            string(srv.ID),
			RaftAddress:   string(srv.Address),
			ClientAddress: s.state.MemberAddress(string(srv.ID)),
			Voter:         srv.Suffrage == raft.Voter,
			Leader:        string(srv.ID) == leaderID,
		})
	}
	return out, nil
}

// AddMember adds a voter or non-voter and records its client address.
func (s ClusterServer) AddMember(ctx context.Context, req *octopusmqv1.AddMemberRequest) (*octopusmqv1.AddMemberResponse, error) {
	if req.GetId() == "" || req.GetRaftAddress() == "" {
		return nil, status.Error(codes.InvalidArgument, "id and raft_address are required")
	}
	if !s.node.IsLeader() {
		return nil, s.toFault(raftnode.ErrNotLeader)
	}
	r := s.node.Raft()
	for _, srv := range r.GetConfiguration().Configuration().Servers {
		if string(srv.ID) == req.GetId() && string(srv.Address) == req.GetRaftAddress() {
			// Already a member: only (re)publish its client address.
			return &octopusmqv1.AddMemberResponse{}, s.publish(ctx, req)
		}
	}
	if err := s.node.VerifyPeer(ctx, req.GetRaftAddress()); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "raft_address %q of %q: %v", req.GetRaftAddress(), req.GetId(), err)
	}
	var f raft.IndexFuture
	if req.GetNonVoter() {
		f = r.AddNonvoter(raft.ServerID(req.GetId()), raft.ServerAddress(req.GetRaftAddress()), 0, 30*time.Second)
	} else {
		f = r.AddVoter(raft.ServerID(req.GetId()), raft.ServerAddress(req.GetRaftAddress()), 0, 30*time.Second)
	}
	if err := f.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "adding member %q: %v", req.GetId(), err)
	}
	if err := s.publish(ctx, req); err != nil {
		return nil, err
	}
	return &octopusmqv1.AddMemberResponse{}, nil
}

// publish records a member's client address in the replicated state.
func (s ClusterServer) publish(ctx context.Context, req *octopusmqv1.AddMemberRequest) error {
	if req.GetClientAddress() == "" || s.state.MemberAddress(req.GetId()) == req.GetClientAddress() {
		return nil
	}
	if _, err := s.node.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: req.GetId(), ClientAddress: req.GetClientAddress()}); err != nil {
		return s.toFault(err)
	}
	return nil
}

// RemoveMember removes a member (the leader steps down when it removes itself).
func (s ClusterServer) RemoveMember(ctx context.Context, req *octopusmqv1.RemoveMemberRequest) (*octopusmqv1.RemoveMemberResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	if !s.node.IsLeader() {
		return nil, s.toFault(raftnode.ErrNotLeader)
	}
	if err := s.node.Raft().RemoveServer(raft.ServerID(req.GetId()), 0, 30*time.Second).Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "removing member %q: %v", req.GetId(), err)
	}
	return &octopusmqv1.RemoveMemberResponse{}, nil
}

// TransferLeadership hands leadership to another voter.
func (s ClusterServer) TransferLeadership(ctx context.Context, req *octopusmqv1.TransferLeadershipRequest) (*octopusmqv1.TransferLeadershipResponse, error) {
	if !s.node.IsLeader() {
		return nil, s.toFault(raftnode.ErrNotLeader)
	}
	r := s.node.Raft()
	var f raft.Future
	if req.GetId() == "" {
		f = r.LeadershipTransfer()
	} else {
		var addr raft.ServerAddress
		for _, srv := range r.GetConfiguration().Configuration().Servers {
			if string(srv.ID) == req.GetId() {
				addr = srv.Address
			}
		}
		if addr == "" {
			return nil, status.Errorf(codes.NotFound, "member %q not found", req.GetId())
		}
		f = r.LeadershipTransferToServer(raft.ServerID(req.GetId()), addr)
	}
	if err := f.Error(); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "leadership transfer: %v", err)
	}
	return &octopusmqv1.TransferLeadershipResponse{}, nil
}
