package server

import (
	"context"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// leaderFromPeers asks the other members (at the client addresses the log holds) who
// leads, for a node that knows no leader itself (it is cut off, or late in an election),
// and returns the leader's client address: a member that says it leads, else one a member
// names. Empty when none answers with one within ctx.
func (f *forwarder) leaderFromPeers(ctx context.Context) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if creds := f.auth.NodeCredentials(); len(creds) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.New(creds))
	}
	ctx = metadata.AppendToOutgoingContext(ctx, forwardedKey, "1")
	found := make(chan string, 1)
	var wg sync.WaitGroup
	for _, id := range f.state.MemberIDs() {
		addr := f.state.MemberAddress(id)
		if id == f.node.ID() || addr == "" || addr == f.self {
			continue
		}
		conn, err := f.conn(addr)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := octopusmqv1.NewClusterServiceClient(conn).GetCluster(ctx, &octopusmqv1.GetClusterRequest{})
			if err != nil {
				return
			}
			leader := ""
			if st.GetState() == "Leader" {
				leader = addr
			} else {
				for _, m := range st.GetMembers() {
					if m.GetLeader() && m.GetId() != f.node.ID() {
						leader = m.GetClientAddress()
					}
				}
			}
			if leader != "" {
				select {
				case found <- leader:
				default:
				}
			}
		}()
	}
	go func() { wg.Wait(); close(found) }()
	return <-found
}
