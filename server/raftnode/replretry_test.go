package raftnode

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRetryingTransport: a heartbeat to an unreachable follower fails at once; a
// replication RPC is retried and reaches the follower once it is back; with retries off
// it fails at once.
func TestRetryingTransport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the follower is down

	newTransport := func(bind string) *raft.NetworkTransport {
		tr, err := raft.NewTCPTransport(bind, nil, 2, time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := newRetryingTransport(newTransport("127.0.0.1:0"), 0)
	defer tr.Close()
	off := newRetryingTransport(newTransport("127.0.0.1:0"), -1)
	defer off.Close()
	entries := &raft.AppendEntriesRequest{Term: 1, PrevLogEntry: 5, PrevLogTerm: 1, LeaderCommitIndex: 5,
		Entries: []*raft.Log{{Index: 6, Term: 1, Type: raft.LogCommand, Data: []byte("x")}}}

	start := time.Now()
	if err := tr.AppendEntries("f", raft.ServerAddress(addr), &raft.AppendEntriesRequest{Term: 1}, &raft.AppendEntriesResponse{}); err == nil {
		t.Fatal("heartbeat to a down follower succeeded")
	}
	if err := off.AppendEntries("f", raft.ServerAddress(addr), entries, &raft.AppendEntriesResponse{}); err == nil {
		t.Fatal("replication with retries off succeeded")
	}
	// Retried, either would take DefaultReplicationRetry (5 s) to fail.
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a heartbeat and a replication RPC without retries took %v to fail", d)
	}

	// A retry in progress ends when the node stops retries (as Node.Shutdown does before
	// Raft's shutdown, which waits for it), not after DefaultReplicationRetry.
	// The "follower" accepts each connection and closes it: every try fails, visibly.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangup.Close()
	tries := make(chan struct{}, 100)
	go func() {
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			c.Close()
			tries <- struct{}{}
		}
	}()
	stopping := newRetryingTransport(newTransport("127.0.0.1:0"), time.Hour)
	defer stopping.Close()
	failed := make(chan error, 1)
	go func() {
		failed <- stopping.AppendEntries("f", raft.ServerAddress(hangup.Addr().String()), entries, &raft.AppendEntriesResponse{})
	}()
	<-tries
	<-tries // retrying
	stopping.stopRetries()
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("replication to a down follower succeeded")
		}
	case <-time.After(DefaultReplicationRetry):
		t.Fatal("a retry went on after stopRetries")
	}
	stopping.stopRetries() // twice is fine

	// The follower comes back 300 ms after the replication RPC was first sent.
	back := make(chan *raft.NetworkTransport, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		f := newTransport(addr)
		back <- f
		for rpc := range f.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Term: 1, LastLog: 6, Success: true}, nil)
		}
	}()
	defer func() { (<-back).Close() }()
	var resp raft.AppendEntriesResponse
	start = time.Now()
	if err := tr.AppendEntries("f", raft.ServerAddress(addr), entries, &resp); err != nil {
		t.Fatalf("replication to a follower back after 300 ms: %v", err)
	}
	if !resp.Success || resp.LastLog != 6 {
		t.Fatalf("response %+v", resp)
	}
	if d := time.Since(start); d > DefaultReplicationRetry {
		t.Fatalf("took %v", d)
	}
}
