package state

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// Memory and speed of waiting items through the real apply path: entries encoded as the
// proposer writes them and decoded as the FSM reads them (EntryDecoder; BenchmarkApplyEnqueueAt:
// proto.Unmarshal, then Apply).

const memValueSize = 128

// encodedEntry is an entry of one enqueue of n 128-byte items at time sec, as the proposer
// writes it into the Raft log.
func encodedEntry(t testing.TB, sec int64, n int) []byte {
	t.Helper()
	items := make([]*pb.InputItem, n)
	for i := range items {
		items[i] = &pb.InputItem{Value: bytes.Repeat([]byte{byte(i)}, memValueSize)}
	}
	data, err := proto.Marshal(&raftpb.Entry{TimeUnixNano: sec * 1e9,
		Commands: []*raftpb.Command{cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: items})}})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodedEntry is encodedEntry decoded with proto.Unmarshal.
func decodedEntry(t testing.TB, sec int64, n int) *raftpb.Entry {
	t.Helper()
	e := &raftpb.Entry{}
	if err := proto.Unmarshal(encodedEntry(t, sec, n), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// liveHeap is the heap in use after two collections.
func liveHeap() (alloc, inuse uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.HeapInuse
}

// scannableHeap is the heap the GC scans for pointers (as of the last collection): what
// each GC cycle's mark work grows with.
func scannableHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// fillQueue creates queue q and enqueues n 128-byte items in entries of 64 (the bench's
// batch), each decoded from its wire form; the entries are dropped once applied.
func fillQueue(t testing.TB, n int) *State {
	t.Helper()
	s := New(nil)
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"})))
	var d EntryDecoder // the FSM's path
	for n > 0 {
		k := min(n, 64)
		rs, err := d.Apply(s, encodedEntry(t, 2, k))
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, rs)
		n -= k
	}
	return s
}

// heapPerItem is the live heap one waiting 128-byte item costs beyond its value, after n
// items were enqueued through Apply, and the scannable heap it adds.
func heapPerItem(t testing.TB, n int) (alloc, inuse, scan float64) {
	a0, i0 := liveHeap()
	s0 := scannableHeap()
	s := fillQueue(t, n)
	a1, i1 := liveHeap()
	s1 := scannableHeap()
	if w, _ := s.queues["q"].Counts(); int(w) != n {
		t.Fatalf("%d items waiting, want %d", w, n)
	}
	runtime.KeepAlive(s)
	return float64(a1-a0)/float64(n) - memValueSize, float64(i1-i0)/float64(n) - memValueSize, (float64(s1) - float64(s0)) / float64(n)
}

// TestWaitingItemMemory checks that a waiting item costs at most 100 bytes of heap beyond
// its value, and that its value does not keep the decoded entry (or anything else as
// big) alive.
func TestWaitingItemMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200k items")
	}
	alloc, inuse, scan := heapPerItem(t, 200_000)
	t.Logf("heap per waiting item beyond its %d-byte value: %.1f B alloc, %.1f B in use; %.1f B scannable", memValueSize, alloc, inuse, scan)
	if alloc > 100 {
		t.Errorf("a waiting item costs %.1f B of heap beyond its value, want <= 100", alloc)
	}
}

// BenchmarkWaitingItemMemory reports the heap per waiting 128-byte item beyond its value
// at 1M items (100k under -short), through Apply.
//
//	go test -run '^$' -bench WaitingItemMemory -benchtime 1x ./server/state
func BenchmarkWaitingItemMemory(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	var alloc, inuse, scan float64
	for range b.N {
		alloc, inuse, scan = heapPerItem(b, n)
	}
	b.ReportMetric(alloc, "B/item-alloc")
	b.ReportMetric(inuse, "B/item-inuse")
	b.ReportMetric(scan, "B/item-scannable")
}

// BenchmarkApplyEnqueueAt applies single-item enqueues (decoded entries) to a queue
// holding 1k or 1M waiting items (-short: 100k); every 1000 ops the new items are deleted
// again outside the timer. Besides ns/op it reports the process CPU time of the enqueues
// (cpu-ns/op, GC workers included, which other load on the machine disturbs less than wall
// time) and the runtime's estimate of the GC's share of it (gc-cpu-ns/op). GC work per op
// grows with the live heap, so run each size in a process of its own, with enough ops to
// span several GC cycles at 1M:
//
//	go test -run '^$' -bench 'ApplyEnqueueAt/1000$' -benchtime 400000x ./server/state
//	go test -run '^$' -bench 'ApplyEnqueueAt/1000000$' -benchtime 400000x ./server/state
func BenchmarkApplyEnqueueAt(b *testing.B) {
	big := 1_000_000
	if testing.Short() {
		big = 100_000
	}
	entries := make([]*raftpb.Entry, 1000)
	for i := range entries {
		entries[i] = decodedEntry(b, 3, 1)
	}
	filled := map[int]*State{}
	for _, size := range []int{1_000, big} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := filled[size]
			if s == nil { // once: b.Run may call this again with a larger b.N
				s = fillQueue(b, size)
				filled[size] = s
			}
			q := s.queues["q"]
			ops := make([]*raftpb.Entry, 1000)
			added := make([]uint64, 0, len(ops))
			b.ReportAllocs()
			gc0 := gcCPU()
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i += len(ops) {
				b.StopTimer()
				for _, id := range added {
					q.Delete(0, id)
				}
				added = added[:0]
				for j := range ops { // fresh copies, as each apply decodes its own
					ops[j] = proto.Clone(entries[j]).(*raftpb.Entry)
				}
				n := min(len(ops), b.N-i)
				b.StartTimer()
				start := cpuTime(b)
				for _, e := range ops[:n] {
					rs := s.Apply(e)
					if rs[0].Err != nil {
						b.Fatal(rs[0].Err)
					}
					added = append(added, rs[0].Value.(*EnqueueResult).IDs[0])
				}
				cpu += cpuTime(b) - start
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric((gcCPU()-gc0)*1e9/float64(b.N), "gc-cpu-ns/op")
		})
	}
	runtime.KeepAlive(filled)
}

// gcCPU is the runtime's estimate of the CPU seconds its GC has used.
func gcCPU() float64 {
	m := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(m)
	return m[0].Value.Float64()
}

// cpuTime is the process's user + system CPU time (GC workers included).
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
