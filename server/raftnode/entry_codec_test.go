package raftnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// The entry the proposer puts together from encoded commands is, byte for byte, what
// proto.Marshal makes of the same raftpb.Entry, and decodes to it.
func TestEncodeEntryIsTheEntry(t *testing.T) {
	msgs := []struct {
		typ raftpb.Type
		m   proto.Message
	}{
		{raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}},
		{raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: bytes.Repeat([]byte("v"), 300)}}}},
		{raftpb.Type_TYPE_TICK, &raftpb.Tick{}},
		{raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "s", Session: 7, Request: &pb.StorageSetRequest{Key: []byte("k"), Value: []byte("v")}}},
	}
	for _, at := range []int64{0, 1_700_000_000_123_456_789} {
		want := &raftpb.Entry{TimeUnixNano: at}
		var batch []*proposal
		size := 0
		for _, m := range msgs {
			c, err := state.NewCommand(m.typ, m.m)
			if err != nil {
				t.Fatal(err)
			}
			want.Commands = append(want.Commands, c)
			b, err := encodeCommand(m.typ, m.m)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, &proposal{cmd: b})
			size += len(b)
		}
		got := encodeEntry(at, batch, size)
		wantBytes, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantBytes) {
			t.Fatalf("time %d: entry\n%x\nwant\n%x", at, got, wantBytes)
		}
		var dec raftpb.Entry
		if err := proto.Unmarshal(got, &dec); err != nil || !proto.Equal(&dec, want) {
			t.Fatalf("time %d: decodes to %v (%v), want %v", at, &dec, err, want)
		}
	}
	if _, err := encodeCommand(raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueueEnqueue{}); err == nil {
		t.Fatal("a command with the wrong message was encoded")
	}
}

// oldEntry is a log entry as servers before Command.body wrote it (Type and a separately
// serialized payload), at 1 s: create queue "old", then enqueue "v1" and "v2" into it.
const oldEntry = "088094ebdc031209080112050a036f6c641215080a12110a036f6c6412042a02763112042a027632"

// Entries already in a log in the old envelope apply, next to new ones, both when
// appended and when the log is replayed at a restart.
func TestOldEnvelopeEntriesReplay(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	n := startNodeAt(t, dir, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old, err := hex.DecodeString(oldEntry)
	if err != nil {
		t.Fatal(err)
	}
	f := n.Raft().Apply(old, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	rs, ok := f.Response().([]state.Result)
	if !ok || len(rs) != 2 || rs[0].Err != nil || rs[1].Err != nil {
		t.Fatalf("old entry: %#v", f.Response())
	}
	if ids := rs[1].Value.(*state.EnqueueResult).IDs; len(ids) != 2 {
		t.Fatalf("old enqueue answered ids %v", ids)
	}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "old", Items: []*pb.InputItem{{Value: []byte("v3")}}}); err != nil {
		t.Fatal(err)
	}
	check := func(n *Node, when string) {
		t.Helper()
		info, err := n.State().Queue("old")
		if err != nil || info.GetCount() != 3 {
			t.Fatalf("%s: queue %v (%v), want 3 items", when, info, err)
		}
	}
	check(n, "appended")
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n = startNodeAt(t, dir, addr)
	check(n, "replayed")
}
