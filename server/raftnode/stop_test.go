package raftnode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// neverFuture is an apply future Raft never answers (one queued after its main loop ended).
type neverFuture struct{ block chan struct{} }

func (f neverFuture) Error() error  { <-f.block; return nil }
func (f neverFuture) Index() uint64 { return 0 }
func (f neverFuture) Response() any { return nil }

var _ raft.ApplyFuture = neverFuture{}

// A command whose entry Raft never answers fails once Raft has stopped, with its outcome
// unknown, instead of waiting forever.
func TestResultLoopStopsWhenRaftStops(t *testing.T) {
	p := &proposer{inflight: make(chan inflight, 1), stop: make(chan struct{}), dead: make(chan struct{})}
	go p.resultLoop()
	defer close(p.inflight)
	pd := &Pending{done: make(chan proposalResult, 1)}
	p.pending.Add(1) // as batchLoop does for each entry it hands to Raft
	p.inflight <- inflight{future: neverFuture{block: make(chan struct{})}, props: []*proposal{{Pending: *pd}}}
	p.raftStopped()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pd.Wait(ctx); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrOutcomeUnknown once Raft stopped", err)
	}
}

// A linearizable read after shutdown fails promptly, also on a node that needs a
// VerifyLeader round (more than one voter).
func TestReadAfterShutdownFailsPromptly(t *testing.T) {
	n := startNode(t)
	n.Shutdown()
	n.fsm.soleVoter.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	for i := 0; i < 20; i++ {
		if err := n.ReadBarrier(ctx); err == nil {
			t.Fatal("a read after shutdown passed its barrier")
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("a read after shutdown took %v to fail", time.Since(start))
	}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_TICK, &raftpb.Tick{}); err == nil {
		t.Fatal("a proposal after shutdown succeeded")
	}
}
