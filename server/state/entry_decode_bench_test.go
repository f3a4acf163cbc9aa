package state

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// enqueueEntry is an entry of n enqueue commands of one size-byte item each, encoded as
// the proposer writes it (format 2: each message as its command's body).
func enqueueEntry(t testing.TB, sec int64, n, size int) []byte {
	t.Helper()
	e := &raftpb.Entry{TimeUnixNano: sec * 1e9}
	for i := range n {
		v := make([]byte, size)
		v[0] = byte(i)
		e.Commands = append(e.Commands, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE,
			&raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: v, Priority: uint32(i % 4)}}}))
	}
	data, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// BenchmarkApplyEntry decodes and applies one log entry of N single-item enqueues (128 B
// values), the FSM's work per entry on every node: proto.Unmarshal into an Entry then
// Apply ("unmarshal", the path before EntryDecoder), against EntryDecoder.Apply
// ("decoder"). ns/op and allocs/op are per entry, ns/cmd and cpu-ns/cmd per command (the
// process's CPU time, GC workers included: steadier than wall time on a busy machine); the
// queue is purged outside the timer every 64k items, so its size stays bounded.
//
//	go test -run '^$' -bench ApplyEntry -count 6 ./server/state
func BenchmarkApplyEntry(b *testing.B) {
	for _, n := range []int{1, 16, 128} {
		data := enqueueEntry(b, 2, n, 128)
		for _, path := range []string{"unmarshal", "decoder"} {
			b.Run(fmt.Sprintf("cmds=%d/%s", n, path), func(b *testing.B) {
				s := New(nil)
				mustOK(b, apply(b, s, 1, cmd(b, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q", Priorities: 4})))
				var d EntryDecoder
				b.ReportAllocs()
				b.ResetTimer()
				var cpu time.Duration
				start := cpuTime(b)
				for i := range b.N {
					if i%(65536/n) == 0 && i > 0 {
						b.StopTimer()
						cpu += cpuTime(b) - start
						s.queues["q"].Purge()
						start = cpuTime(b)
						b.StartTimer()
					}
					var rs []Result
					if path == "decoder" {
						var err error
						if rs, err = d.Apply(s, data); err != nil {
							b.Fatal(err)
						}
					} else {
						e := &raftpb.Entry{}
						if err := proto.Unmarshal(data, e); err != nil {
							b.Fatal(err)
						}
						rs = s.Apply(e)
					}
					if rs[n-1].Err != nil {
						b.Fatal(rs[n-1].Err)
					}
				}
				cpu += cpuTime(b) - start
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/cmd")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/cmd")
			})
		}
	}
}
