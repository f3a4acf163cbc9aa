package raftnode

import (
	"io"
	"strconv"
	"sync"
	"time"

	gometrics "github.com/armon/go-metrics"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Raft metrics this package measures itself: the log store's write latency (fsyncs
// included), the FSM's apply time per entry, snapshots written, commands per log entry
// (group commit), and the time of the leader's last contact with each follower. Position gauges (term, commit index, ...) are
// read at scrape time from Stats.
var (
	storeSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "octopusmq_raft_log_store_seconds",
		Help:    "Time to store a batch of Raft log entries in the log store (write and fsync).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
	})
	// applySeconds is observed by the FSM per command entry (fsm.ApplyBatch): two clock
	// reads and one Observe of a histogram without labels, which allocates nothing.
	applySeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "octopusmq_raft_apply_seconds",
		Help: "Time for the FSM to apply one committed Raft command log entry (decode and apply all its commands), " +
			"per entry on every node; configuration and no-op entries are not observed.",
		Buckets: applyBuckets,
	})
	storeEntries = promauto.NewCounter(prometheus.CounterOpts{
		Name: "octopusmq_raft_log_stored_entries_total", Help: "Raft log entries written to the log store.",
	})
	snapshotSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "octopusmq_raft_snapshot_seconds",
		Help:    "Time to write a snapshot to the snapshot store (taken here or received from the leader), from creation to close.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	})
	snapshotSize = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "octopusmq_raft_snapshot_last_bytes", Help: "Size of the last snapshot written.",
	})
	snapshotsFailed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "octopusmq_raft_snapshots_failed_total", Help: "Snapshots cancelled or failed while being written.",
	})
	commandsPerEntry = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "octopusmq_raft_commands_per_entry",
		Help:    "Commands per Raft log entry this node proposed (group commit); its count is the entries proposed.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
)

// applyBuckets are octopusmq_raft_apply_seconds' bounds: thirds of a decade from 1 µs to 1 s
// (1, 2.15, 4.64, 10 µs, ...), so an entry of a few small commands, which applies in a few
// µs, is resolved, and stalls of milliseconds are told apart.
var applyBuckets = prometheus.ExponentialBucketsRange(1e-6, 1, 19)

// observeEntry records one proposed log entry of n commands.
func observeEntry(n int) { commandsPerEntry.Observe(float64(n)) }

// observeApply records one command entry applied since start.
func observeApply(start time.Time) { applySeconds.Observe(time.Since(start).Seconds()) }

// timedLogStore measures the writes of a raft.LogStore.
type timedLogStore struct{ raft.LogStore }

func (s timedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// IsMonotonic passes on the wrapped store's raft.MonotonicLogStore answer (raft-wal takes
// only consecutive indexes). In a node the store under it is keepingLog, which answers
// no: agreeingSnapshots then empties or rewrites the log after an install or a backup
// restore (snapshot_agree.go), so the next append after the restore's gap is consecutive.
func (s timedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (s timedLogStore) StoreLogs(logs []*raft.Log) error {
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	storeSeconds.Observe(time.Since(start).Seconds())
	if err == nil {
		storeEntries.Add(float64(len(logs)))
	}
	return err
}

// timedSnapshotStore measures the snapshots written through a raft.SnapshotStore.
type timedSnapshotStore struct{ raft.SnapshotStore }

func (s timedSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		snapshotsFailed.Inc()
		return nil, err
	}
	return &timedSink{SnapshotSink: sink, start: time.Now()}, nil
}

type timedSink struct {
	raft.SnapshotSink
	start  time.Time
	n      int64
	closed bool // raft closes the sink again after the FSM's Persist closed it: count once
}

func (s *timedSink) Write(p []byte) (int, error) {
	n, err := s.SnapshotSink.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *timedSink) Close() error {
	if s.closed {
		return s.SnapshotSink.Close()
	}
	err := s.SnapshotSink.Close()
	s.closed = err == nil
	if err != nil {
		snapshotsFailed.Inc()
		return err
	}
	snapshotSeconds.Observe(time.Since(s.start).Seconds())
	snapshotSize.Set(float64(s.n))
	return nil
}

func (s *timedSink) Cancel() error {
	snapshotsFailed.Inc()
	return s.SnapshotSink.Cancel()
}

var _ io.Writer = (*timedSink)(nil)

// Stats is this node's Raft position, read from hashicorp/raft at scrape time.
type Stats struct {
	Term, CommitIndex, AppliedIndex, LastLogIndex, LastSnapshotIndex uint64
	// LastContact is the time since this node last heard from a leader (0 on the leader;
	// -1 when it never has).
	LastContact time.Duration
	// HasLeader: a leader is known.
	HasLeader bool
}

// Stats returns this node's Raft position.
func (n *Node) Stats() Stats {
	m := n.raft.Stats()
	u := func(k string) uint64 { v, _ := strconv.ParseUint(m[k], 10, 64); return v }
	st := Stats{
		Term: u("term"), CommitIndex: u("commit_index"), AppliedIndex: u("applied_index"),
		LastLogIndex: u("last_log_index"), LastSnapshotIndex: u("last_snapshot_index"),
	}
	switch c := m["last_contact"]; c {
	case "never":
		st.LastContact = -1
	case "0":
	default:
		st.LastContact, _ = time.ParseDuration(c)
	}
	id, _ := n.Leader()
	st.HasLeader = id != ""
	return st
}

// FollowerContacts returns, on the leader, the time since each follower last answered a
// heartbeat or an append (followers this node never reached as leader are absent); nil on
// a follower.
func (n *Node) FollowerContacts() map[string]time.Duration {
	if !n.IsLeader() {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	out := map[string]time.Duration{}
	now := time.Now()
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == n.cfg.NodeID {
			continue
		}
		if t, ok := contacts.get(string(srv.ID)); ok {
			out[string(srv.ID)] = now.Sub(t)
		}
	}
	return out
}

// contacts is the process's go-metrics sink: hashicorp/raft reports each answered
// heartbeat and append per peer (raft.replication.heartbeat / appendEntries.rpc with a
// peer_id label); the sink keeps only the time of the last one per peer and drops every
// other metric, so raft's instrumentation costs a map write per answered RPC.
var contacts = &contactSink{last: map[string]time.Time{}}

var installContacts sync.Once

func installContactSink() {
	installContacts.Do(func() {
		cfg := gometrics.DefaultConfig("")
		cfg.EnableHostname = false
		cfg.EnableRuntimeMetrics = false
		_, _ = gometrics.NewGlobal(cfg, contacts)
	})
}

type contactSink struct {
	gometrics.BlackholeSink
	mu   sync.Mutex
	last map[string]time.Time
}

func (c *contactSink) get(peer string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.last[peer]
	return t, ok
}

func (c *contactSink) AddSampleWithLabels(key []string, _ float32, labels []gometrics.Label) {
	if len(key) < 3 || key[0] != "raft" || key[1] != "replication" || (key[2] != "heartbeat" && key[2] != "appendEntries") {
		return
	}
	for _, l := range labels {
		if l.Name == "peer_id" {
			c.mu.Lock()
			c.last[l.Value] = time.Now()
			c.mu.Unlock()
			return
		}
	}
}
