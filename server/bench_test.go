package server_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// BenchmarkStreamEnqueue measures enqueues through the Go client on a real server (client
// and server in one process), 16 streams in parallel, one item per call.
func BenchmarkStreamEnqueue(b *testing.B) {
	srv := servertest.Start(b)
	ctx := context.Background()
	admin, err := client.NewAdminClient(srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateQueue(ctx, client.QueueConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	const streams = 16
	clients := make([]*client.QueueClient, streams)
	for i := range clients {
		if clients[i], err = client.NewQueueClient(srv.Addr, "bench"); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	var next atomic.Int64
	value := make([]byte, 256)
	b.SetParallelism(streams / 2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		q := clients[next.Add(1)%streams]
		for pb.Next() {
			if _, err := q.Enqueue(ctx, &client.InputItem{Value: value}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkStreamEnqueueSequential is the latency of one enqueue at a time on one stream.
func BenchmarkStreamEnqueueSequential(b *testing.B) {
	srv := servertest.Start(b)
	ctx := context.Background()
	admin, err := client.NewAdminClient(srv.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateQueue(ctx, client.QueueConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	q, err := client.NewQueueClient(srv.Addr, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	value := make([]byte, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Enqueue(ctx, &client.InputItem{Value: value}); err != nil {
			b.Fatal(err)
		}
	}
}
