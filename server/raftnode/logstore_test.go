package raftnode

import (
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

func freeAddr(t *testing.T) string {
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
	if _, err := os.Stat(filepath.Join(raftDir, "raft.db")); !os.IsNotExist(err) {
		t.Fatalf("a bolt log next to the WAL: %v", err)
	}

	_, err := Start(Config{NodeID: "n1", DataDir: dir, RaftBind: addr, Bootstrap: true,
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
