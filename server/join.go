package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// join asks the members listed in Config.Join to add this node, trying each in turn until
// one accepts (a follower forwards the request to the leader) or the server closes.
func (s *Server) join(clientAddr string) {
	raftAddr := s.cfg.RaftAdvertise
	if raftAddr == "" {
		raftAddr = s.cfg.RaftBind
	}
	req := &octopusmqv1.AddMemberRequest{Id: s.cfg.NodeID, RaftAddress: raftAddr, ClientAddress: clientAddr}
	backoff := 200 * time.Millisecond
	for {
		for _, addr := range s.cfg.Join {
			if s.node.IsLeader() || s.node.AppliedIndex() > 0 {
				return // already part of a cluster
			}
			if err := addMember(addr, req); err != nil {
				s.log.Warn("join attempt failed", "via", addr, "err", err)
				continue
			}
			s.log.Info("joined the cluster", "via", addr)
			return
		}
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

func addMember(addr string, req *octopusmqv1.AddMemberRequest) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = octopusmqv1.NewClusterServiceClient(conn).AddMember(ctx, req)
	return err
}

// publishAddress makes sure the replicated state holds this node's client address, so
// any node can point clients here when it leads (LEADER_SWITCH) and forward to it. It asks
// through this node's own port: the forwarder takes the request to the leader.
func (s *Server) publishAddress(clientAddr string) {
	raftAddr := s.cfg.RaftAdvertise
	if raftAddr == "" {
		raftAddr = s.cfg.RaftBind
	}
	req := &octopusmqv1.AddMemberRequest{Id: s.cfg.NodeID, RaftAddress: raftAddr, ClientAddress: clientAddr}
	backoff := 200 * time.Millisecond
	for s.node.State().MemberAddress(s.cfg.NodeID) != clientAddr {
		if _, _, err := s.node.WaitLeader(s.closedCtx); err != nil {
			return
		}
		if s.node.IsMember() {
			if err := addMember(loopback(s.Addr()), req); err == nil {
				return
			}
		}
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
