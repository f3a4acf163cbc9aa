package state

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// apply applies one entry of commands at time t (seconds) and returns the results.
func apply(t testing.TB, s *State, sec int64, cmds ...*raftpb.Command) []Result {
	t.Helper()
	return s.Apply(&raftpb.Entry{TimeUnixNano: sec * int64(time.Second), Commands: cmds})
}

// cmd makes a command as the proposer does (its message as the body).
func cmd(t testing.TB, typ raftpb.Type, m proto.Message) *raftpb.Command {
	t.Helper()
	c, err := NewCommand(typ, m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustOK(t testing.TB, rs []Result) {
	t.Helper()
	for i, r := range rs {
		if r.Err != nil {
			t.Fatalf("command %d: %v", i, r.Err)
		}
	}
}

// populate builds a state with queues (items waiting, active, delayed), a dead-letter
// queue, storages with plain, expiring and locked keys, and a member address.
func populate(t testing.TB) *State {
	s := New(nil)
	mustOK(t, apply(t, s, 100,
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "dlq"}),
		cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "jobs", Priorities: 4, MaxDeliveries: 2, DeadLetterQueue: "dlq"}),
		cmd(t, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "kv"}),
		cmd(t, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "n1", ClientAddress: "127.0.0.1:4123"}),
	))
	mustOK(t, apply(t, s, 101,
		cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "jobs", Items: []*pb.InputItem{
			{Priority: 1, Value: []byte("a"), Key: []byte("g")},
			{Priority: 3, Value: []byte("b"), UniqueKey: []byte("u")},
			{Priority: 2, Value: []byte("c"), Delay: durationpb.New(time.Minute)},
			{Priority: 0, Value: []byte("d"), Ttl: durationpb.New(time.Hour)},
		}}),
		cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "jobs", Session: 7, Max: 1}),
		cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Request: &pb.StorageSetRequest{Key: []byte("k1"), Value: []byte("v1")}}),
		cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Request: &pb.StorageSetRequest{Key: []byte("k2"), Value: []byte("v2"), Ttl: durationpb.New(time.Hour)}}),
		cmd(t, raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "kv", Session: 9, Key: []byte("k1")}),
	))
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := populate(t)
	snap, err := s.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	if err := r.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	again, err := r.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, again) {
		t.Fatal("a restored state snapshots differently")
	}
	if r.MemberAddress("n1") != "127.0.0.1:4123" || r.Clock() != s.Clock() {
		t.Fatalf("members or clock lost: %q %d", r.MemberAddress("n1"), r.Clock())
	}
	// Both behave the same from here on: the same entries give the same results.
	next := func(st *State) []Result {
		return apply(t, st, 200,
			cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "jobs", Session: 8, Max: 10}),
			cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "jobs", Items: []*pb.InputItem{{Value: []byte("e")}}}),
			cmd(t, raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "kv", Session: 8, Any: true}),
		)
	}
	a, b := next(s), next(r)
	pa, pb_ := a[0].Value.(*PullResult), b[0].Value.(*PullResult)
	if len(pa.Items) == 0 || len(pa.Items) != len(pb_.Items) {
		t.Fatalf("pulls differ: %d vs %d", len(pa.Items), len(pb_.Items))
	}
	for i := range pa.Items {
		if !proto.Equal(pa.Items[i].Item, pb_.Items[i].Item) {
			t.Fatalf("pull %d differs: %v vs %v", i, pa.Items[i].Item, pb_.Items[i].Item)
		}
	}
	if a[1].Value.(*EnqueueResult).IDs[0] != b[1].Value.(*EnqueueResult).IDs[0] {
		t.Fatal("id counters differ after restore")
	}
	ea, eb := a[2].Value.(kv.Entry), b[2].Value.(kv.Entry)
	if a[2].Err != nil || b[2].Err != nil || ea.ID != eb.ID || ea.LockToken != eb.LockToken || !bytes.Equal(ea.Key, eb.Key) {
		t.Fatalf("lock-any differs: %+v vs %+v", a[2], b[2])
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	s1, s2 := populate(t), populate(t)
	b1, _ := s1.Snapshot(0)
	b2, _ := s2.Snapshot(0)
	if !bytes.Equal(b1, b2) {
		t.Fatal("the same log gave two different states")
	}
}

func TestClockNeverRunsBack(t *testing.T) {
	s := populate(t)
	before := s.Clock()
	apply(t, s, 50, cmd(t, raftpb.Type_TYPE_TICK, &raftpb.Tick{})) // an earlier leader clock
	if s.Clock() != before {
		t.Fatalf("clock went from %d to %d", before, s.Clock())
	}
}

func TestDeadlinesFireThroughTheLog(t *testing.T) {
	s := populate(t)
	// The delayed item (visible at 161 s) and the active item's lease (60 s default from
	// 101 s) are due by 200 s: a tick applies them.
	if d := s.NextDeadline(); d == 0 || d > 200*int64(time.Second) {
		t.Fatalf("next deadline %d", d)
	}
	info, _ := s.Queue("jobs")
	if info.GetActive() != 1 {
		t.Fatalf("active before the tick: %d", info.GetActive())
	}
	apply(t, s, 200, cmd(t, raftpb.Type_TYPE_TICK, &raftpb.Tick{}))
	info, _ = s.Queue("jobs")
	if info.GetActive() != 0 || info.GetCount() != 4 {
		t.Fatalf("after the lease ended: %v", info)
	}
}

func TestUnknownCommandFailsOnlyItself(t *testing.T) {
	s := New(nil)
	rs := apply(t, s, 1,
		&raftpb.Command{Type: raftpb.Type(999)},
		cmd(t, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "kv"}),
	)
	if rs[0].Err == nil || rs[1].Err != nil {
		t.Fatalf("results %+v", rs)
	}
	if err := s.HasStorage("kv"); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogErrors(t *testing.T) {
	s := populate(t)
	for _, tc := range []struct {
		name string
		c    *raftpb.Command
		want pb.StatusCode
	}{
		{"duplicate queue", cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "jobs"}), pb.StatusCode_STATUS_CODE_ALREADY_EXISTS},
		{"missing dlq", cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "x", DeadLetterQueue: "nope"}), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT},
		{"delete missing", cmd(t, raftpb.Type_TYPE_DELETE_QUEUE, &pb.DeleteQueueRequest{QueueName: "nope"}), pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND},
		{"enqueue missing", cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "nope", Items: []*pb.InputItem{{}}}), pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND},
		{"set missing storage", cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "nope", Request: &pb.StorageSetRequest{Key: []byte("k")}}), pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND},
		{"duplicate storage", cmd(t, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "kv"}), pb.StatusCode_STATUS_CODE_ALREADY_EXISTS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apply(t, s, 150, tc.c)[0]
			if r.Err == nil || r.Err.Status != tc.want {
				t.Fatalf("got %v, want %v", r.Err, tc.want)
			}
		})
	}
	// Deleting the dead-letter queue in use is refused.
	r := apply(t, s, 150, cmd(t, raftpb.Type_TYPE_DELETE_QUEUE, &pb.DeleteQueueRequest{QueueName: "dlq"}))[0]
	if r.Err == nil || r.Err.Code.String() != "FailedPrecondition" {
		t.Fatalf("deleting a used dlq: %v", r.Err)
	}
}
