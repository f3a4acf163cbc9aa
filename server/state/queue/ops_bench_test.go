package queue

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// BenchmarkOperatorTools measures the operator reads (peek of 10 items, stats), which scan
// the whole queue, and purge, at 100k waiting items (-short: 1k).
//
//	go test -run '^$' -bench OperatorTools -benchmem ./server/state/queue
func BenchmarkOperatorTools(b *testing.B) {
	n := 100_000
	if testing.Short() {
		n = 1_000
	}
	build := func(b *testing.B) *Queue {
		q := New(&pb.CreateQueueRequest{QueueName: "bench"})
		fill(b, q, &counter{}, rand.New(rand.NewSource(1)), n)
		return q
	}
	b.Run(fmt.Sprintf("peek10/%d", n), func(b *testing.B) {
		q := build(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if recs, _ := q.Peek(10, true, 0); len(recs) != 10 {
				b.Fatal(len(recs))
			}
		}
	})
	b.Run(fmt.Sprintf("stats/%d", n), func(b *testing.B) {
		q := build(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			q.Stats()
		}
	})
	b.Run(fmt.Sprintf("purge/%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			q := build(b)
			b.StartTimer()
			if got := q.Purge(); got != n {
				b.Fatal(got)
			}
		}
	})
}
