package state

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// enqueueEntry is an entry of n enqueue commands of one size-byte item each, of priorities
// 0, 1, ... prios-1 in turn, encoded as the proposer writes it (format 2: each message as
// its command's body).
func enqueueEntry(t testing.TB, sec int64, n, size, prios int) []byte {
	t.Helper()
	e := &raftpb.Entry{TimeUnixNano: sec * 1e9}
	for i := range n {
		v := make([]byte, size)
		v[0] = byte(i)
		e.Commands = append(e.Commands, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE,
			&raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: v, Priority: uint32(i % prios)}}}))
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
		data := enqueueEntry(b, 2, n, 128, 4)
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

// BenchmarkApplyConsume decodes and applies what consumers write: an entry of N pulls (one
// item each, one session) and then an entry committing the N items pulled, through
// proto.Unmarshal + Apply ("unmarshal") or EntryDecoder.Apply ("decoder"). An op is the
// two entries; cpu-ns/cmd is per command (2N per op). The queue is refilled outside the
// timer with 64k items, whose ids (and so the commits' bytes) are known in advance: one
// priority, so pulls take them in id order.
//
//	go test -run '^$' -bench ApplyConsume -count 6 ./server/state
func BenchmarkApplyConsume(b *testing.B) {
	const fill = 65536
	for _, n := range []int{16, 128} {
		pulls := &raftpb.Entry{TimeUnixNano: 2e9}
		for range n {
			pulls.Commands = append(pulls.Commands, cmd(b, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "q", Session: 1, Max: 1}))
		}
		pullData, err := proto.Marshal(pulls)
		if err != nil {
			b.Fatal(err)
		}
		for _, path := range []string{"unmarshal", "decoder"} {
			b.Run(fmt.Sprintf("cmds=%d/%s", n, path), func(b *testing.B) {
				s := New(nil)
				mustOK(b, apply(b, s, 1, cmd(b, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"})))
				var d EntryDecoder
				applyData := func(data []byte) []Result {
					if path == "decoder" {
						rs, err := d.Apply(s, data)
						if err != nil {
							b.Fatal(err)
						}
						return rs
					}
					e := &raftpb.Entry{}
					if err := proto.Unmarshal(data, e); err != nil {
						b.Fatal(err)
					}
					return s.Apply(e)
				}
				var commits [][]byte // the commit entries of the items now in the queue, in order
				refill := func() {
					first := s.nextID
					for range fill / 128 {
						mustOK(b, applyData(enqueueEntry(b, 2, 128, 128, 1)))
					}
					commits = commits[:0]
					for id := first; id+uint64(n) <= first+fill; id += uint64(n) {
						e := &raftpb.Entry{TimeUnixNano: 2e9}
						for k := range uint64(n) {
							e.Commands = append(e.Commands, cmd(b, raftpb.Type_TYPE_QUEUE_COMMIT, &raftpb.QueueIds{Queue: "q", Ids: []uint64{id + k}}))
						}
						data, err := proto.Marshal(e)
						if err != nil {
							b.Fatal(err)
						}
						commits = append(commits, data)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				var cpu time.Duration
				next := len(commits)
				start := cpuTime(b)
				for range b.N {
					if next == len(commits) {
						b.StopTimer()
						cpu += cpuTime(b) - start
						s.queues["q"].Purge()
						refill()
						next = 0
						start = cpuTime(b)
						b.StartTimer()
					}
					rs := applyData(pullData)
					if r := rs[n-1]; r.Err != nil || len(r.Value.(*PullResult).Items) != 1 {
						b.Fatalf("pull: %+v", r)
					}
					rs = applyData(commits[next])
					if r := rs[n-1]; r.Err != nil || r.Value.(PerID)[0] != nil {
						b.Fatalf("commit: %+v", r)
					}
					next++
				}
				cpu += cpuTime(b) - start
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(2*b.N*n), "cpu-ns/cmd")
			})
		}
	}
}
