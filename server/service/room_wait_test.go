package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

type enqueued struct {
	res *state.EnqueueResult
	err *apierr.Error
}

// roomQueue creates queue name with max_size and fills it with max items, the first of
// them leased by a pull; it returns the ids, the leased one first.
func roomQueue(t *testing.T, s *Service, name string, max int) []uint64 {
	t.Helper()
	if _, err := (ManagementServer{Service: s}).CreateQueue(context.Background(), &pb.CreateQueueRequest{QueueName: name, MaxSize: uint32(max)}); err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for i := range max {
		r, err := s.enqueueOp(name, []*pb.InputItem{{Value: []byte(fmt.Sprint("fill-", i))}}, 0)(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.IDs...)
	}
	if items, _, err := s.pullOp(name, s.newSession(), 1, 0)(context.Background()); err != nil || len(items) != 1 || items[0].GetId() != ids[0] {
		t.Fatalf("pull = %v, %v", items, err)
	}
	return ids
}

// waitRoom starts an enqueue of k items into queue name that waits for room, and returns
// once its first try was refused and it stands in the queue's room line (waiters before it).
func waitRoom(t *testing.T, s *Service, name string, k, before int, out chan<- enqueued) {
	t.Helper()
	items := make([]*pb.InputItem, k)
	for i := range items {
		items[i] = &pb.InputItem{Value: []byte("v")}
	}
	op := s.enqueueOp(name, items, 5*time.Minute)
	go func() {
		r, err := op(context.Background())
		out <- enqueued{r, err}
	}()
	waitFor(t, "the enqueue to wait for room", func() bool { return s.node.Notifier().Waiters(state.RoomKey(name)) == before+1 })
}

// takeEnqueued takes k results from got, which must all be successes, and returns their ids.
func takeEnqueued(t *testing.T, got <-chan enqueued, k int) []uint64 {
	t.Helper()
	var ids []uint64
	for i := range k {
		select {
		case r := <-got:
			if r.err != nil || r.res == nil {
				t.Fatalf("enqueue %d = %v, %v", i, r.res, r.err)
			}
			ids = append(ids, r.res.IDs...)
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d waiting enqueues went through: a waiter sleeps with room free", i, k)
		}
	}
	return ids
}

// Enqueues waiting for room in a full queue wake one per slot freed, not all of them at
// every change: a commit frees one slot and wakes one (which enqueues, and nothing else is
// proposed), a resize by three wakes three, and deleting the queue wakes every one (NOT_FOUND).
func TestFullQueueEnqueuesWakeOnePerFreedSlot(t *testing.T) {
	const n = 64
	s := fuzzService(t)
	notify := s.node.Notifier()
	key := state.RoomKey("f")
	ids := roomQueue(t, s, "f", 1)
	got := make(chan enqueued, n)
	for i := range n {
		waitRoom(t, s, "f", 1, i, got)
	}
	// step runs change (cmds commands), takes the k enqueues it let through, and checks it
	// woke k waiters and applied nothing beyond the change and those k enqueues.
	step := func(what string, cmds, k int, change func()) {
		t.Helper()
		w, c, left := notify.Woken(), s.node.AppliedCommands(), notify.Waiters(key)-k
		change()
		takeEnqueued(t, got, k)
		waitFor(t, "the others to wait again", func() bool { return notify.Waiters(key) == left })
		woken, applied := notify.Woken()-w, int(s.node.AppliedCommands()-c)
		t.Logf("%s: %d woken, %d commands", what, woken, applied)
		if woken != uint64(k) || applied != cmds+k {
			t.Errorf("%s with %d waiting enqueues: %d woken and %d commands, want %d and %d", what, left+k, woken, applied, k, cmds+k)
		}
	}
	step("commit of 1 item", 1, 1, func() {
		if r, err := s.idsOp(raftpb.Type_TYPE_QUEUE_COMMIT, "f", ids[:1], 0)(context.Background()); err != nil || r[0] != nil {
			t.Fatalf("commit = %v, %v", r, err)
		}
	})
	step("resize by 3", 1, 3, func() {
		if _, err := (ManagementServer{Service: s}).ResizeQueue(context.Background(), &pb.ResizeQueueRequest{QueueName: "f", MaxSize: 4}); err != nil {
			t.Fatal(err)
		}
	})
	if w := notify.Waiters(key); w != n-4 {
		t.Fatalf("%d enqueues wait, want %d", w, n-4)
	}
	if _, err := (ManagementServer{Service: s}).DeleteQueue(context.Background(), &pb.DeleteQueueRequest{QueueName: "f"}); err != nil {
		t.Fatal(err)
	}
	for range n - 4 {
		if r := <-got; r.err == nil || r.err.Status != pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND {
			t.Fatalf("an enqueue into the deleted queue: %v, %v", r.res, r.err)
		}
	}
	if notify.Len() != 0 {
		t.Fatalf("%d notifier keys left", notify.Len())
	}
}

// A batch waiting for more room than a freed slot makes passes the wakeup to the enqueue
// behind it, which fits, and keeps its place: it goes through once its room is there.
func TestFullQueueBatchPassesRoomOn(t *testing.T) {
	s := fuzzService(t)
	notify := s.node.Notifier()
	key := state.RoomKey("b")
	ids := roomQueue(t, s, "b", 2) // ids[0] leased, ids[1] waiting
	batch, single := make(chan enqueued, 1), make(chan enqueued, 1)
	waitRoom(t, s, "b", 2, 0, batch)
	waitRoom(t, s, "b", 1, 1, single)
	free := func(typ raftpb.Type, id uint64) {
		t.Helper()
		if r, err := s.idsOp(typ, "b", []uint64{id}, 0)(context.Background()); err != nil || r[0] != nil {
			t.Fatalf("%v %d = %v, %v", typ, id, r, err)
		}
	}
	w := notify.Woken()
	free(raftpb.Type_TYPE_QUEUE_COMMIT, ids[0]) // room 1: the batch cannot use it, the single can
	singleID := takeEnqueued(t, single, 1)
	waitFor(t, "the batch to wait again", func() bool { return notify.Waiters(key) == 1 })
	if woken := notify.Woken() - w; woken != 2 {
		t.Fatalf("one slot freed woke %d, want 2 (the batch, which passed it on, and the single)", woken)
	}
	w = notify.Woken()
	free(raftpb.Type_TYPE_QUEUE_DELETE, ids[1]) // room 1 again: too little, nobody behind
	waitFor(t, "the batch to be woken", func() bool { return notify.Woken() == w+1 })
	waitFor(t, "the batch to wait again", func() bool { return notify.Waiters(key) == 1 })
	select {
	case r := <-batch:
		t.Fatalf("the batch went through with room for 1: %v, %v", r.res, r.err)
	default:
	}
	free(raftpb.Type_TYPE_QUEUE_DELETE, singleID[0]) // room 2
	takeEnqueued(t, batch, 1)
	if _, room := s.node.EnqueueFits("b", nil); room != 0 {
		t.Fatalf("room %d after the batch, want 0", room)
	}
}
