package clustertest_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWALFollowerRestartCatchesUp runs TestFollowerRestartCatchesUp on the WAL log store
// (--raft-log-store wal): a follower killed mid-run restarts from its WAL and catches up;
// every node keeps its log in raft/wal and has no bolt log. It may catch up from the log
// rather than a snapshot: raft-wal truncates the head of its log logically but keeps
// serving the truncated entries still in the current segment file (64 MiB), and those are
// the committed entries themselves.
func TestWALFollowerRestartCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c, _ := followerRestartCatchesUp(t, false, "--raft-log-store", "wal")
	for _, n := range c.Running() {
		if _, err := os.Stat(filepath.Join(n.DataPath(), "raft", "wal")); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if _, err := os.Stat(filepath.Join(n.DataPath(), "raft", "raft.db")); !os.IsNotExist(err) {
			t.Fatalf("%s has a bolt log: %v", n.ID, err)
		}
	}
}
