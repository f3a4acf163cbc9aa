package raftnode

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// BenchmarkEntryCodec measures what a command costs to encode into an entry and decode
// back to its typed message, per command (entries of 64 enqueues of one 128 B item): with
// the message as the command's body (what the proposer writes) against the old envelope
// (message serialized, then the entry serialized around it, and both decoded in turn).
//
//	go test -run '^$' -bench EntryCodec ./server/raftnode
func BenchmarkEntryCodec(b *testing.B) {
	const perEntry = 64
	value := make([]byte, 128)
	msg := func(i int) *raftpb.QueueEnqueue {
		return &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: value, Priority: uint32(i % 4)}}}
	}
	b.Run("body", func(b *testing.B) {
		b.ReportAllocs()
		batch := make([]*proposal, perEntry)
		for k := range batch {
			batch[k] = &proposal{} // the proposal itself is not the codec's cost
		}
		for i := 0; i < b.N; i += perEntry {
			size := 0
			for k := range batch {
				c, err := encodeCommand(raftpb.Type_TYPE_QUEUE_ENQUEUE, msg(k))
				if err != nil {
					b.Fatal(err)
				}
				batch[k].cmd = c
				size += len(c)
			}
			var e raftpb.Entry
			if err := proto.Unmarshal(encodeEntry(int64(i), batch, size), &e); err != nil {
				b.Fatal(err)
			}
			if e.Commands[perEntry-1].GetQueueEnqueue().GetQueue() != "q" {
				b.Fatal("decoded wrong")
			}
		}
	})
	b.Run("old-envelope", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i += perEntry {
			e := &raftpb.Entry{TimeUnixNano: int64(i), Commands: make([]*raftpb.Command, perEntry)}
			for k := range e.Commands {
				p, err := proto.Marshal(msg(k))
				if err != nil {
					b.Fatal(err)
				}
				e.Commands[k] = &raftpb.Command{Type: raftpb.Type_TYPE_QUEUE_ENQUEUE, Payload: p}
			}
			data, err := proto.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			var d raftpb.Entry
			if err := proto.Unmarshal(data, &d); err != nil {
				b.Fatal(err)
			}
			for _, c := range d.Commands {
				var m raftpb.QueueEnqueue
				if err := proto.Unmarshal(c.Payload, &m); err != nil || m.Queue != "q" {
					b.Fatal(fmt.Sprint("decoded wrong: ", err))
				}
			}
		}
	})
}
