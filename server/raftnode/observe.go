package raftnode

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// leaderWatch turns Raft's leader observations into a channel closed at every change, so
// callers can wait for a leader without polling.
type leaderWatch struct {
	mu      sync.Mutex
	changed chan struct{}
	obs     *raft.Observer
}

func (n *Node) watchLeader() {
	w := &leaderWatch{changed: make(chan struct{})}
	ch := make(chan raft.Observation, 16)
	w.obs = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(w.obs)
	n.leaders = w
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-ch:
				w.mu.Lock()
				close(w.changed)
				w.changed = make(chan struct{})
				w.mu.Unlock()
			case <-n.stop:
				n.raft.DeregisterObserver(w.obs)
				return
			}
		}
	}()
}

func (w *leaderWatch) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// WaitLeader waits until a leader is known and returns its id and Raft address.
func (n *Node) WaitLeader(ctx context.Context) (id, raftAddr string, err error) {
	for {
		ch := n.leaders.wait()
		if id, addr := n.Leader(); id != "" {
			return id, addr, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-n.stop:
			return "", "", ErrShutdown
		}
	}
}
