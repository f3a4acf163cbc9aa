package server

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/raftnode"
)

// memberRequest describes this node to the cluster.
func (s *Server) memberRequest(clientAddr string) *octopusmqv1.AddMemberRequest {
	raftAddr := s.cfg.RaftAdvertise
	if raftAddr == "" {
		raftAddr = s.cfg.RaftBind
	}
	// A node started with --join asks for a vote (it joins as a learner and is promoted once
	// caught up); this only counts where the cluster holds no record of it yet.
	return &octopusmqv1.AddMemberRequest{Id: s.cfg.NodeID, RaftAddress: raftAddr, ClientAddress: clientAddr, NonVoter: len(s.cfg.Join) == 0}
}

// retry calls try with exponential backoff (200 ms doubling to 5 s) until it reports done
// or the server closes.
func (s *Server) retry(try func() (done bool)) {
	backoff := 200 * time.Millisecond
	for !try() {
		select {
		case <-s.closed:
			return
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

// join asks the members listed in Config.Join to add this node, trying each in turn until
// one accepts (a follower forwards the request to the leader) or the server closes. The
// list may name this node too (one list for every member): it is skipped, since asking
// itself would only wait for a leader it cannot know yet.
func (s *Server) join(clientAddr string) {
	req := s.memberRequest(clientAddr)
	var others []string
	for _, addr := range s.cfg.Join {
		if s.isSelf(addr, clientAddr) {
			s.log.Info("join: skipping this node's own address", "addr", addr)
			continue
		}
		others = append(others, addr)
	}
	if len(others) == 0 {
		s.log.Warn("join: --join names only this node; waiting to be added by a member")
		return
	}
	s.retry(func() bool {
		for _, addr := range others {
			if s.node.IsLeader() || s.node.AppliedIndex() > 0 {
				return true // already part of a cluster
			}
			if err := s.addMember(addr, req); err != nil {
				s.log.Warn("join attempt failed", "via", addr, "err", err)
				continue
			}
			s.log.Info("joined the cluster", "via", addr)
			return true
		}
		return false
	})
}

// publishAddress makes sure the replicated state holds this node's client address, so
// any node can point clients here when it leads (LEADER_SWITCH) and forward to it. It asks
// through this node's own port: the forwarder takes the request to the leader.
func (s *Server) publishAddress(clientAddr string) {
	req := s.memberRequest(clientAddr)
	s.retry(func() bool {
		if s.node.State().MemberAddress(s.cfg.NodeID) == clientAddr {
			return true
		}
		if _, _, err := s.node.WaitLeader(s.closedCtx); err != nil {
			return true // closing
		}
		return s.node.IsMember() && s.addMemberHere(req) == nil
	})
}

// addMember asks the member at addr to add this node, as this node (TLS and the node token
// when configured).
func (s *Server) addMember(addr string, req *octopusmqv1.AddMemberRequest) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(s.auth.ClientCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.NewOutgoingContext(ctx, metadata.New(s.auth.NodeCredentials()))
	_, err = octopusmqv1.NewClusterServiceClient(conn).AddMember(ctx, req)
	return err
}

// isSelf reports whether addr is this node's own client port: its advertised or listen
// address, or a name resolving to one of this host's addresses with the listen port.
func (s *Server) isSelf(addr, advertise string) bool {
	if addr == advertise || loopback(addr) == loopback(s.Addr()) {
		return true
	}
	host, port, err := net.SplitHostPort(addr)
	_, ownPort, _ := net.SplitHostPort(s.Addr())
	if err != nil || port != ownPort {
		return false
	}
	ctx, cancel := context.WithTimeout(s.closedCtx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	local, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ip.IP.IsLoopback() || ip.IP.IsUnspecified() {
			return true
		}
		for _, a := range local {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip.IP) {
				return true
			}
		}
	}
	return false
}

// probeMember asks a member, over its client port, for its id, its leader and its applied
// index: the leader promotes a learner once it has caught up (raftnode/members.go).
func (s *Server) probeMember(ctx context.Context, id, clientAddr string) (raftnode.MemberProgress, error) {
	if s.closedCtx.Err() != nil {
		return raftnode.MemberProgress{}, raftnode.ErrShutdown // the forwarder's pool is closing
	}
	conn, err := s.fwd.conn(clientAddr)
	if err != nil {
		return raftnode.MemberProgress{}, err
	}
	ctx = metadata.NewOutgoingContext(ctx, metadata.New(s.auth.NodeCredentials())) // as this node
	st, err := octopusmqv1.NewClusterServiceClient(conn).GetCluster(ctx, &octopusmqv1.GetClusterRequest{})
	if err != nil {
		return raftnode.MemberProgress{}, err
	}
	return raftnode.MemberProgress{NodeID: st.GetNodeId(), LeaderID: st.GetLeaderId(), Applied: st.GetAppliedIndex(), LogFormat: st.GetLogFormat()}, nil
}

// addMemberHere sends AddMember through this node's own gRPC server over the in-process
// connection, as the node itself (the forwarder takes it to the leader).
func (s *Server) addMemberHere(req *octopusmqv1.AddMemberRequest) error {
	ctx, cancel := context.WithTimeout(s.closedCtx, 30*time.Second)
	defer cancel()
	_, err := octopusmqv1.NewClusterServiceClient(s.gwConn).AddMember(auth.NodeContext(ctx), req)
	return err
}
