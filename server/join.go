package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// memberRequest describes this node to the cluster.
func (s *Server) memberRequest(clientAddr string) *octopusmqv1.AddMemberRequest {
	raftAddr := s.cfg.RaftAdvertise
	if raftAddr == "" {
		raftAddr = s.cfg.RaftBind
	}
	return &octopusmqv1.AddMemberRequest{Id: s.cfg.NodeID, RaftAddress: raftAddr, ClientAddress: clientAddr}
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
// one accepts (a follower forwards the request to the leader) or the server closes.
func (s *Server) join(clientAddr string) {
	req := s.memberRequest(clientAddr)
	s.retry(func() bool {
		for _, addr := range s.cfg.Join {
			if s.node.IsLeader() || s.node.AppliedIndex() > 0 {
				return true // already part of a cluster
			}
			if err := addMember(addr, req); err != nil {
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
		return s.node.IsMember() && addMember(loopback(s.Addr()), req) == nil
	})
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
