package raftnode

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// freeAddr is a 127.0.0.1 address nothing listens on (a port the system just handed out).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A node on the WAL log store keeps its log in raft/wal, replays it at a restart, and its
// data folder is refused to the other store; offline recovery reads it too.
func TestWALLogStore(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	n := startNodeStore(t, dir, addr, LogStoreWAL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: []byte{byte(i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Recover(dir, "n1", nil, true); err == nil || !strings.Contains(err.Error(), "stop the node first") {
		t.Fatalf("recover while the node runs: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	raftDir := filepath.Join(dir, "raft")
	if _, err := os.Stat(filepath.Join(raftDir, "wal")); err != nil {
		t.Fatal(err)
	}
	checkGuard(t, raftDir) // raft.db: the guard, a directory, not a bolt log

	_, err := Start(Config{NodeID: "n1", DataDir: dir, RaftBind: addr, Bootstrap: true, LogStore: LogStoreBolt,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, state.New(nil))
	if err == nil || !strings.Contains(err.Error(), `"wal"`) {
		t.Fatalf("a WAL data folder opened as bolt: %v", err)
	}

	rep, err := Recover(dir, "n1", []raft.Server{{ID: "n1", Address: raft.ServerAddress(addr)}}, true)
	if err != nil || len(rep.Before.Servers) != 1 || rep.Before.Servers[0].ID != "n1" {
		t.Fatalf("recover dry run: %+v, %v", rep, err)
	}

	n = startNodeStore(t, dir, addr, LogStoreWAL)
	info, qerr := n.State().Queue("q")
	if qerr != nil || info.GetCount() != 50 {
		t.Fatalf("after a restart: %v (%v), want 50 items", info, qerr)
	}
}

func TestUnknownLogStoreRefused(t *testing.T) {
	_, err := Start(Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: freeAddr(t), Bootstrap: true, LogStore: "rocks",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, state.New(nil))
	if err == nil || !strings.Contains(err.Error(), `"rocks"`) {
		t.Fatalf("got %v", err)
	}
}

// A node that names no log store gives a new data folder the WAL (its files the owner's
// only), and opens a folder created by bolt (the default before) as bolt: a folder keeps
// its store.
func TestDefaultLogStore(t *testing.T) {
	enqueue := func(n *Node, i int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if i == 0 {
			if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: []byte{byte(i)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(n *Node) uint32 {
		t.Helper()
		info, err := n.State().Queue("q")
		if err != nil {
			t.Fatal(err)
		}
		return info.GetCount()
	}

	walFolder, addr := t.TempDir(), freeAddr(t)
	n := startNodeStore(t, walFolder, addr, "")
	enqueue(n, 0)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	checkGuard(t, filepath.Join(walFolder, "raft")) // raft.db: the guard, a directory, not a bolt log
	walDir := filepath.Join(walFolder, "raft", "wal")
	files, err := os.ReadDir(walDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 { // the metadata database and a segment
		t.Fatalf("wal holds %d files", len(files))
	}
	for _, f := range files {
		info, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v", f.Name(), perm)
		}
	}
	n = startNodeStore(t, walFolder, addr, "")
	enqueue(n, 1)
	if got := count(n); got != 2 {
		t.Fatalf("WAL folder reopened without a named store: %d items, want 2", got)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	boltFolder := t.TempDir()
	n = startNodeStore(t, boltFolder, addr, LogStoreBolt)
	enqueue(n, 0)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n = startNodeStore(t, boltFolder, addr, "")
	enqueue(n, 1)
	if got := count(n); got != 2 {
		t.Fatalf("bolt folder reopened without a named store: %d items, want 2", got)
	}
	if info, err := os.Stat(filepath.Join(boltFolder, "raft", "raft.db")); err != nil || !info.Mode().IsRegular() {
		t.Fatalf("the bolt log: %v", err)
	}
	if _, err := os.Stat(filepath.Join(boltFolder, "raft", "wal")); !os.IsNotExist(err) {
		t.Fatalf("a WAL next to the bolt log: %v", err)
	}
}

// A backup restored on a node of the WAL log store: Raft skips one index for the restore
// and must empty the WAL (it takes only consecutive indexes), so writes after it succeed and
// survive a restart.
func TestWALRestoreThenWrite(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	n := startNodeStore(t, dir, addr, LogStoreWAL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	enqueue := func(k int) {
		t.Helper()
		for i := range k {
			if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: []byte{byte(i)}}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() uint32 {
		t.Helper()
		info, err := n.State().Queue("q")
		if err != nil {
			t.Fatal(err)
		}
		return info.GetCount()
	}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	enqueue(3)
	backup, err := backupBytes(n)
	if err != nil {
		t.Fatal(err)
	}
	info, err := state.CheckSnapshot(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	enqueue(4)
	if _, err := n.RestoreBackup(ctx, bytes.NewReader(backup), info); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 3 {
		t.Fatalf("after the restore: %d items, want 3", got)
	}
	enqueue(5)
	if got := count(); got != 8 {
		t.Fatalf("writes after the restore: %d items, want 8", got)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n = startNodeStore(t, dir, addr, LogStoreWAL)
	if got := count(); got != 8 {
		t.Fatalf("after a restart: %d items, want 8", got)
	}
}

func TestTimedLogStoreMonotonic(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want bool
	}{{LogStoreWAL, true}, {LogStoreBolt, false}} {
		s, err := openLogStore(t.TempDir(), tc.kind, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := raft.LogStore(timedLogStore{s}).(raft.MonotonicLogStore)
		if got := ok && m.IsMonotonic(); got != tc.want {
			t.Errorf("%s: monotonic %v, want %v", tc.kind, got, tc.want)
		}
		s.Close()
	}
}
