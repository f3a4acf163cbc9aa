package server_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// benchQueue starts a server with the queue "bench" and returns n clients of it.
func benchQueue(b *testing.B, n int) []*client.QueueClient {
	srv := servertest.Start(b)
	admin, err := client.NewAdminClient(srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { admin.Close() })
	if err := admin.CreateQueue(context.Background(), client.QueueConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	clients := make([]*client.QueueClient, n)
	for i := range clients {
		if clients[i], err = client.NewQueueClient(srv.Addr, "bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { clients[i].Close() })
	}
	return clients
}

// BenchmarkStreamEnqueue measures enqueues through the Go client on a real server (client
// and server in one process), 16 streams in parallel, one item per call.
func BenchmarkStreamEnqueue(b *testing.B) {
	const streams = 16
	clients := benchQueue(b, streams)
	var next atomic.Int64
	value := make([]byte, 256)
	b.SetParallelism(streams / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		q := clients[next.Add(1)%streams]
		for pb.Next() {
			if _, err := q.Enqueue(context.Background(), &client.InputItem{Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStreamEnqueueSequential is the latency of one enqueue at a time on one stream.
func BenchmarkStreamEnqueueSequential(b *testing.B) {
	q := benchQueue(b, 1)[0]
	value := make([]byte, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Enqueue(context.Background(), &client.InputItem{Value: value}); err != nil {
			b.Fatal(err)
		}
	}
}
