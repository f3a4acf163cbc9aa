package server

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// When the client port stops serving while the server is not closing, Err reports it (the
// process exits) and the node stops claiming readiness.
func TestServeErrorIsReported(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	s, err := Start(Config{NodeID: "n1", DataDir: t.TempDir(), ClientAddr: free(), RaftBind: free(), Bootstrap: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case err := <-s.Err():
		t.Fatalf("an error before any failure: %v", err)
	default:
	}
	s.ln.Close() // the listener fails under the server
	select {
	case err := <-s.Err():
		t.Logf("reported: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the client port stopped and nothing reported it")
	}
	if !s.failed.Load() {
		t.Fatal("readiness still on without a client port")
	}
}
