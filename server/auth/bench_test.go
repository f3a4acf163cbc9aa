package auth_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// BenchmarkStreamEnqueueSecure is BenchmarkStreamEnqueue with TLS and a bearer token (a
// producer's, so every command is authorised): compare the two for the cost of security.
func BenchmarkStreamEnqueueSecure(b *testing.B) {
	const streams = 16
	dir := b.TempDir()
	ca := servertest.NewCA(b, "ca")
	cert, key, _ := ca.WriteFiles(b, dir, "server")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("root admin "+auth.HashToken("a")+"\np producer:bench "+auth.HashToken("p")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	srv := servertest.Start(b, servertest.WithAuth(auth.Config{TLSCert: cert, TLSKey: key, TokensFile: tokens, ReloadInterval: 1e9}))
	withTLS := client.WithTLS(&tls.Config{RootCAs: ca.Pool})
	admin, err := client.NewAdminClient(srv.Addr, withTLS, client.WithToken("a"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { admin.Close() })
	if err := admin.CreateQueue(context.Background(), client.QueueConfig{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	clients := make([]*client.QueueClient, streams)
	for i := range clients {
		if clients[i], err = client.NewQueueClient(srv.Addr, "bench", withTLS, client.WithToken("p")); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { clients[i].Close() })
	}
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
