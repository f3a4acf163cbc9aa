package raftnode

import (
	"context"
	"sync"
)

// verifier shares VerifyLeader rounds between concurrent reads: a read joins the next round
// that starts after it arrived (never one already in flight), so every read still gets a
// leadership check that began after the read did, while a burst of reads costs one round.
type verifier struct {
	mu      sync.Mutex
	waiting []chan error
	running bool
}

// verifyLeader confirms, with a round started after this call, that the node still leads.
func (n *Node) verifyLeader(ctx context.Context) error {
	v := &n.verify
	ch := make(chan error, 1)
	v.mu.Lock()
	v.waiting = append(v.waiting, ch)
	if !v.running {
		v.running = true
		go n.verifyRounds()
	}
	v.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *Node) verifyRounds() {
	v := &n.verify
	for {
		v.mu.Lock()
		batch := v.waiting
		v.waiting = nil
		if len(batch) == 0 {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		err := n.raft.VerifyLeader().Error()
		for _, ch := range batch {
			ch <- err
		}
	}
}
