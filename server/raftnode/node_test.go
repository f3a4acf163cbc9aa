package raftnode

import (
	"context"

	"fmt"
	"github.com/hashicorp/raft"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

func startNode(t testing.TB) *Node {
	t.Helper()
	addr := freeAddr(t)
	return startNodeAt(t, t.TempDir(), addr)
}

// startNodeAt starts (or restarts) a single-node cluster with its data in dir.
func startNodeAt(t testing.TB, dir, addr string) *Node {
	t.Helper()
	return startNodeStore(t, dir, addr, "")
}

// startNodeStore is startNodeAt with the log store logStore. The node publishes a client
// address, as a server does, so it writes log format 2 (log_format.go) once it has recorded
// its own member record, which this waits for.
func startNodeStore(t testing.TB, dir, addr, logStore string) *Node {
	t.Helper()
	n := startNodeConfig(t, Config{NodeID: "n1", DataDir: dir, RaftBind: addr, ClientAddress: "n1:client", Bootstrap: true, LogStore: logStore})
	waitLogFormat(t, n, "n1", LogFormatBody)
	return n
}

// startNodeConfig starts a node of cfg (quiet) and waits until it leads.
func startNodeConfig(t testing.TB, cfg Config) *Node {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Start(cfg, state.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitLeaderReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConcurrentProposalsGetTheirOwnResults checks group commit: many concurrent commands
// share entries, and each caller gets the result of its own command.
func TestConcurrentProposalsGetTheirOwnResults(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	before := n.Raft().LastIndex()
	const callers = 400
	ids := make([]uint64, callers)
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
				Items: []*pb.InputItem{{Value: []byte(fmt.Sprint(i)), UniqueKey: []byte(fmt.Sprint(i))}}})
			if err != nil || res.Err != nil {
				t.Errorf("caller %d: %v %v", i, err, res.Err)
				return
			}
			ids[i] = res.Value.(*state.EnqueueResult).IDs[0]
		}(i)
	}
	wg.Wait()
	// Each caller's id is unique, and re-enqueueing its unique key answers that same id:
	// results were not mixed up between callers.
	seen := map[uint64]bool{}
	for i, id := range ids {
		if id == 0 || seen[id] {
			t.Fatalf("caller %d got id %d (duplicate or zero)", i, id)
		}
		seen[id] = true
		res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
			Items: []*pb.InputItem{{Value: []byte("again"), UniqueKey: []byte(fmt.Sprint(i))}}})
		if err != nil || res.Value.(*state.EnqueueResult).IDs[0] != id || !res.Value.(*state.EnqueueResult).Duplicate[0] {
			t.Fatalf("caller %d: unique key maps to %v, want %d", i, res.Value, id)
		}
	}
	t.Logf("%d concurrent commands took %d log entries", callers, n.Raft().LastIndex()-before-callers)
}

func TestReadBarrierOnLeader(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.Ready() || !n.IsLeader() {
		t.Fatal("a bootstrapped single node should be the ready leader")
	}
	if !n.fsm.soleVoter.Load() {
		t.Fatal("a single node should know it is the only voter (reads need no VerifyLeader round)")
	}
	// With a second voter in the configuration the shortcut is off.
	n.fsm.setConfiguration(raft.Configuration{Servers: []raft.Server{
		{ID: "n1", Address: "a", Suffrage: raft.Voter}, {ID: "n2", Address: "b", Suffrage: raft.Voter}}})
	if n.fsm.soleVoter.Load() {
		t.Fatal("two voters: reads must verify leadership")
	}
	n.fsm.setConfiguration(raft.Configuration{Servers: []raft.Server{
		{ID: "n1", Address: "a", Suffrage: raft.Voter}, {ID: "n2", Address: "b", Suffrage: raft.Nonvoter}}})
	if !n.fsm.soleVoter.Load() {
		t.Fatal("a non-voter cannot be elected: this node is still the only voter")
	}
}

func TestShutdownFailsPending(t *testing.T) {
	n := startNode(t)
	n.Shutdown()
	_, err := n.Propose(context.Background(), raftpb.Type_TYPE_TICK, &raftpb.Tick{})
	if err == nil {
		t.Fatal("a proposal after shutdown succeeded")
	}
}

// BenchmarkProposeParallel measures group-commit throughput of small commands.
func BenchmarkProposeParallel(b *testing.B) {
	n := startNode(b)
	ctx := context.Background()
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		b.Fatal(err)
	}
	before := n.Raft().LastIndex()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			if _, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
				Items: []*pb.InputItem{{Value: make([]byte, 128)}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/float64(n.Raft().LastIndex()-before), "cmds/entry")
}

// Concurrent reads share leadership checks and each gets an answer; after shutdown the
// check fails.
func TestVerifyLeaderRounds(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- n.verifyLeader(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	n.Shutdown()
	// Every check fails, and promptly: not when ctx (10 s) expires. (Raft may queue a
	// check after its loop ended and never answer it; several tries make that likely.)
	start := time.Now()
	for i := 0; i < 20; i++ {
		if err := n.verifyLeader(ctx); err == nil {
			t.Fatal("leadership verified after shutdown")
		}
	}
	if ctx.Err() != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("leadership checks after shutdown took %v", time.Since(start))
	}
}
