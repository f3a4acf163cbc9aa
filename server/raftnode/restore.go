package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/state"
)

// restoreEnqueueTimeout bounds how long a restore waits for Raft to take it.
const restoreEnqueueTimeout = time.Minute

// restoreConfirmTimeout bounds how long a restore call waits, once the leader has applied
// it, for a quorum to confirm it: every follower downloads the whole backup, so it grows
// with the size (a minute, and a second per 8 MiB).
func restoreConfirmTimeout(size int64) time.Duration {
	return restoreConfirmBase + time.Duration(size/(8<<20))*time.Second
}

// restoreConfirmBase is restoreConfirmTimeout for an empty backup (a variable for tests).
var restoreConfirmBase = time.Minute

// ErrRestoreUnconfirmed: the leader applied a restore, but a quorum did not confirm it
// within restoreConfirmTimeout. It takes effect once a quorum has it (the leader keeps
// sending it), and is lost if the leader fails first: the outcome is unknown.
var ErrRestoreUnconfirmed = errors.New("the restore is applied on the leader, but a quorum of members has not confirmed it in time: it takes effect once they have it, and is lost if the leader fails first (GET /v1/cluster shows each member's applied index)")

// RestoreBackup replaces the whole cluster's state with a backup: f holds the file that
// state.CheckSnapshot accepted and described as info. The restore goes through Raft (a user
// snapshot every member installs).
//
// Counters never move backwards: the restored state's clock, next id and last lock token
// are the maximum of the backup's and the current state's. The proposer runs the start of
// the restore exclusively: every command proposed before it has been applied (so the
// current state is final), and none is proposed until Raft has taken the restore (every
// later entry follows it in the log and is applied to the restored state), so no id or
// token handed out before the restore can be handed out again after it. The maximum is
// written into the snapshot itself, so every replica restores the same bytes. It returns
// the counters the cluster has after the restore.
//
// It is bounded: a restore starts only once a quorum of voters has caught up with this
// leader (BehindError after restoreCatchUpWait), writes wait only until Raft has taken it,
// and the call returns ErrRestoreUnconfirmed if a quorum has not confirmed it within
// restoreConfirmTimeout. See server/DESIGN.md, "Restores never stall the cluster".
func (n *Node) RestoreBackup(ctx context.Context, f io.ReaderAt, info *state.SnapshotInfo) (state.Counters, error) {
	if err := n.WaitLeaderReady(ctx); err != nil {
		return state.Counters{}, err
	}
	term := n.raft.CurrentTerm()
	if err := n.waitRestoreQuorum(ctx); err != nil {
		return state.Counters{}, err
	}
	var (
		restored state.Counters
		run      *restoreRun
		size     int64
	)
	err := n.prop.exclusively(ctx, func() error {
		if !n.IsLeader() || n.raft.CurrentTerm() != term {
			return ErrNotLeader // a new term: the followers that caught up may not have
		}
		c := n.state.Counters().Max(info.Counters)
		id := n.state.ClusterID()
		if id == "" {
			id = info.ClusterID
		}
		r, sz, err := state.RewriteCounters(f, info, id, c)
		if err != nil {
			return err
		}
		restored, size = c, sz
		run = n.startRestore(&raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: sz}, r)
		// Raft reading the backup means its leader loop runs the restore: commands
		// proposed from now on are appended after it.
		select {
		case <-run.started:
			return nil
		case <-run.done:
			return run.err
		}
	})
	if err != nil {
		if run != nil {
			return state.Counters{}, fmt.Errorf("raft restore: %w", err)
		}
		return state.Counters{}, err
	}
	timer := time.NewTimer(restoreConfirmTimeout(size))
	defer timer.Stop()
	select {
	case <-run.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case <-run.done:
		if run.err != nil {
			return state.Counters{}, fmt.Errorf("raft restore: %w", run.err)
		}
	default:
		// f is the caller's: return only once Raft has read all it needs of it.
		run.waitRead()
		go func() {
			<-run.done
			n.log.Info("an unconfirmed restore ended", "err", run.err)
			if run.err == nil {
				n.snapshotAfterRestore()
			}
		}()
		if err := ctx.Err(); err != nil {
			return state.Counters{}, err
		}
		return state.Counters{}, ErrRestoreUnconfirmed
	}
	n.ensureClusterID(ctx)
	go n.snapshotAfterRestore()
	return restored, nil
}

// restoreRun is a raft.Restore running on its own goroutine.
type restoreRun struct {
	started chan struct{} // closed when Raft first reads the backup
	read    chan struct{} // closed when Raft has read the backup to its end (or failed)
	done    chan struct{} // closed when raft.Restore returned; err is set then
	err     error
}

func (n *Node) startRestore(meta *raft.SnapshotMeta, r io.Reader) *restoreRun {
	run := &restoreRun{started: make(chan struct{}), read: make(chan struct{}), done: make(chan struct{})}
	rr := &restoreReader{r: r, run: run}
	go func() {
		n.snapTrig.taking.Lock() // no snapshot of this node's overlaps the restore (snapshot_policy.go)
		run.err = n.raft.Restore(meta, rr, restoreEnqueueTimeout)
		n.snapTrig.taking.Unlock()
		close(run.done)
	}()
	return run
}

// waitRead waits until Raft no longer reads the backup.
func (run *restoreRun) waitRead() {
	select {
	case <-run.read:
	case <-run.done:
	}
}

// restoreReader tells run when Raft starts reading the backup and when it reached its end.
type restoreReader struct {
	r             io.Reader
	run           *restoreRun
	start, finish sync.Once
}

func (rr *restoreReader) Read(p []byte) (int, error) {
	rr.start.Do(func() { close(rr.run.started) })
	n, err := rr.r.Read(p)
	if err != nil {
		rr.finish.Do(func() { close(rr.run.read) })
	}
	return n, err
}

// snapshotAfterRestore takes a snapshot once the restore's entries are applied, so that
// a follower that could not take the restore's own snapshot (raft's cached last entry
// held an older term at its index; see snapshot_agree.go) is sent one past it.
func (n *Node) snapshotAfterRestore() {
	if err := n.raft.Barrier(restoreEnqueueTimeout).Error(); err != nil {
		n.log.Warn("snapshot after a restore: barrier", "err", err)
		return
	}
	if err := n.snapTrig.snapshot(n.raft); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		n.log.Warn("snapshot after a restore", "err", err)
	}
}
