package queue

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// benchValue is the payload of benchmark items.
var benchValue = make([]byte, 32)

func benchItems(rng *rand.Rand, n int, keyed bool) []*pb.InputItem {
	out := make([]*pb.InputItem, n)
	for i := range out {
		in := &pb.InputItem{Priority: uint32(rng.Intn(32)), Value: benchValue}
		if keyed && i%4 == 0 {
			in.Key = []byte(fmt.Sprint("key", rng.Intn(1000)))
		}
		out[i] = in
	}
	return out
}

// fill enqueues n waiting items in batches of 1000.
func fill(b *testing.B, q *Queue, ids IDs, rng *rand.Rand, n int) {
	b.Helper()
	for n > 0 {
		k := min(n, 1000)
		if _, _, err := q.Enqueue(t0, benchItems(rng, k, true), ids); err != nil {
			b.Fatal(err)
		}
		n -= k
	}
}

func sizes(b *testing.B) []int {
	if testing.Short() {
		return []int{1_000}
	}
	return []int{1_000, 1_000_000}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemoryPerItem reports the heap bytes one waiting item costs (its 32-byte value
// included; one in four items has a key, drawn from 1000 groups; one in four a ttl).
func BenchmarkMemoryPerItem(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	rng := rand.New(rand.NewSource(1))
	batches := make([][]*pb.InputItem, 0, n/1000)
	for i := 0; i < n/1000; i++ {
		batch := benchItems(rng, 1000, true)
		for j, in := range batch {
			if j%4 == 1 {
				in.Ttl = durationpbSeconds(3600)
			}
			in.Value = append([]byte(nil), benchValue...) // own the value like a decoded entry
		}
		batches = append(batches, batch)
	}
	b.ResetTimer()
	var perItem float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		before := heapAlloc()
		b.StartTimer()
		q := New(&pb.CreateQueueRequest{QueueName: "mem"})
		ids := &counter{}
		for _, batch := range batches {
			if _, _, err := q.Enqueue(t0, batch, ids); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		// The values are shared with the batches (kept alive either way); count them as
		// part of the item.
		perItem = float64(heapAlloc()-before)/float64(n) + float64(len(benchValue))
		runtime.KeepAlive(q)
		b.StartTimer()
	}
	b.ReportMetric(perItem, "B/item")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
}

// BenchmarkEnqueue enqueues one item per op into a queue holding size waiting items.
func BenchmarkEnqueue(b *testing.B) {
	for _, size := range sizes(b) {
		// Filled once: b.Run calls the function several times with growing b.N, and
		// each op leaves the size as it was.
		rng := rand.New(rand.NewSource(1))
		q := New(&pb.CreateQueueRequest{QueueName: "bench"})
		ids := &counter{}
		fill(b, q, ids, rng, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			items := benchItems(rng, 1000, true)
			added := make([]uint64, 0, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, _, err := q.Enqueue(t0, items[i%1000:i%1000+1], ids)
				if err != nil {
					b.Fatal(err)
				}
				added = append(added, out[0])
				if len(added) == 1000 || i == b.N-1 { // keep the size steady
					b.StopTimer()
					for _, id := range added {
						q.Delete(t0, id)
					}
					added = added[:0]
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkPullCommit pulls and commits one item per op from a queue holding size waiting
// items (refilled outside the timer).
func BenchmarkPullCommit(b *testing.B) {
	for _, size := range sizes(b) {
		// Filled once: b.Run calls the function several times with growing b.N, and
		// each op leaves the size as it was.
		rng := rand.New(rand.NewSource(1))
		q := New(&pb.CreateQueueRequest{QueueName: "bench"})
		ids := &counter{}
		fill(b, q, ids, rng, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			refill := benchItems(rng, 1000, true)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ds := q.Pull(t0, uint64(i%8), 1)
				if len(ds) != 1 {
					b.Fatal("empty")
				}
				if err := q.Commit(t0, ds[0].Item.Id); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 || i == b.N-1 {
					b.StopTimer()
					q.Enqueue(t0, refill[:i%1000+1], ids)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkLeaseExpiry measures Advance returning 1000 expired leases to waiting per op.
func BenchmarkLeaseExpiry(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	q := New(&pb.CreateQueueRequest{QueueName: "bench", Lease: durationpbSeconds(1)})
	ids := &counter{}
	fill(b, q, ids, rng, 10_000)
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if n := len(q.Pull(now, uint64(i%8), 1000)); n != 1000 {
			b.Fatal("pulled", n)
		}
		now += int64(time.Second)
		b.StartTimer()
		q.Advance(now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/item")
}
