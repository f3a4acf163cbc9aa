package client

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// Clients of one process with the same address and options share one connection, which
// outlives any one of them and closes with the last.
func TestClientsShareOneConnection(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := sharedConns()
	a, err := NewAdminClient(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CreateQueue(ctx, QueueConfig{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	q1, err := NewQueueClient(srv.Addr, "q")
	if err != nil {
		t.Fatal(err)
	}
	q2, err := NewQueueClient(srv.Addr, "q")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q1.Enqueue(ctx, &InputItem{Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := q2.Enqueue(ctx, &InputItem{Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if n := sharedConns() - base; n != 1 {
		t.Fatalf("three clients of one server hold %d shared connections, want 1", n)
	}
	q1.m.mu.Lock()
	cc := q1.m.conns[srv.Addr]
	q1.m.mu.Unlock()
	q2.m.mu.Lock()
	cc2 := q2.m.conns[srv.Addr]
	q2.m.mu.Unlock()
	a.mu.Lock()
	cc3 := a.conns[srv.Addr]
	a.mu.Unlock()
	if cc == nil || cc != cc2 || cc != cc3 {
		t.Fatal("the clients do not use the same connection")
	}
	// Closing two of them leaves the third working on it.
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q2.Enqueue(ctx, &InputItem{Value: []byte("c")}); err != nil {
		t.Fatalf("enqueue after the other clients closed: %v", err)
	}
	if err := q2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sharedConns() - base; n != 0 {
		t.Fatalf("%d shared connections left after every client closed", n)
	}
	// Clients with their own dial options do not share.
	q3, err := NewQueueClient(srv.Addr, "q", WithDialOptions(grpc.WithUserAgent("own")))
	if err != nil {
		t.Fatal(err)
	}
	defer q3.Close()
	if _, err := q3.Enqueue(ctx, &InputItem{Value: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if n := sharedConns() - base; n != 0 {
		t.Fatalf("a client with no dial options to share counted %d shared connections", n)
	}
}
