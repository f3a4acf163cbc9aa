package service

import (
	"context"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// waitFor polls cond (state changes in other goroutines with no event to await) for up
// to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type pulled struct {
	items []*pb.Item
	err   *apierr.Error
}

// startPullers starts n waiting pulls of queue "q" (one item each, sessions of their own)
// and waits until all of them are in the queue's line.
func startPullers(t *testing.T, s *Service, ctx context.Context, n int, timeout time.Duration) chan pulled {
	t.Helper()
	out := make(chan pulled, n)
	base := s.node.Notifier().Waiters(state.QueueKey("q"))
	for range n {
		op := s.pullOp("q", s.newSession(), 1, timeout)
		go func() {
			items, _, err := op(ctx)
			out <- pulled{items, err}
		}()
	}
	waitFor(t, "the pullers to wait", func() bool { return s.node.Notifier().Waiters(state.QueueKey("q")) == base+n })
	return out
}

func enqueue(t *testing.T, s *Service, values ...string) {
	t.Helper()
	items := make([]*pb.InputItem, len(values))
	for i, v := range values {
		items[i] = &pb.InputItem{Value: []byte(v)}
	}
	if _, err := s.enqueueOp("q", items, 0)(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// N waiting consumers and one enqueue: one pull entry, not N. Waiting itself writes
// nothing to the log.
func TestWaitingPullersOneEnqueueWritesO1Entries(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 16
	// Commands applied, counted by the state as it applies them (raft's applied index is
	// updated after the apply answers, so it can lag a finished call and miscount; and
	// group commit could pack N pulls into one entry, so commands are the stricter count).
	cmds := s.node.AppliedCommands()
	got := startPullers(t, s, ctx, n, time.Minute)
	if d := s.node.AppliedCommands() - cmds; d != 0 {
		t.Fatalf("%d waiting pulls applied %d commands, want 0", n, d)
	}
	enqueue(t, s, "one")
	r := <-got
	if r.err != nil || len(r.items) != 1 || string(r.items[0].GetValue()) != "one" {
		t.Fatalf("pull = %v, %v; want the item", r.items, r.err)
	}
	waitFor(t, "the rest to wait again", func() bool { return s.node.Notifier().Waiters(state.QueueKey("q")) == n-1 })
	// The enqueue and the one pull that leased the item: any other waiter that proposed
	// would have added a command.
	if d := s.node.AppliedCommands() - cmds; d != 2 {
		t.Fatalf("one enqueue with %d waiting pullers applied %d commands, want 2", n, d)
	}
	select {
	case r := <-got:
		t.Fatalf("a second puller returned: %v, %v", r.items, r.err)
	default:
	}
	cancel()
	for range n - 1 {
		if r := <-got; r.err == nil || len(r.items) != 0 {
			t.Fatalf("cancelled pull = %v, %v; want an error and no item", r.items, r.err)
		}
	}
	if w := s.node.Notifier().Waiters(state.QueueKey("q")); w != 0 {
		t.Fatalf("%d waiters left after every pull ended", w)
	}
}

// A batch of k items with more waiting consumers: every item is delivered exactly once,
// with about one pull entry per item.
func TestWaitingPullersBatchEachItemOnce(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n, k = 12, 5
	got := startPullers(t, s, ctx, n, time.Minute)
	before := s.node.AppliedCommands()
	enqueue(t, s, "a", "b", "c", "d", "e")
	seen := map[string]bool{}
	for range k {
		r := <-got
		if r.err != nil || len(r.items) != 1 {
			t.Fatalf("pull = %v, %v; want one item", r.items, r.err)
		}
		v := string(r.items[0].GetValue())
		if seen[v] {
			t.Fatalf("item %q delivered twice", v)
		}
		seen[v] = true
	}
	waitFor(t, "the rest to wait again", func() bool { return s.node.Notifier().Waiters(state.QueueKey("q")) == n-k })
	// The enqueue, k pulls that leased, and at most k that raced for an item already taken.
	if d := s.node.AppliedCommands() - before; d > 1+2*k {
		t.Fatalf("%d items with %d waiting pullers applied %d commands, want at most %d", k, n, d, 1+2*k)
	}
}

// A pull with nothing to lease: without a timeout it answers at once, with one after the
// timeout, and neither writes to the log.
func TestEmptyPullWritesNothingAndHonoursDeadline(t *testing.T) {
	s := fuzzService(t)
	before := s.node.AppliedCommands()
	items, paused, err := s.pullOp("q", s.newSession(), 10, 0)(context.Background())
	if err != nil || len(items) != 0 || paused {
		t.Fatalf("empty pull = %v, %v, %v", items, paused, err)
	}
	start := time.Now()
	items, _, err = s.pullOp("q", s.newSession(), 10, 150*time.Millisecond)(context.Background())
	if err != nil || len(items) != 0 {
		t.Fatalf("waiting pull = %v, %v", items, err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("the pull returned after %v, before its 150ms timeout", el)
	}
	if d := s.node.AppliedCommands() - before; d != 0 {
		t.Fatalf("empty pulls applied %d commands, want 0", d)
	}
	// A pull of a queue that does not exist still says so.
	if _, _, err := s.pullOp("nope", s.newSession(), 1, 0)(context.Background()); err == nil || err.Status != pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND {
		t.Fatalf("pull of a missing queue: %v", err)
	}
}
