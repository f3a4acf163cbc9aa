package state

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// deadLettered builds queues a and b sharing the dead-letter queue dlq (max_deliveries 1)
// and dead-letters ids 1, 2 (from a) and 3 (from b) by requeueing them once.
func deadLettered(t *testing.T) *State {
	t.Helper()
	s := New(nil)
	mustOK(t, apply(t, s, 100,
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "dlq"}),
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "a", Priorities: 4, MaxDeliveries: 1, DeadLetterQueue: "dlq"}),
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "b", MaxDeliveries: 1, DeadLetterQueue: "dlq"}),
		cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "a", Items: []*pb.InputItem{
			{Priority: 2, Value: []byte("a1"), UniqueKey: []byte("u1")}, {Priority: 3, Value: []byte("a2")}}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "b", Items: []*pb.InputItem{{Value: []byte("b1")}}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "a", Session: 1, Max: 2}),
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "b", Session: 1, Max: 1}),
		cmd(t, raftpb.Type_TYPE_QUEUE_REQUEUE, &raftpb.QueueRequeue{Queue: "a", Items: []*pb.RequeueItem{{Id: 1}, {Id: 2}}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_REQUEUE, &raftpb.QueueRequeue{Queue: "b", Items: []*pb.RequeueItem{{Id: 3}}}),
	))
	if info, _ := s.Queue("dlq"); info.GetCount() != 3 {
		t.Fatalf("dlq holds %d items, want 3", info.GetCount())
	}
	return s
}

func TestRedriveMovesOnlyTheQueuesOwnItemsBack(t *testing.T) {
	s := deadLettered(t)
	st, err := s.QueueStats("a")
	if err != nil || st.DeadLettered != 2 {
		t.Fatalf("stats before redrive: %+v, %v; want 2 dead-lettered", st, err)
	}
	res := apply(t, s, 101, cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "a"}))
	mustOK(t, res)
	if got := res[0].Value.(*RedriveResult); got.Moved != 2 || got.Remaining != 0 {
		t.Fatalf("redrive: %+v, want 2 moved, 0 remaining", got)
	}
	dlq, _ := s.Queue("dlq")
	a, _ := s.Queue("a")
	if dlq.GetCount() != 1 || a.GetCount() != 2 {
		t.Fatalf("after redrive: dlq %d items (want b's 1), a %d (want 2)", dlq.GetCount(), a.GetCount())
	}
	// Back in a: visible at once, delivery count 0, priority kept (a2 first).
	res = apply(t, s, 102, cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "a", Session: 2, Max: 5}))
	items := res[0].Value.(*PullResult).Items
	if len(items) != 2 || string(items[0].Item.Value) != "a2" || items[0].Item.DeliveryCount != 0 || items[1].Item.Id != 1 {
		t.Fatalf("pulled after redrive: %v", items)
	}
	// The unique key came back with the item: a duplicate is refused as a duplicate.
	res = apply(t, s, 103, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "a", Items: []*pb.InputItem{{Value: []byte("x"), UniqueKey: []byte("u1")}}}))
	if e := res[0].Value.(*EnqueueResult); !e.Duplicate[0] || e.IDs[0] != 1 {
		t.Fatalf("enqueue of u1 after redrive: %+v, want duplicate of 1", e)
	}
	if st, _ := s.QueueStats("a"); st.DeadLettered != 0 {
		t.Fatalf("dead-lettered after redrive: %d", st.DeadLettered)
	}
}

func TestRedriveLimitsAndErrors(t *testing.T) {
	s := deadLettered(t)
	mustOK(t, apply(t, s, 101, cmd(t, raftpb.Type_TYPE_RESIZE_QUEUE, &pb.ResizeQueueRequest{QueueName: "a", MaxSize: 1})))
	res := apply(t, s, 102, cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "a", Max: 5}))
	if got := res[0].Value.(*RedriveResult); got.Moved != 1 || got.Remaining != 1 {
		t.Fatalf("redrive into max_size 1: %+v, want 1 moved (id 1), 1 remaining", got)
	}
	mustOK(t, apply(t, s, 103, cmd(t, raftpb.Type_TYPE_RESIZE_QUEUE, &pb.ResizeQueueRequest{QueueName: "a"})))
	res = apply(t, s, 104, cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "b", Max: 1}))
	if got := res[0].Value.(*RedriveResult); got.Moved != 1 || got.Remaining != 0 {
		t.Fatalf("redrive b max 1: %+v", got)
	}
	res = apply(t, s, 105,
		cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "dlq"}),
		cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "nope"}))
	if res[0].Err == nil || res[0].Err.Code.String() != "FailedPrecondition" {
		t.Fatalf("redrive of a queue without a dlq: %v", res[0].Err)
	}
	if res[1].Err == nil || res[1].Err.Status != pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND {
		t.Fatalf("redrive of a missing queue: %v", res[1].Err)
	}
}

func TestRedriveSkipsItemsLeasedFromTheDLQ(t *testing.T) {
	s := deadLettered(t)
	res := apply(t, s, 101, cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "dlq", Session: 5, Max: 1}))
	if got := res[0].Value.(*PullResult).Items; len(got) != 1 || got[0].Item.Id != 2 {
		t.Fatalf("dlq pull: %v", got)
	}
	res = apply(t, s, 102, cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "a"}))
	if got := res[0].Value.(*RedriveResult); got.Moved != 1 {
		t.Fatalf("redrive with id 1 leased from the dlq: %+v, want only id 1 moved", got)
	}
}

func TestDeadLetterSourceSurvivesSnapshots(t *testing.T) {
	s := deadLettered(t)
	snap, err := s.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	if err := r.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := r.PeekQueue("dlq", 10, false, 0)
	if len(recs) != 3 || recs[0].GetDeadLetterSource() != "a" || recs[2].GetDeadLetterSource() != "b" {
		t.Fatalf("dlq after restore: %v", recs)
	}
	res := apply(t, r, 101, cmd(t, raftpb.Type_TYPE_QUEUE_REDRIVE, &raftpb.QueueRedrive{Queue: "b"}))
	if got := res[0].Value.(*RedriveResult); got.Moved != 1 {
		t.Fatalf("redrive after restore: %+v", got)
	}
	again, _ := r.Snapshot(0)
	r2 := New(nil)
	if err := r2.Restore(bytes.NewReader(again)); err != nil {
		t.Fatal(err)
	}
	if a, b := r.PeekQueueSources(t), r2.PeekQueueSources(t); a != b {
		t.Fatalf("sources differ after a second round trip: %q vs %q", a, b)
	}
}

// PeekQueueSources lists the dlq's ids and sources (test helper).
func (s *State) PeekQueueSources(t *testing.T) string {
	recs, _, err := s.PeekQueue("dlq", 100, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, r := range recs {
		b.WriteString(r.GetDeadLetterSource())
		b.WriteByte(byte('0' + r.GetId()))
	}
	return b.String()
}

func TestPurgeKeepsActiveItems(t *testing.T) {
	s := New(nil)
	mustOK(t, apply(t, s, 100,
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q", MaxSize: 4}),
		cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{
			{Value: []byte("1")}, {Value: []byte("2")}, {Value: []byte("3"), Delay: durationpb.New(time.Minute)}, {Value: []byte("4"), Ttl: durationpb.New(time.Hour)}}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "q", Session: 1, Max: 1}),
	))
	res := apply(t, s, 101, cmd(t, raftpb.Type_TYPE_QUEUE_PURGE, &raftpb.QueuePurge{Queue: "q"}))
	mustOK(t, res)
	if n := res[0].Value.(*PurgeResult).Count; n != 3 {
		t.Fatalf("purged %d, want 3 (visible, delayed and expiring)", n)
	}
	info, _ := s.Queue("q")
	if info.GetCount() != 1 || info.GetActive() != 1 {
		t.Fatalf("after purge: %v", info)
	}
	mustOK(t, apply(t, s, 102, cmd(t, raftpb.Type_TYPE_QUEUE_COMMIT, &raftpb.QueueIds{Queue: "q", Ids: []uint64{1}})))
	if d := s.NextDeadline(); d != 0 {
		t.Fatalf("a deadline of a purged item is left: %d", d)
	}
	if res := apply(t, s, 103, cmd(t, raftpb.Type_TYPE_QUEUE_PURGE, &raftpb.QueuePurge{Queue: "none"})); res[0].Err == nil || res[0].Err.Status != pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND {
		t.Fatalf("purge of a missing queue: %v", res[0].Err)
	}
}

func TestPeekAndStats(t *testing.T) {
	s := New(nil)
	mustOK(t, apply(t, s, 100,
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q", Priorities: 3}),
		cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{
			{Value: []byte("low")}, {Priority: 2, Value: []byte("high")}, {Priority: 2, Value: []byte("later"), Delay: durationpb.New(time.Minute)},
			{Priority: 1, Value: []byte("mid")}, {Priority: 1, Value: []byte("leased")}}}),
	))
	mustOK(t, apply(t, s, 101,
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "q", Session: 1, Max: 1}), // "high"
		cmd(t, raftpb.Type_TYPE_QUEUE_COMMIT, &raftpb.QueueIds{Queue: "q", Ids: []uint64{2}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "q", Session: 1, Max: 1}), // "mid"
	))
	before, _ := s.Queue("q")
	recs, more, err := s.PeekQueue("q", 2, false, 0)
	if err != nil || len(recs) != 2 || more || string(recs[0].Value) != "leased" || string(recs[1].Value) != "low" {
		t.Fatalf("peek 2: %v more=%v err=%v", recs, more, err)
	}
	if recs, more, _ = s.PeekQueue("q", 1, false, 0); len(recs) != 1 || !more {
		t.Fatalf("peek 1: %v more=%v", recs, more)
	}
	recs, more, _ = s.PeekQueue("q", 10, true, 0)
	if len(recs) != 3 || more || string(recs[2].Value) != "later" || recs[2].GetVisibleAt() == 0 {
		t.Fatalf("peek with delayed: %v more=%v", recs, more)
	}
	recs, more, _ = s.PeekQueue("q", 10, true, 1)
	if len(recs) != 1 || !more {
		t.Fatalf("peek within 1 byte: %d items, more=%v; want the first only", len(recs), more)
	}
	if after, _ := s.Queue("q"); after.GetActive() != before.GetActive() || after.GetCount() != before.GetCount() {
		t.Fatal("peek changed the queue")
	}
	st, _ := s.QueueStats("q")
	if st.VisibleByPriority[0] != 1 || st.VisibleByPriority[1] != 1 || st.VisibleByPriority[2] != 0 || st.Delayed != 1 || st.Active != 1 {
		t.Fatalf("stats: %+v", st)
	}
	if st.OldestEnqueuedAt != 100*int64(time.Second) || st.Clock != 101*int64(time.Second) {
		t.Fatalf("stats times: %+v", st)
	}
	if st.Counters.Enqueued != 5 || st.Counters.Committed != 1 {
		t.Fatalf("counters: %+v", st.Counters)
	}
}
