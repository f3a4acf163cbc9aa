package raftnode

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// BenchmarkCeiling compares the bare-Raft entry ceiling with what our proposer gets through
// the same Raft, on two 3-node clusters in this process over real TCP transports on
// 127.0.0.1, each node with its own data folder and log store (fsync per Raft batch):
//
//   - raft: hashicorp/raft with the node's raft.Config (raftConfig), log store, snapshot
//     store and transport, and an FSM that does nothing. N writers each Apply one 128 B
//     entry at a time. Reported: entries/s and the process's CPU time per entry
//     (cpu-µs/op: all three nodes, less what both clusters use idle).
//   - octopusmq: raftnode Nodes (the FSM over state.State, log format 2). N callers each
//     Propose one enqueue of one 128 B item at a time (what a stream handler does per
//     command). Reported: cmds/s, cmds/entry (group commit), entries/s and the process's CPU
//     time per command (cpu-µs/op).
//
// Both clusters run for the whole benchmark (idle when not measured), so the two sides of
// one writer count run back to back; rounds of whole runs interleave them. Queue items stay
// in the queue, as in octopusmq-bench's enqueue workload; snapshots happen at the default
// threshold on both sides. The claim checked: cmds/s above the bare entries/s at every N.
//
//	go test -c -o /tmp/raftnode.test ./server/raftnode
//	for i in 1 2 3 4 5; do /tmp/raftnode.test -test.run '^$' -test.bench 'Ceiling/store=bolt' -test.benchtime 3s; done | tee ceiling.txt
func BenchmarkCeiling(b *testing.B) {
	for _, store := range LogStores {
		b.Run("store="+store, func(b *testing.B) {
			bare := startBareCluster(b, store)
			ours := startNodeCluster(b, store)
			idle := idleCPU(b)
			b.Logf("both clusters idle: %.3f cores", idle)
			for _, n := range []int{1, 16, 64, 256} {
				b.Run(fmt.Sprintf("writers=%d/raft", n), func(b *testing.B) { bare.bench(b, n, idle) })
				b.Run(fmt.Sprintf("writers=%d/octopusmq", n), func(b *testing.B) { benchNodeCluster(b, ours, n, idle) })
			}
		})
	}
}

// reserveAddrs returns n 127.0.0.1 addresses free a moment ago (the transports bind them).
func reserveAddrs(b *testing.B, n int) []string {
	addrs := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		defer l.Close()
	}
	return addrs
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// nopFSM applies nothing: what is measured is Raft, the log store and the transport.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }
func (nopFSM) Restore(r io.ReadCloser) error       { return r.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

type bareCluster struct{ leader *raft.Raft }

// startBareCluster starts 3 bare Raft servers built the way Start builds a node's: n1
// bootstraps alone, leads, and adds n2 and n3 as voters.
func startBareCluster(b *testing.B, store string) *bareCluster {
	addrs := reserveAddrs(b, 3)
	var rafts []*raft.Raft
	for i, addr := range addrs {
		cfg := Config{NodeID: fmt.Sprintf("n%d", i+1), DataDir: b.TempDir(), RaftBind: addr, RaftAdvertise: addr, Logger: quiet}
		rc := raftConfig(cfg)
		hl := newHCLog(quiet, "raft")
		rc.Logger = hl
		ls, err := openLogStore(cfg.DataDir, store, 0, hl)
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hl)
		if err != nil {
			b.Fatal(err)
		}
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		tr, _, err := newTransport(cfg, tcp, hl)
		if err != nil {
			b.Fatal(err)
		}
		r, err := raft.NewRaft(rc, nopFSM{}, ls, ls, snaps, tr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			r.Shutdown().Error()
			tr.Close()
			ls.Close()
		})
		if i == 0 {
			if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: tr.LocalAddr()}}}).Error(); err != nil {
				b.Fatal(err)
			}
			select {
			case <-r.LeaderCh():
			case <-time.After(20 * time.Second):
				b.Fatal("n1 did not become leader")
			}
		}
		rafts = append(rafts, r)
	}
	for i, addr := range addrs[1:] {
		if err := rafts[0].AddVoter(raft.ServerID(fmt.Sprintf("n%d", i+2)), raft.ServerAddress(addr), 0, 0).Error(); err != nil {
			b.Fatal(err)
		}
	}
	return &bareCluster{leader: rafts[0]}
}

// bench runs writers goroutines, each applying one 128 B entry at a time, b.N in all.
func (c *bareCluster) bench(b *testing.B, writers int, idle float64) {
	b.ReportAllocs()
	entry := make([]byte, 128)
	cpu := processCPU(b)
	b.ResetTimer()
	runWriters(b, writers, func() error { return c.leader.Apply(entry, 0).Error() })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(cpuPerOp(b, cpu(), idle), "cpu-µs/op")
}

// startNodeCluster starts 3 raftnode Nodes: n1 bootstraps alone and adds n2 and n3 as
// voters; their member records say log format 2 (what a server's membership upkeep
// records), so entries are written as servers write them.
func startNodeCluster(b *testing.B, store string) *Node {
	addrs := reserveAddrs(b, 3)
	leader := startNodeConfig(b, Config{NodeID: "n1", DataDir: b.TempDir(), RaftBind: addrs[0], ClientAddress: "n1:client", Bootstrap: true, LogStore: store})
	waitLogFormat(b, leader, "n1", LogFormatBody)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, addr := range addrs[1:] {
		id := fmt.Sprintf("n%d", i+2)
		n, err := Start(Config{NodeID: id, DataDir: b.TempDir(), RaftBind: addr, ClientAddress: id + ":client", LogStore: store, Logger: quiet}, state.New(nil))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Shutdown() })
		if err := leader.Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, 0).Error(); err != nil {
			b.Fatal(err)
		}
		if _, err := leader.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: id, ClientAddress: id + ":client", LogFormat: LogFormatBody}); err != nil {
			b.Fatal(err)
		}
	}
	if f := leader.WritesLogFormat(); f != LogFormatBody {
		b.Fatalf("the cluster writes log format %d, want %d", f, LogFormatBody)
	}
	if _, err := leader.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		b.Fatal(err)
	}
	return leader
}

// benchNodeCluster runs callers goroutines, each proposing one enqueue of one 128 B item
// at a time, b.N in all.
func benchNodeCluster(b *testing.B, n *Node, callers int, idle float64) {
	b.ReportAllocs()
	ctx := context.Background()
	value := make([]byte, 128)
	first := n.Raft().LastIndex()
	cpu := processCPU(b)
	b.ResetTimer()
	runWriters(b, callers, func() error {
		res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: value}}})
		if err == nil && res.Err != nil {
			err = res.Err
		}
		return err
	})
	b.StopTimer()
	entries := n.Raft().LastIndex() - first
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "cmds/s")
	b.ReportMetric(cpuPerOp(b, cpu(), idle), "cpu-µs/op")
	b.ReportMetric(float64(entries)/secs, "entries/s")
	if entries > 0 {
		b.ReportMetric(float64(b.N)/float64(entries), "cmds/entry")
	}
}

// processCPU returns a function that tells the CPU time (user and system) this process
// (the three nodes, the writers) used since processCPU was called: less noisy than
// throughput on a shared machine.
func processCPU(b *testing.B) func() time.Duration {
	now := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := now()
	return func() time.Duration { return now() - start }
}

// idleCPU measures the CPU the idle clusters use per second (Raft's heartbeats and its
// AppendEntries every CommitTimeout), to take it out of cpu-µs/op.
func idleCPU(b *testing.B) float64 {
	const span = 2 * time.Second
	cpu := processCPU(b)
	time.Sleep(span) // a measurement window, not a wait for an event
	return cpu().Seconds() / span.Seconds()
}

// cpuPerOp is the CPU time per operation in µs beyond what the clusters use idle.
func cpuPerOp(b *testing.B, used time.Duration, idle float64) float64 {
	return (used.Seconds() - idle*b.Elapsed().Seconds()) * 1e6 / float64(b.N)
}

// runWriters runs op b.N times over writers goroutines, each calling it in a loop.
func runWriters(b *testing.B, writers int, op func() error) {
	var mu sync.Mutex
	left := b.N
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if left == 0 {
					mu.Unlock()
					return
				}
				left--
				mu.Unlock()
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
