package raftnode

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// BenchmarkPropose measures the proposer on a real single node (bbolt log, fsync per
// Raft batch): callers concurrent goroutines each propose one 128 B enqueue at a time.
// Reported besides ns/op, B/op and allocs/op (per command, the whole node included):
// commands per log entry, log entries per log-store commit (bolt: one bbolt transaction,
// two fdatasyncs; wal: one append and fsync), commands per commit and the mean time the
// leader takes to write one batch (Raft's own leader.dispatchLog measure: the commit and
// little else), on each log store.
//
//	go test -run '^$' -bench Propose -benchtime 20000x ./server/raftnode
func BenchmarkPropose(b *testing.B) {
	for _, store := range LogStores {
		for _, callers := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("store=%s/callers=%d", store, callers), func(b *testing.B) {
				benchmarkPropose(b, store, callers)
			})
		}
	}
}

func benchmarkPropose(b *testing.B, store string, callers int) {
	b.ReportAllocs()
	addr := freeAddr(b)
	n := startNodeStore(b, b.TempDir(), addr, store)
	ctx := context.Background()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 128)
	first := n.Raft().LastIndex()
	var next sync.Mutex
	left := b.N
	commits := countCommits(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: value}}})
				if err != nil || res.Err != nil {
					b.Error(err, res.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	entries := n.Raft().LastIndex() - first
	if entries > 0 {
		b.ReportMetric(float64(b.N)/float64(entries), "cmds/entry")
	}
	if c, mean := commits(); c > 0 {
		b.ReportMetric(float64(entries)/float64(c), "entries/commit")
		b.ReportMetric(float64(b.N)/float64(c), "cmds/commit")
		b.ReportMetric(float64(mean.Microseconds()), "µs/commit")
	}
}

// countCommits counts the leader's log-store commits from now on (Raft measures each
// batch it stores, one StoreLogs call) and returns how many happened and their mean
// duration.
func countCommits(b *testing.B) func() (int, time.Duration) {
	sink := metrics.NewInmemSink(time.Hour, time.Hour)
	cfg := metrics.DefaultConfig("bench")
	cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
	if _, err := metrics.NewGlobal(cfg, sink); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { metrics.NewGlobal(cfg, &metrics.BlackholeSink{}) })
	return func() (int, time.Duration) {
		count, sum := 0, 0.0
		for _, iv := range sink.Data() {
			iv.RLock()
			for name, s := range iv.Samples {
				if strings.HasSuffix(name, "raft.leader.dispatchLog") {
					count += s.Count
					sum += s.Sum
				}
			}
			iv.RUnlock()
		}
		if count == 0 {
			return 0, 0
		}
		return count, time.Duration(sum / float64(count) * float64(time.Millisecond))
	}
}
