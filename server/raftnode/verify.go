package raftnode

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
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
// It fails with ErrShutdown once the node shuts down.
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
	case <-n.stop:
		return ErrShutdown
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
		err := awaitFuture(n.raft.VerifyLeader(), n.stop)
		for _, ch := range batch {
			ch <- err
		}
	}
}

// awaitFuture waits for f, or fails with ErrShutdown once stop is closed. Raft can accept a
// future into its buffered queues after its main loop has ended, and then never answers it:
// without the stop path such a wait would last forever.
func awaitFuture(f raft.Future, stop <-chan struct{}) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-stop:
		return ErrShutdown
	}
}
