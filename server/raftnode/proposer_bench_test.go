package raftnode

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// BenchmarkPropose measures the proposer on a real single node (bbolt log, fsync per
// Raft batch): callers concurrent goroutines each propose one 128 B enqueue at a time.
// Reported besides ns/op (per command): commands per log entry.
//
//	go test -run '^$' -bench Propose -benchtime 20000x ./server/raftnode
func BenchmarkPropose(b *testing.B) {
	for _, callers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			n := startNode(b)
			ctx := context.Background()
			if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 128)
			first := n.Raft().LastIndex()
			var next sync.Mutex
			left := b.N
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
			if entries := n.Raft().LastIndex() - first; entries > 0 {
				b.ReportMetric(float64(b.N)/float64(entries), "cmds/entry")
			}
		})
	}
}
