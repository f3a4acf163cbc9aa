package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/state"
)

// TestWakeupsPerEvent measures what one change costs with 64 and 1000 waiters: waiters
// woken (each looks at the leader's state once) and commands applied, for an enqueue, a
// tick making a delayed item visible, a requeue, a lock released, and a set of another
// key. Counts, not times: they do not depend on the machine's load. Run with -v for the
// table (DESIGN "Waiting without polling" quotes it).
func TestWakeupsPerEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	for _, n := range []int{64, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { measureWakeups(t, n) })
	}
}

func measureWakeups(t *testing.T, n int) {
	s := fuzzService(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	notify := s.node.Notifier()
	qkey := state.QueueKey("q")
	got := startPullers(t, s, ctx, n, 5*time.Minute)
	// measure runs one change, then waits until the waiters left are back in line, and
	// reports the wakeups and the commands it cost beyond its own.
	measure := func(name string, own int, change func(), waiters int, key string) {
		w, c := notify.Woken(), s.node.AppliedCommands()
		change()
		waitFor(t, "the waiters to wait again", func() bool { return notify.Waiters(key) == waiters })
		woken, cmds := notify.Woken()-w, int(s.node.AppliedCommands()-c)-own
		t.Logf("%5d waiters | %-36s | %5d woken | %3d extra commands", n, name, woken, cmds)
		if woken > 2 {
			t.Errorf("%s with %d waiters woke %d, want 1 (2 at most)", name, n, woken)
		}
	}
	measure("enqueue 1 item", 2, func() { enqueue(t, s, "x"); collect(t, got, 1) }, n-1, qkey)
	measure("tick making 1 delayed item visible", 3, func() {
		delayedItems(t, s, 200*time.Millisecond)
		collect(t, got, 1)
	}, n-2, qkey)
	cancel()
	for range n - 2 {
		<-got
	}
	if _, err := (ManagementServer{Service: s}).CreateQueue(context.Background(), &pb.CreateQueueRequest{QueueName: "r"}); err != nil {
		t.Fatal(err)
	}
	consumer := s.newSession()

	// Requeue with n waiters on queue "r".
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if _, err := s.enqueueOp("r", []*pb.InputItem{{Value: []byte("v")}}, 0)(ctx2); err != nil {
		t.Fatal(err)
	}
	items, _, perr := s.pullOp("r", consumer, 1, 0)(ctx2)
	if perr != nil || len(items) != 1 {
		t.Fatalf("pull = %v, %v", items, perr)
	}
	rkey := state.QueueKey("r")
	rgot := make(chan pulled, n)
	for range n {
		op := s.pullOp("r", s.newSession(), 1, 5*time.Minute)
		go func() {
			items, _, err := op(ctx2)
			rgot <- pulled{items, err}
		}()
	}
	waitFor(t, "the pullers to wait", func() bool { return notify.Waiters(rkey) == n })
	measure("requeue 1 item", 2, func() {
		if _, err := s.requeueOp("r", []*pb.RequeueItem{{Id: items[0].GetId()}})(ctx2); err != nil {
			t.Fatal(err)
		}
		collect(t, rgot, 1)
	}, n-1, rkey)

	// Lock waiters: n waiting for key "k" held by holder.
	setKey(t, s, "k")
	holder := s.newSession()
	e, lerr := s.lockOp("s", holder, false, []byte("k"), nil, &durationpb.Duration{Seconds: 300}, 0)(ctx2)
	if lerr != nil {
		t.Fatal(lerr)
	}
	lkey := state.LockKey("s", []byte("k"))
	firstTries := s.node.AppliedCommands()
	locks := make(chan lockResult, n)
	for range n {
		op := s.lockOp("s", s.newSession(), false, []byte("k"), nil, nil, 5*time.Minute)
		go func() {
			d, err := op(ctx2)
			locks <- lockResult{d, err}
		}()
	}
	waitFor(t, "the locks to wait", func() bool { return notify.Waiters(lkey) == n })
	// Their first tries (refused: busy) land before measuring.
	waitFor(t, "the first tries", func() bool { return s.node.AppliedCommands() >= firstTries+uint64(n) })
	measure("set of another key", 1, func() { setKey(t, s, "other") }, n, lkey)
	measure("release of the key", 2, func() {
		if err := s.releaseOp("s", holder, &pb.StorageReleaseIdRequest{Id: e.GetId()})(ctx2); err != nil {
			t.Fatal(err)
		}
		if r := <-locks; r.err != nil {
			t.Fatal(r.err)
		}
	}, n-1, lkey)
}
