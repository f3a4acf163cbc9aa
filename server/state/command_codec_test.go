package state

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// oldCmd makes a command in the envelope of servers before Command.body: the type and the
// message serialized on its own.
func oldCmd(t testing.TB, typ raftpb.Type, m proto.Message) *raftpb.Command {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &raftpb.Command{Type: typ, Payload: b}
}

// Every command type has a body case numbered 100 + its type, whose message is the one its
// handler takes, and every handler's type is a command type.
func TestEveryCommandTypeHasItsBody(t *testing.T) {
	for num, name := range raftpb.Type_name {
		typ := raftpb.Type(num)
		if typ == raftpb.Type_TYPE_UNSPECIFIED {
			continue
		}
		fd := bodyField(typ)
		if fd == nil {
			t.Errorf("%s has no body case numbered %d", name, bodyFieldBase+num)
			continue
		}
		if _, ok := handlers[typ]; !ok {
			t.Errorf("%s has no handler", name)
			continue
		}
		// An empty message of the body's type reaches the handler (it may refuse the
		// empty command, but not as corrupt).
		c := &raftpb.Command{}
		cr := c.ProtoReflect()
		cr.Set(fd, cr.NewField(fd))
		got, body := commandBody(c)
		if got != typ {
			t.Errorf("%s: body decodes as type %v", name, got)
		}
		r := New(nil).dispatch(0, c)
		if r.Err != nil && (strings.Contains(r.Err.Msg, "corrupt") || strings.Contains(r.Err.Msg, "unknown command")) {
			t.Errorf("%s with body %T: %v", name, body, r.Err)
		}
	}
	for typ := range handlers {
		if _, ok := raftpb.Type_name[int32(typ)]; !ok {
			t.Errorf("handler for unknown type %d", typ)
		}
	}
}

func TestNewCommandRefusesTheWrongMessage(t *testing.T) {
	for _, tc := range []struct {
		typ raftpb.Type
		m   proto.Message
	}{
		{raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueueEnqueue{}},
		{raftpb.Type_TYPE_UNSPECIFIED, &raftpb.Tick{}},
		{raftpb.Type(999), &raftpb.Tick{}},
		{raftpb.Type_TYPE_TICK, nil},
		{raftpb.Type_TYPE_TICK, (*raftpb.Tick)(nil)},
	} {
		if c, err := NewCommand(tc.typ, tc.m); err == nil {
			t.Errorf("NewCommand(%v, %T) = %v, want an error", tc.typ, tc.m, c)
		}
	}
}

// The same commands in the old envelope and with bodies give the same results and the
// same state, byte for byte.
func TestOldEnvelopeAppliesLikeBody(t *testing.T) {
	type step struct {
		typ raftpb.Type
		m   proto.Message
	}
	steps := [][]step{
		{
			{raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "dlq"}},
			{raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "jobs", DeadLetterQueue: "dlq", MaxDeliveries: 1}},
			{raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "kv"}},
		},
		{
			{raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "jobs", Items: []*pb.InputItem{{Value: []byte("a")}, {Value: []byte("b"), Priority: 3}, {Value: []byte("c"), UniqueKey: []byte("u")}}}},
			{raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Session: 1, Request: &pb.StorageSetRequest{Key: []byte("k"), Value: []byte("v")}}},
			{raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "jobs", Session: 1, Max: 2}},
		},
		{
			{raftpb.Type_TYPE_QUEUE_COMMIT, &raftpb.QueueIds{Queue: "jobs", Ids: []uint64{2}}},
			{raftpb.Type_TYPE_QUEUE_EXTEND, &raftpb.QueueIds{Queue: "jobs", Ids: []uint64{3}, Lease: durationpb.New(60e9)}},
			{raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "kv", Session: 1, Key: []byte("k"), LockTtl: durationpb.New(30e9)}},
			{raftpb.Type_TYPE_CLOSE_SESSION, &raftpb.CloseSession{Session: 1}},
			{raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "n1", ClientAddress: "127.0.0.1:1"}},
		},
		{{raftpb.Type_TYPE_TICK, &raftpb.Tick{}}},
	}
	run := func(mk func(testing.TB, raftpb.Type, proto.Message) *raftpb.Command) (*State, [][]Result) {
		s := New(nil)
		var out [][]Result
		for i, entry := range steps {
			var cmds []*raftpb.Command
			for _, st := range entry {
				cmds = append(cmds, mk(t, st.typ, st.m))
			}
			out = append(out, apply(t, s, int64(10*(i+1)), cmds...))
		}
		return s, out
	}
	sOld, rOld := run(oldCmd)
	sNew, rNew := run(cmd)
	for i := range rOld {
		for j := range rOld[i] {
			if (rOld[i][j].Err == nil) != (rNew[i][j].Err == nil) {
				t.Fatalf("entry %d command %d: old envelope %v, body %v", i, j, rOld[i][j].Err, rNew[i][j].Err)
			}
		}
	}
	if pr := rNew[1][2].Value.(*PullResult); len(pr.Items) != 2 {
		t.Fatalf("pull got %d items, want 2", len(pr.Items))
	}
	a, err := sOld.Snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sNew.Snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the old envelope and bodies led to different states")
	}
}

// A body case this server does not know (a newer server's command) decodes as an unknown
// field and fails only its command.
func TestUnknownBodyFailsOnlyItself(t *testing.T) {
	b := protowire.AppendTag(nil, bodyFieldBase+500, protowire.BytesType)
	b = protowire.AppendBytes(b, nil)
	var unknown raftpb.Command
	if err := proto.Unmarshal(b, &unknown); err != nil {
		t.Fatal(err)
	}
	rs := apply(t, New(nil), 1, &unknown, cmd(t, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "kv"}))
	if rs[0].Err == nil || rs[1].Err != nil {
		t.Fatalf("results %+v", rs)
	}
}
