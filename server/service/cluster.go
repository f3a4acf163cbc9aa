package service

import (
	"context"
	"errors"
	"strconv"
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
		LogFormat:    raftnode.LogFormat,
	}
	conf := cf.Configuration()
	for _, srv := range conf.Servers {
		out.Members = append(out.Members, &octopusmqv1.Member{
			Id:            string(srv.ID),
			RaftAddress:   string(srv.Address),
			ClientAddress: s.node.MemberAddress(string(srv.ID)),
			Voter:         srv.Suffrage == raft.Voter,
			Leader:        string(srv.ID) == leaderID,
			Suffrage:      s.node.Suffrage(conf, string(srv.ID)),
			LogFormat:     s.node.MemberLogFormat(string(srv.ID)),
		})
	}
	return out, nil
}

// AddMember adds a member as a non-voter. Unless the request asks for a non-voter for good,
// it is a learner: the leader's membership upkeep (raftnode/members.go) promotes it to voter
// once it has caught up, so a member that never answers never gets a vote. Adding an
// existing member again updates its addresses and keeps its suffrage.
func (s ClusterServer) AddMember(ctx context.Context, req *octopusmqv1.AddMemberRequest) (*octopusmqv1.AddMemberResponse, error) {
	switch {
	case req.GetId() == "":
		return nil, status.Error(codes.InvalidArgument, "id is required")
	case req.GetRaftAddress() == "":
		return nil, status.Error(codes.InvalidArgument, "raft_address is required")
	}
	if !s.node.IsLeader() {
		return nil, s.toFault(raftnode.ErrNotLeader)
	}
	r := s.node.Raft()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "raft configuration: %v", err)
	}
	var existing *raft.Server
	for _, srv := range cf.Configuration().Servers {
		if string(srv.ID) == req.GetId() {
			existing = &srv
		}
	}
	if existing == nil {
		// A server of an older version must not replay entries it cannot apply.
		if err := s.node.CheckJoinLogFormat(ctx, req.GetId(), req.GetClientAddress()); err != nil {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
	}
	if existing == nil || string(existing.Address) != req.GetRaftAddress() {
		// With peer TLS, a member must complete a peer handshake first: a server that cannot
		// (no certificate of the cluster's CA) could never take part.
		if err := s.node.VerifyPeer(ctx, req.GetRaftAddress()); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "raft_address %q of %q: %v", req.GetRaftAddress(), req.GetId(), err)
		}
		// AddNonvoter never grants a vote: a new server joins without one, and an existing
		// voter keeps its vote with the new address.
		f := r.AddNonvoter(raft.ServerID(req.GetId()), raft.ServerAddress(req.GetRaftAddress()), 0, 30*time.Second)
		if err := f.Error(); err != nil {
			return nil, membershipError("adding member "+strconv.Quote(req.GetId()), err)
		}
	}
	if err := s.publish(ctx, req, existing); err != nil {
		return nil, err
	}
	return &octopusmqv1.AddMemberResponse{}, nil
}

// publish records a member's client address and whether the leader is to promote it.
// That is decided when the member is first recorded (a member without a record: new, or
// added when the leader failed before recording it): a non-voter is promoted unless the
// request asks for a non-voter for good. A recorded member keeps its say.
func (s ClusterServer) publish(ctx context.Context, req *octopusmqv1.AddMemberRequest, existing *raft.Server) error {
	id := req.GetId()
	addr, promote := s.node.MemberAddress(id), s.node.MemberPromote(id)
	rec := &raftpb.SetMemberInfo{Id: id, ClientAddress: addr, Promote: promote, LogFormat: s.node.MemberLogFormat(id)}
	if req.GetClientAddress() != "" {
		rec.ClientAddress = req.GetClientAddress()
	}
	if addr == "" && !promote {
		isVoter := existing != nil && existing.Suffrage == raft.Voter
		rec.Promote = !req.GetNonVoter() && !isVoter
	}
	if rec.ClientAddress == addr && rec.Promote == promote {
		return nil // nothing new
	}
	if _, err := s.node.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, rec); err != nil {
		return s.toFault(err)
	}
	return nil
}

// RemoveMember removes a member (the leader steps down when it removes itself) and forgets
// its record. An id that is not a member is NotFound.
func (s ClusterServer) RemoveMember(ctx context.Context, req *octopusmqv1.RemoveMemberRequest) (*octopusmqv1.RemoveMemberResponse, error) {
	if req.GetId() == "" {
		return nil, status.Error(codes.InvalidArgument, "id is required")
	}
	if !s.node.IsLeader() {
		return nil, s.toFault(raftnode.ErrNotLeader)
	}
	r := s.node.Raft()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, status.Errorf(codes.Unavailable, "raft configuration: %v", err)
	}
	found := false
	for _, srv := range cf.Configuration().Servers {
		found = found || string(srv.ID) == req.GetId()
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "id: member %q not found", req.GetId())
	}
	if err := r.RemoveServer(raft.ServerID(req.GetId()), 0, 30*time.Second).Error(); err != nil {
		return nil, membershipError("removing member "+strconv.Quote(req.GetId()), err)
	}
	if req.GetId() != s.node.ID() {
		// A removed leader has stepped down; its successor's upkeep forgets the record
		// (as it does when this fails).
		if err := s.node.ForgetMember(ctx, req.GetId()); err != nil {
			s.log.Warn("forgetting a removed member", "member", req.GetId(), "err", err)
		}
	}
	return &octopusmqv1.RemoveMemberResponse{}, nil
}

// membershipError maps a failed configuration change: leadership problems are Unavailable
// (retry; the forwarder finds the new leader), anything else, such as removing the last
// voter, is FailedPrecondition.
func membershipError(what string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrEnqueueTimeout):
		return status.Errorf(codes.Unavailable, "%s: %v", what, err)
	}
	return status.Errorf(codes.FailedPrecondition, "%s: %v", what, err)
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
