// Package raftnode runs OctopusMQ's Raft core: hashicorp/raft with raft-boltdb (or raft-wal)
// for the log and stable store, file snapshots and the TCP transport (mutual TLS optional), the FSM adapter over
// state.State, the group-commit proposer, linearizable read barriers and the leader's
// deadline ticker. See DESIGN.md in this folder.
package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// Config configures a node.
type Config struct {
	NodeID        string
	DataDir       string
	RaftBind      string // listen address of the Raft transport
	RaftAdvertise string // address peers dial; defaults to RaftBind
	ClientAddress string // this node's client (gRPC/HTTP) address, shared with peers
	// PeerTLS, when set, secures the Raft port with mutual TLS (see PeerTLS).
	PeerTLS PeerTLS
	// Bootstrap makes a fresh node (no Raft state yet) form a cluster of Peers; with no
	// Peers, a single-node cluster of itself.
	Bootstrap bool
	Peers     []raft.Server
	// ReplicationRetry is how long a replication RPC to an unreachable follower is retried
	// before Raft counts a failure (retryingTransport): 0 means DefaultReplicationRetry,
	// negative turns retrying off.
	ReplicationRetry time.Duration
	// SnapshotThreshold is the number of log entries between automatic snapshots.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is the number of entries kept after a snapshot for followers to catch up.
	TrailingLogs uint64
	// SnapshotLogRatio: a snapshot also waits until the log since the last one is this many
	// times that snapshot's size (0: DefaultSnapshotLogRatio; negative: no size rule). See
	// snapshot_policy.go.
	SnapshotLogRatio float64
	Logger           *slog.Logger
	// Clock is the time source entry times come from (nil: the system's). See clock.go.
	Clock Clock
	// LogStore is the Raft log store asked for: empty opens whichever store the data
	// folder holds and gives a new folder LogStoreWAL; LogStoreWAL or LogStoreBolt makes
	// a new folder with that store and refuses a folder that holds the other.
	LogStore string
}

// Node is a running Raft member.
type Node struct {
	cfg       Config
	raft      *raft.Raft
	fsm       *fsm
	state     *state.State
	prop      *proposer
	clock     *logClock
	transport *retryingTransport
	snaps     raft.SnapshotStore
	peerTLS   *tlsStreamLayer // nil without peer TLS
	logStore  logStore
	log       *slog.Logger
	snapTrig  *snapshotTrigger // snapshot_policy.go

	leaders *leaderWatch
	verify  verifier
	fresh   bool                        // no Raft state existed at start
	probe   atomic.Pointer[MemberProbe] // set by StartMembership (log_format.go asks joiners)

	mu          sync.Mutex
	leaderReady chan struct{} // closed once this node, as leader, has applied its whole log
	stop        chan struct{}
	wg          sync.WaitGroup
}

// Start opens (or creates) the node's data and joins Raft.
func Start(cfg Config, st *state.State) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RaftAdvertise == "" {
		cfg.RaftAdvertise = cfg.RaftBind
	}
	if cfg.Clock == nil {
		cfg.Clock = NewSystemClock()
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	rc := raftConfig(cfg)
	// Raft logs through our slog handler (one format, one level; see hclog.go).
	hl := newHCLog(cfg.Logger, "raft")
	rc.Logger = hl

	logStore, err := openLogStore(raftDir, cfg.LogStore, 0, hl.Named("log"))
	if err != nil {
		return nil, fmt.Errorf("raft log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hl)
	if err != nil {
		logStore.Close()
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
	if err != nil {
		logStore.Close()
		return nil, fmt.Errorf("raft advertise address %q: %w", cfg.RaftAdvertise, err)
	}
	netTransport, peerTLS, err := newTransport(cfg, addr, hl)
	if err != nil {
		logStore.Close()
		return nil, err
	}
	transport := newRetryingTransport(netTransport, cfg.ReplicationRetry)
	existing, err := raft.HasExistingState(logStore, logStore, snaps)
	if err != nil {
		transport.Close()
		logStore.Close()
		return nil, err
	}
	clock := newLogClock(cfg.Clock, cfg.Logger, cfg.Bootstrap && !existing)
	f := newFSM(st, rc.LocalID, clock)
	installContactSink()
	// Snapshots go through agreeingSnapshots (snapshot_agree.go): an installed snapshot makes
	// the log agree with it, which hashicorp/raft's InstallSnapshot does not.
	logs, raftSnaps := raftStores(logStore, timedSnapshotStore{snaps}, hl.Named("snapshot"), clock.received)
	snapTrigger, err := newSnapshotTrigger(cfg, rc, logStore, snaps) // takes over rc's threshold
	if err != nil {
		transport.Close()
		logStore.Close()
		return nil, err
	}
	r, err := raft.NewRaft(rc, f, snapTrigger.logs(logs), logStore, snapTrigger.snapshots(raftSnaps), transport)
	if err != nil {
		transport.Close()
		logStore.Close()
		return nil, fmt.Errorf("raft: %w", err)
	}
	n := &Node{
		cfg: cfg, raft: r, fsm: f, state: st, clock: clock, transport: transport, peerTLS: peerTLS, logStore: logStore, snaps: snaps, snapTrig: snapTrigger,
		log: cfg.Logger, leaderReady: make(chan struct{}), stop: make(chan struct{}),
	}
	n.prop = newProposer(r, clock.stamp)
	n.prop.format = n.writeFormat
	n.fresh = !existing
	if cfg.Bootstrap {
		if !existing {
			servers := cfg.Peers
			if len(servers) == 0 {
				servers = []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}
			}
			if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				n.Shutdown()
				return nil, fmt.Errorf("bootstrap: %w", err)
			}
			n.log.Info("bootstrapped a new cluster", "servers", len(servers))
		}
	}
	n.watchLeader()
	n.wg.Add(2)
	go n.leaderLoop()
	go func() { defer n.wg.Done(); snapTrigger.run(r, n.stop) }()
	return n, nil
}

// raftConfig is the raft.Config a node of cfg runs with (the Logger aside). The bare-Raft
// ceiling benchmark (ceiling_bench_test.go) runs with it too.
func raftConfig(cfg Config) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	// A leader steps down when a quorum has not answered within the lease. It may be as
	// long as the heartbeat timeout and no longer: a shorter lease (raft's default ratio)
	// made leaders on two loaded cores step down while a follower stored a 4 MiB entry.
	rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	rc.CommitTimeout = 5 * time.Millisecond
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	return rc
}

// AppliedChanged returns a channel closed when the next command entry is applied.
func (n *Node) AppliedChanged() <-chan struct{} { return n.fsm.waitApplied() }

// Fresh reports whether the node started without Raft state (a new member).
func (n *Node) Fresh() bool { return n.fresh }

// IsMember reports whether this node is in the Raft configuration it knows.
func (n *Node) IsMember() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == n.cfg.NodeID {
			return true
		}
	}
	return false
}

// ClockStats describe this node's view of the log's clock (see clock.go).
func (n *Node) ClockStats() ClockStats { return n.clock.stats() }

// Raft exposes the underlying raft for cluster management.
func (n *Node) Raft() *raft.Raft { return n.raft }

// ID is this node's Raft server id.
func (n *Node) ID() string { return n.cfg.NodeID }

// State is the replicated state.
func (n *Node) State() *state.State { return n.state }

// AppliedIndex is the last log index applied (Raft's own entries included).
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's id and Raft address ("" when none is known).
func (n *Node) Leader() (id, raftAddr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Propose appends one command to the log (coalesced with concurrent ones) and returns its
// result once committed and applied.
func (n *Node) Propose(ctx context.Context, typ raftpb.Type, payload proto.Message) (state.Result, error) {
	return n.Submit(typ, payload).Wait(ctx)
}

// Submit hands one command to the proposer without waiting. Commands submitted in sequence
// are applied in that order.
func (n *Node) Submit(typ raftpb.Type, payload proto.Message) *Pending {
	if !n.IsLeader() {
		pd := &Pending{done: make(chan proposalResult, 1)}
		pd.done <- proposalResult{err: ErrNotLeader}
		return pd
	}
	return n.prop.submit(typ, payload)
}

// ReadBarrier makes the next read of the state linearizable. Every write acknowledged to
// any client was applied before it was acknowledged, so a read sees it once this node
// (1) is the leader and has applied its predecessors' whole log (the barrier it runs on
// election), and (2) is still the leader now (VerifyLeader: a quorum heard from it, so no
// newer leader can have acknowledged anything). When this node is the configuration's only
// voter, no other node can be elected (membership changes one server at a time, and a
// second voter needs this node's vote), so (2) holds without a round.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if err := n.WaitLeaderReady(ctx); err != nil {
		return err
	}
	if n.fsm.soleVoter.Load() {
		return nil
	}
	if err := n.verifyLeader(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrNotLeader
	}
	return nil
}

// WaitLeaderReady waits until this node is the leader and has applied its whole log.
// It fails with ErrNotLeader as soon as another node is known to lead.
func (n *Node) WaitLeaderReady(ctx context.Context) error {
	for {
		changed := n.leaders.wait()
		n.mu.Lock()
		ready := n.leaderReady
		n.mu.Unlock()
		select {
		case <-ready:
			if n.IsLeader() {
				return nil
			}
		default:
		}
		if id, _ := n.Leader(); id != "" && id != n.cfg.NodeID {
			return ErrNotLeader
		}
		select {
		case <-ready:
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrShutdown
		}
	}
}

// Ready reports whether a leader is known and this node has applied the log: for the
// leader, its election barrier completed; for a follower, it applied what it knows to be
// committed and its state holds the leader's client address (without it the follower
// cannot forward: it restarted behind the log and the leader has not sent it the rest).
func (n *Node) Ready() bool {
	if n.IsLeader() {
		n.mu.Lock()
		ready := n.leaderReady
		n.mu.Unlock()
		select {
		case <-ready:
			return true
		default:
			return false
		}
	}
	id, _ := n.Leader()
	if id == "" || n.state.MemberAddress(id) == "" {
		return false
	}
	return n.raft.AppliedIndex() >= n.raft.CommitIndex()
}

// Backup encodes the state now and returns it with the Raft index it includes.
func (n *Node) Backup() (*state.Encoded, uint64, error) { return n.fsm.snapshotNow() }

// Shutdown leaves Raft cleanly and closes the stores.
func (n *Node) Shutdown() error {
	select {
	case <-n.stop:
		return nil
	default:
	}
	close(n.stop)
	n.prop.close()
	n.transport.stopRetries()
	err := n.raft.Shutdown().Error()
	n.prop.raftStopped()
	n.wg.Wait()
	n.transport.Close()
	if cerr := n.logStore.Close(); err == nil {
		err = cerr
	}
	return err
}
