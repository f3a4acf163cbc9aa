package raftnode

import "context"

// WaitLeaderAddress waits until a leader is known and the replicated state holds its client
// address (members publish it through the log, so a new leader's may arrive a few entries
// after its election), and returns both.
func (n *Node) WaitLeaderAddress(ctx context.Context) (id, clientAddr string, err error) {
	for {
		changed := n.leaders.wait()
		applied := n.fsm.waitApplied()
		if id, _ := n.Leader(); id != "" {
			if addr := n.state.MemberAddress(id); addr != "" {
				return id, addr, nil
			}
		}
		select {
		case <-changed:
		case <-applied:
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-n.stop:
			return "", "", ErrShutdown
		}
	}
}

// LeaderChanged returns a channel closed at the next leader observation (a new leader, or
// none).
func (n *Node) LeaderChanged() <-chan struct{} { return n.leaders.wait() }
