package raftnode

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

type logFormatStep struct {
	typ raftpb.Type
	m   proto.Message
}

// logFormatSteps are entries of commands of most kinds, in an order where results depend on
// earlier ones.
var logFormatSteps = [][]logFormatStep{
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
		{raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "n1", ClientAddress: "127.0.0.1:1", LogFormat: LogFormatBody}},
		{raftpb.Type_TYPE_CLOSE_SESSION, &raftpb.CloseSession{Session: 1}},
	},
	{{raftpb.Type_TYPE_TICK, &raftpb.Tick{}}},
	{{raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "jobs", Session: 2, Max: 5}}},
}

// toEnvelope makes of a command encoded as its body exactly what servers before
// Command.body wrote: Type and the message serialized on its own in payload.
func TestToEnvelopeIsTheOldEnvelope(t *testing.T) {
	for _, entry := range logFormatSteps {
		for _, st := range entry {
			body, err := encodeCommand(st.typ, st.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := toEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := proto.Marshal(st.m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := proto.Marshal(&raftpb.Command{Type: st.typ, Payload: payload})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v: envelope\n%x\nwant\n%x", st.typ, got, want)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x08, 0x01}, {0xa2, 0x06, 0x05, 0x01}} {
		if _, err := toEnvelope(bad); err == nil {
			t.Fatalf("%x rewritten", bad)
		}
	}
}

// The same commands written in format 2, in the old envelope, or mixed (entry by entry and
// within an entry) apply with the same results and leave byte-identical snapshots.
func TestMixedLogFormatsApplyIdentically(t *testing.T) {
	run := func(envelope func(entry, cmd int) bool) ([]byte, [][]state.Result) {
		s := state.New(nil)
		var results [][]state.Result
		for i, entry := range logFormatSteps {
			var batch []*proposal
			size := 0
			for j, st := range entry {
				b, err := encodeCommand(st.typ, st.m)
				if err != nil {
					t.Fatal(err)
				}
				if envelope(i, j) {
					if b, err = toEnvelope(b); err != nil {
						t.Fatal(err)
					}
				}
				batch = append(batch, &proposal{cmd: b})
				size += len(b)
			}
			var e raftpb.Entry
			if err := proto.Unmarshal(encodeEntry(int64(i+1)*1e9, batch, size), &e); err != nil {
				t.Fatal(err)
			}
			results = append(results, s.Apply(&e))
		}
		snap, err := s.Snapshot(42)
		if err != nil {
			t.Fatal(err)
		}
		return snap, results
	}
	body, want := run(func(int, int) bool { return false })
	for name, envelope := range map[string]func(entry, cmd int) bool{
		"envelope":       func(int, int) bool { return true },
		"entry by entry": func(i, _ int) bool { return i%2 == 0 },
		"within entries": func(_, j int) bool { return j%2 == 1 },
	} {
		snap, got := run(envelope)
		for i := range want {
			for j := range want[i] {
				if (want[i][j].Err == nil) != (got[i][j].Err == nil) {
					t.Fatalf("%s: entry %d command %d: %v, in format 2 %v", name, i, j, got[i][j].Err, want[i][j].Err)
				}
			}
		}
		if !bytes.Equal(snap, body) {
			t.Fatalf("%s: the snapshot differs from format 2's", name)
		}
	}
	if pr := want[1][2].Value.(*state.PullResult); len(pr.Items) != 2 {
		t.Fatalf("pull got %d items, want 2", len(pr.Items))
	}
}

// lastFormatOf proposes a CreateQueue of name and returns the log format of the entry that
// carried it, read back from the log store.
func lastFormatOf(t *testing.T, n *Node, name string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from := n.Raft().LastIndex()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: name}); err != nil {
		t.Fatal(err)
	}
	for i := from + 1; i <= n.Raft().LastIndex(); i++ {
		var l raft.Log
		if err := n.logStore.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		var e raftpb.Entry
		if err := proto.Unmarshal(l.Data, &e); err != nil {
			t.Fatal(err)
		}
		for _, c := range e.GetCommands() {
			switch {
			case c.GetCreateQueue().GetQueueName() == name:
				if c.GetType() != 0 || len(c.GetPayload()) != 0 {
					t.Fatalf("entry %d mixes the formats in one command: %v", i, c)
				}
				return LogFormatBody
			case c.GetType() == raftpb.Type_TYPE_CREATE_QUEUE:
				var m pb.CreateQueueRequest
				if err := proto.Unmarshal(c.GetPayload(), &m); err != nil {
					t.Fatal(err)
				}
				if m.GetQueueName() == name {
					return LogFormatEnvelope
				}
			}
		}
	}
	t.Fatalf("no entry carries queue %q", name)
	return 0
}

// waitLogFormat waits until member id's record says format.
func waitLogFormat(t testing.TB, n *Node, id string, format uint32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		changed := n.State().Notifier().Wait(state.MembersKey)
		if n.MemberLogFormat(id) == format {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("member %s records log format %d, want %d", id, n.MemberLogFormat(id), format)
		}
	}
}

// The gate: entries are in the old envelope while a server of the configuration has no
// record of format 2 (none at all, a record without the format, a member that answers
// without it) and in format 2 once every one has; an older server is refused at join
// while the cluster writes format 2.
func TestLogFormatGate(t *testing.T) {
	// A node that publishes no client address has no record: the old envelope.
	plain := startNodeConfig(t, Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: dead(t), Bootstrap: true})
	if f := lastFormatOf(t, plain, "plain"); f != LogFormatEnvelope {
		t.Fatalf("without member records: format %d, want the old envelope", f)
	}

	n := startNode(t) // publishes a client address: the leader records its own format
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if f := lastFormatOf(t, n, "alone"); f != LogFormatBody {
		t.Fatalf("every member records format 2: format %d", f)
	}

	// The probe: "old" runs a version that does not report a format, "new" reports 2,
	// once "upgraded" is closed.
	upgraded := make(chan struct{})
	n.StartMembership(func(pctx context.Context, id, clientAddr string) (MemberProgress, error) {
		p := MemberProgress{NodeID: id, LeaderID: "n1"}
		switch id {
		case "old":
		case "new":
			select {
			case <-upgraded:
				p.LogFormat = LogFormatBody
			default:
			}
		default:
			return p, errors.New("unreachable")
		}
		return p, nil
	})
	var fe *LogFormatError
	if err := n.CheckJoinLogFormat(ctx, "old", "old:1"); !errors.As(err, &fe) || fe.Applies != 0 || fe.ClusterIn != LogFormatBody {
		t.Fatalf("an older server joining a cluster that writes format 2: %v", err)
	} else {
		t.Log(err)
	}
	if err := n.CheckJoinLogFormat(ctx, "gone", "gone:1"); err != nil {
		t.Fatalf("a server that does not answer: %v", err)
	}

	// "new" joins (a non-voter for good) before it reports a format.
	if err := n.Raft().AddNonvoter("new", raft.ServerAddress(dead(t)), 0, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if f := lastFormatOf(t, n, "joined"); f != LogFormatEnvelope {
		t.Fatalf("a server without a record: format %d, want the old envelope", f)
	}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "new", ClientAddress: "new:1"}); err != nil {
		t.Fatal(err)
	}
	if f := lastFormatOf(t, n, "recorded"); f != LogFormatEnvelope {
		t.Fatalf("a record without the format: format %d, want the old envelope", f)
	}
	if err := n.CheckJoinLogFormat(ctx, "old", "old:1"); err != nil {
		t.Fatalf("the cluster writes the old envelope: an older server may join: %v", err)
	}
	close(upgraded) // "new" answers 2 from now: the leader records it
	waitLogFormat(t, n, "new", LogFormatBody)
	if n.MemberAddress("new") != "new:1" || n.State().MemberPromote("new") {
		t.Fatalf("the format changed the record: %v", n.State().MemberRecord("new"))
	}
	if f := lastFormatOf(t, n, "upgraded"); f != LogFormatBody {
		t.Fatalf("every member records format 2: format %d", f)
	}
}

// dead is a 127.0.0.1 address nothing listens on.
func dead(t *testing.T) string { return freeAddr(t) }
