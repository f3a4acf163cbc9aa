package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// Precise wakeups: a change wakes only as many waiters as can proceed, and none is left
// asleep while it could. Wakeups are counted by the notifier (each waiter woken looks at
// the leader's state once), so these assertions do not depend on timing.

type lockResult struct {
	d   *pb.StorageDataResponse
	err *apierr.Error
}

// setKey sets key in storage "s".
func setKey(t *testing.T, s *Service, key string) {
	t.Helper()
	if _, err := s.setOp("s", s.newSession(), &pb.StorageSetRequest{Key: []byte(key), Value: []byte("v")})(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// startLocker starts a waiting lock in storage "s" (of key, or any key with prefix when
// any) and waits until it is in its line, n waiters in all.
func startLocker(t *testing.T, s *Service, session uint64, any bool, key, prefix string, n int, out chan<- lockResult) {
	t.Helper()
	op := s.lockOp("s", session, any, []byte(key), []byte(prefix), nil, time.Minute)
	go func() {
		d, err := op(context.Background())
		out <- lockResult{d, err}
	}()
	line := state.LockKey("s", []byte(key))
	if any {
		line = state.AnyLockKey("s", []byte(prefix))
	}
	waitFor(t, "the lock to wait", func() bool { return s.node.Notifier().Waiters(line) == n })
}

// 100 waiters to lock one key: each release wakes one waiter, the oldest, which takes the
// key; each gets it once, in the order they came.
func TestLockWaitersTakeTurnsOneWakeupPerRelease(t *testing.T) {
	s := fuzzService(t)
	ctx := context.Background()
	setKey(t, s, "k")
	holder := s.newSession()
	first, err := s.lockOp("s", holder, false, []byte("k"), nil, nil, 0)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	cmds := s.node.AppliedCommands()
	sessions := make([]uint64, n)
	results := make([]chan lockResult, n)
	for i := range n {
		sessions[i], results[i] = s.newSession(), make(chan lockResult, 1)
		startLocker(t, s, sessions[i], false, "k", "", i+1, results[i])
	}
	woken := s.node.Notifier().Woken()
	// Release; each waiter, once it holds the key, releases it in turn.
	if err := s.releaseOp("s", holder, &pb.StorageReleaseIdRequest{Id: first.GetId()})(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		select {
		case r := <-results[i]:
			if r.err != nil || string(r.d.GetKey()) != "k" {
				t.Fatalf("waiter %d: lock = %v, %v", i, r.d, r.err)
			}
			// Nobody else got it meanwhile: the next waiters are all still waiting.
			if w := s.node.Notifier().Waiters(state.LockKey("s", []byte("k"))); w != n-1-i {
				t.Fatalf("waiter %d holds the key and %d wait, want %d", i, w, n-1-i)
			}
			if err := s.releaseOp("s", sessions[i], &pb.StorageReleaseIdRequest{Id: r.d.GetId()})(ctx); err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("waiter %d (in order) did not get the key", i)
		}
	}
	if got := s.node.Notifier().Woken() - woken; got != n {
		t.Fatalf("%d releases with %d waiters woke %d waiters, want %d (one per release)", n, n, got, n)
	}
	// A first try (refused: busy), then one lock and one release per waiter: no waiter
	// tried again without getting the key.
	if got := s.node.AppliedCommands() - cmds; got != 1+3*n {
		t.Fatalf("%d waiters taking turns applied %d commands, want %d", n, got, 1+3*n)
	}
	if l := s.node.Notifier().Len(); l != 0 {
		t.Fatalf("%d notifier entries left after every waiter ended", l)
	}
}

// Changes of other keys wake no lock waiter: not a set, lock, release or delete of another
// key, nor a key without the prefix a lock-any waits for.
func TestLockWaitersNotWokenByOtherKeys(t *testing.T) {
	s := fuzzService(t)
	ctx := context.Background()
	setKey(t, s, "k")
	holder := s.newSession()
	if _, err := s.lockOp("s", holder, false, []byte("k"), nil, nil, 0)(ctx); err != nil {
		t.Fatal(err)
	}
	out := make(chan lockResult, 11)
	cmds := s.node.AppliedCommands()
	for i := range 10 {
		startLocker(t, s, s.newSession(), false, "k", "", i+1, out)
	}
	startLocker(t, s, s.newSession(), true, "", "p/", 1, out)
	woken := s.node.Notifier().Woken()
	other := s.newSession()
	for i := range 5 {
		key := fmt.Sprintf("other-%d", i)
		setKey(t, s, key)
		e, err := s.lockOp("s", other, false, []byte(key), nil, nil, 0)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.releaseOp("s", other, &pb.StorageReleaseIdRequest{Id: e.GetId()})(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.deleteKeyOp("s", other, &pb.StorageDeleteRequest{Key: []byte(key)})(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.node.Notifier().Woken() - woken; got != 0 {
		t.Fatalf("20 changes of other keys woke %d lock waiters, want 0", got)
	}
	// The waiters' first tries (refused: busy or no key), then only the changes.
	if got := s.node.AppliedCommands() - cmds; got != 11+20 {
		t.Fatalf("20 changes of other keys applied %d commands, want 11 first tries + 20 (a waiter tried again)", got)
	}
	// A key with the prefix wakes the lock-any waiter, only it, and it takes that key.
	setKey(t, s, "p/1")
	select {
	case r := <-out:
		if r.err != nil || string(r.d.GetKey()) != "p/1" {
			t.Fatalf("lock-any = %v, %v; want p/1", r.d, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the lock-any waiter did not get the key with its prefix")
	}
	if got := s.node.Notifier().Woken() - woken; got != 1 {
		t.Fatalf("a key with the prefix woke %d waiters, want 1", got)
	}
}

// Lock-any waiters: each key that becomes lockable (set, released, its delay run out)
// wakes one of them, and each takes a different key.
func TestLockAnyWaitersOneWakeupPerLockableKey(t *testing.T) {
	s := fuzzService(t)
	const n, k = 32, 3
	out := make(chan lockResult, n)
	for i := range n {
		startLocker(t, s, s.newSession(), true, "", "p/", i+1, out)
	}
	woken := s.node.Notifier().Woken()
	for i := range k {
		setKey(t, s, fmt.Sprintf("p/%d", i))
	}
	// A delayed key wakes nobody until its delay runs out (a tick), then one.
	if _, err := s.setOp("s", s.newSession(), &pb.StorageSetRequest{Key: []byte("p/late"), Value: []byte("v"), Delay: durationpb.New(200 * time.Millisecond)})(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range k + 1 {
		select {
		case r := <-out:
			if r.err != nil || seen[string(r.d.GetKey())] {
				t.Fatalf("lock-any = %v, %v (seen %v)", r.d, r.err, seen)
			}
			seen[string(r.d.GetKey())] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d lockable keys were taken", len(seen), k+1)
		}
	}
	if !seen["p/late"] {
		t.Fatalf("keys taken %v, want p/late among them", seen)
	}
	waitFor(t, "the rest to wait", func() bool { return s.node.Notifier().Waiters(state.AnyLockKey("s", []byte("p/"))) == n-k-1 })
	// One per key, and one more where a key became lockable while a waiter woken for an
	// earlier one was looking (it passes the wakeup on).
	if got := s.node.Notifier().Woken() - woken; got < k+1 || got > 2*(k+1) {
		t.Fatalf("%d lockable keys with %d lock-any waiters woke %d, want %d to %d", k+1, n, got, k+1, 2*(k+1))
	}
}

// A waiter woken that gives up (its deadline) passes the wakeup on: the next waiter
// gets the key.
func TestLockWakeupPassedOnByAWaiterThatLeft(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setKey(t, s, "k")
	holder := s.newSession()
	e, err := s.lockOp("s", holder, false, []byte("k"), nil, nil, 0)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := s.node.Notifier()
	// The first waiter is a bare place in line that never looks again.
	gone := n.HoldLock("s", false, []byte("k"), nil, 0)
	out := make(chan lockResult, 1)
	startLocker(t, s, s.newSession(), false, "k", "", 2, out)
	if err := s.releaseOp("s", holder, &pb.StorageReleaseIdRequest{Id: e.GetId()})(ctx); err != nil {
		t.Fatal(err)
	}
	<-gone.C() // the oldest is woken, and leaves without trying
	select {
	case r := <-out:
		t.Fatalf("the second waiter was woken with the first: %v, %v", r.d, r.err)
	default:
	}
	gone.Release()
	select {
	case r := <-out:
		if r.err != nil {
			t.Fatalf("lock = %v", r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the wakeup was not passed on: the second waiter sleeps with the key free")
	}
}

// delayedItems enqueues one item per delay into queue "q".
func delayedItems(t *testing.T, s *Service, delays ...time.Duration) {
	t.Helper()
	items := make([]*pb.InputItem, len(delays))
	for i, d := range delays {
		items[i] = &pb.InputItem{Value: []byte(fmt.Sprint("item-", i)), Delay: durationpb.New(d)}
	}
	if _, err := s.enqueueOp("q", items, 0)(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// collect takes k pulls from got and checks every item came once.
func collect(t *testing.T, got chan pulled, k int) {
	t.Helper()
	seen := map[string]bool{}
	for i := range k {
		select {
		case r := <-got:
			if r.err != nil || len(r.items) != 1 || seen[string(r.items[0].GetValue())] {
				t.Fatalf("pull %d = %v, %v (seen %v)", i, r.items, r.err, seen)
			}
			seen[string(r.items[0].GetValue())] = true
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d items delivered: a waiter sleeps with an item ready", i, k)
		}
	}
}

// 64 waiting pullers, 64 delayed items maturing one after another: each tick wakes as
// many pullers as items it made visible, not the line; every item is delivered once.
func TestDelayedItemsWakeOnePullerPerItem(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 64
	got := startPullers(t, s, ctx, n, time.Minute)
	woken := s.node.Notifier().Woken()
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = time.Duration(i+1) * 5 * time.Millisecond
	}
	delayedItems(t, s, delays...)
	collect(t, got, n)
	// One per item, and one more where a wakeup reached a puller that was about to pull
	// anyway (it passes it on); waking the line at each tick would be n(n+1)/2 = 2080.
	if w := s.node.Notifier().Woken() - woken; w < n || w > 2*n {
		t.Fatalf("%d delayed items with %d waiting pullers woke %d waiters, want %d to %d", n, n, w, n, 2*n)
	}
}

// Requeued items, and items whose lease ran out, wake one waiting puller each.
func TestRequeueAndLeaseEndWakeOnePullerPerItem(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := (ManagementServer{Service: s}).CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "short", Lease: durationpb.New(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "a", "b", "c", "d", "e")
	consumer := s.newSession()
	items, _, err := s.pullOp("q", consumer, 3, 0)(ctx)
	if err != nil || len(items) != 3 {
		t.Fatalf("pull = %v, %v", items, err)
	}
	// Two left ready; pullers beyond them wait.
	rest, _, err := s.pullOp("q", consumer, 2, 0)(ctx)
	if err != nil || len(rest) != 2 {
		t.Fatalf("pull = %v, %v", rest, err)
	}
	const n = 64
	got := startPullers(t, s, ctx, n, time.Minute)
	woken := s.node.Notifier().Woken()
	req := make([]*pb.RequeueItem, len(items))
	for i, it := range items {
		req[i] = &pb.RequeueItem{Id: it.GetId()}
	}
	if _, err := s.requeueOp("q", req)(ctx); err != nil {
		t.Fatal(err)
	}
	collect(t, got, 3)
	if w := s.node.Notifier().Woken() - woken; w != 3 {
		t.Fatalf("3 requeued items with %d waiting pullers woke %d, want 3", n, w)
	}
	// A session closed returns its leases: one wakeup per item.
	woken = s.node.Notifier().Woken()
	if _, fault, err := s.node.CloseSession(&raftpb.CloseSession{Session: consumer}).Wait(ctx); err != nil || fault != nil {
		t.Fatal(err, fault)
	}
	collect(t, got, 2)
	if w := s.node.Notifier().Woken() - woken; w != 2 {
		t.Fatalf("a closed session's 2 items with %d waiting pullers woke %d, want 2", n-3, w)
	}
	cancel()
	for range n - 5 {
		<-got
	}

	// Leases that run out on queue "short".
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if _, err := s.enqueueOp("short", []*pb.InputItem{{Value: []byte("x")}, {Value: []byte("y")}}, 0)(ctx2); err != nil {
		t.Fatal(err)
	}
	if items, _, err := s.pullOp("short", s.newSession(), 2, 0)(ctx2); err != nil || len(items) != 2 {
		t.Fatalf("pull = %v, %v", items, err)
	}
	out := make(chan pulled, 16)
	for i := range 16 {
		op := s.pullOp("short", s.newSession(), 1, time.Minute)
		go func() {
			items, _, err := op(ctx2)
			out <- pulled{items, err}
		}()
		waitFor(t, "the puller to wait", func() bool { return s.node.Notifier().Waiters(state.QueueKey("short")) == i+1 })
	}
	woken = s.node.Notifier().Woken()
	collect(t, out, 2)
	if w := s.node.Notifier().Woken() - woken; w != 2 {
		t.Fatalf("2 leases ending with 16 waiting pullers woke %d, want 2", w)
	}
}

// Commands per item with 64 waiting consumers, one item enqueued at a time: the enqueue
// and the pull that leased it, nothing for the waiters that did not get it.
func TestCommandsPerItemWith64WaitingConsumers(t *testing.T) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n, items = 64, 32
	got := startPullers(t, s, ctx, n, time.Minute)
	cmds, woken := s.node.AppliedCommands(), s.node.Notifier().Woken()
	for i := range items {
		enqueue(t, s, fmt.Sprint("v", i))
		collect(t, got, 1)
	}
	perItem := float64(s.node.AppliedCommands()-cmds) / items
	wakeups := float64(s.node.Notifier().Woken()-woken) / items
	t.Logf("%d waiting consumers: %.2f commands and %.2f wakeups per item", n, perItem, wakeups)
	if perItem > 2.7 {
		t.Fatalf("%.2f commands per item with %d waiting consumers, want at most 2.7", perItem, n)
	}
	if wakeups > 1.25 {
		t.Fatalf("%.2f wakeups per item with %d waiting consumers, want about 1", wakeups, n)
	}
}
