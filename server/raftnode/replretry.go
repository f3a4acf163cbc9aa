package raftnode

import (
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// hashicorp/raft backs off replication to a follower it cannot reach: each failed
// AppendEntries or InstallSnapshot doubles the wait before the next (10 ms, 20 ms, ...,
// up to 10.24 s; only heartbeats have a capped backoff), and nothing interrupts the wait.
// The replication loop retries every few milliseconds, so a follower down for 6 s has
// already cost ten failures: once back it gets heartbeats at once (it knows the leader)
// but no entries for up to 10 s. If that follower is needed for a quorum (the other one
// fails meanwhile), nothing commits until the wait ends: the chaos suite saw every writer
// stall 9 s after a kill of one follower soon after another's restart.
//
// retryingTransport keeps the failure count down: a replication RPC (not a heartbeat)
// to an unreachable follower is retried here every replRetryEvery for up to
// DefaultReplicationRetry (5 s; --raft-replication-retry) before it fails, so one failure
// stands for that much outage instead
// of a few milliseconds, and a follower that comes back is reached within replRetryEvery.
// A follower down for a minute still leaves a backoff of about 160 ms. The replication
// goroutine of that one follower is what waits: heartbeats, other followers, elections
// and commits go on. Retrying is safe: Raft's RPCs are idempotent for the follower (an
// AppendEntries it already has is acknowledged again; a stale one is refused by term).
type retryingTransport struct {
	*raft.NetworkTransport
	retryFor time.Duration // 0: no retries
	shutdown chan struct{}
	stopOnce sync.Once
}

// DefaultReplicationRetry is how long a replication RPC is retried (Config.ReplicationRetry).
const DefaultReplicationRetry = 5 * time.Second

const replRetryEvery = 100 * time.Millisecond

// newRetryingTransport wraps t, retrying for retryFor (0: DefaultReplicationRetry; negative:
// never).
func newRetryingTransport(t *raft.NetworkTransport, retryFor time.Duration) *retryingTransport {
	switch {
	case retryFor == 0:
		retryFor = DefaultReplicationRetry
	case retryFor < 0:
		retryFor = 0
	}
	return &retryingTransport{NetworkTransport: t, retryFor: retryFor, shutdown: make(chan struct{})}
}

// stopRetries makes every retry in progress return its last error and later calls fail
// without retrying. Node.Shutdown calls it before Raft's shutdown, which waits for the
// replication goroutines: one retrying to a follower that is down would otherwise hold
// the node's shutdown for up to retryFor. Safe to call more than once.
func (t *retryingTransport) stopRetries() {
	t.stopOnce.Do(func() { close(t.shutdown) })
}

// Close stops retries and closes the transport.
func (t *retryingTransport) Close() error {
	t.stopRetries()
	return t.NetworkTransport.Close()
}

// isHeartbeat reports the leader's heartbeat, which carries only its term and identity
// (raft.heartbeat): it must fail fast, it has a capped backoff of its own.
func isHeartbeat(args *raft.AppendEntriesRequest) bool {
	return len(args.Entries) == 0 && args.PrevLogEntry == 0 && args.PrevLogTerm == 0 && args.LeaderCommitIndex == 0
}

// retry runs call until it succeeds, retryFor has passed or the transport closes,
// waiting replRetryEvery between tries; it returns the last error.
func (t *retryingTransport) retry(call func() error) error {
	err := call()
	deadline := time.Now().Add(t.retryFor)
	for err != nil && time.Now().Before(deadline) {
		timer := time.NewTimer(replRetryEvery)
		select {
		case <-timer.C:
		case <-t.shutdown:
			timer.Stop()
			return err
		}
		err = call()
	}
	return err
}

// AppendEntries retries a replication RPC that failed (see retryingTransport).
func (t *retryingTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if isHeartbeat(args) {
		return t.NetworkTransport.AppendEntries(id, target, args, resp)
	}
	return t.retry(func() error { return t.NetworkTransport.AppendEntries(id, target, args, resp) })
}

// InstallSnapshot first waits (as AppendEntries retries) until the follower answers a
// heartbeat: the snapshot's data can be read only once, so the transfer itself is not
// retried.
func (t *retryingTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	probe := &raft.AppendEntriesRequest{RPCHeader: args.RPCHeader, Term: args.Term, Leader: args.Leader}
	_ = t.retry(func() error {
		return t.NetworkTransport.AppendEntries(id, target, probe, &raft.AppendEntriesResponse{})
	})
	return t.NetworkTransport.InstallSnapshot(id, target, args, resp, data)
}
