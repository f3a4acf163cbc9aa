package raftnode

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/state"
)

// restoreEnqueueTimeout bounds how long a restore waits for Raft to take it.
const restoreEnqueueTimeout = time.Minute

// RestoreBackup replaces the whole cluster's state with a backup: f holds the file that
// state.CheckSnapshot accepted and described as info. The restore goes through Raft (a user
// snapshot every member installs).
//
// Counters never move backwards: the restored state's clock, next id and last lock token
// are the maximum of the backup's and the current state's. The proposer runs the restore
// exclusively: every command proposed before it has been applied (so the current state is
// final) and none is proposed until the restore is in the log, so no id or token handed out
// before the restore can be handed out again after it. The maximum is written into the
// snapshot itself, so every replica restores the same bytes. It returns the counters the
// cluster has after the restore.
func (n *Node) RestoreBackup(ctx context.Context, f io.ReaderAt, info *state.SnapshotInfo) (state.Counters, error) {
	if err := n.WaitLeaderReady(ctx); err != nil {
		return state.Counters{}, err
	}
	var restored state.Counters
	err := n.prop.exclusively(ctx, func() error {
		if !n.IsLeader() {
			return ErrNotLeader
		}
		c := n.state.Counters().Max(info.Counters)
		id := n.state.ClusterID()
		if id == "" {
			id = info.ClusterID
		}
		r, size, err := state.RewriteCounters(f, info, id, c)
		if err != nil {
			return err
		}
		meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
		if err := n.raft.Restore(meta, r, restoreEnqueueTimeout); err != nil {
			return fmt.Errorf("raft restore: %w", err)
		}
		restored = c
		return nil
	})
	if err != nil {
		return state.Counters{}, err
	}
	n.ensureClusterID(ctx)
	return restored, nil
}
