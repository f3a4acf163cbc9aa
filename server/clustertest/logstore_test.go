package clustertest_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWALFollowerRestartCatchesUp runs TestFollowerRestartCatchesUp on the WAL log store
// (--raft-log-store wal): a follower killed mid-run restarts from its WAL and catches up by
// snapshot (the WAL answers no entry below its first index); every node keeps its log in
// raft/wal and has no bolt log.
func TestWALFollowerRestartCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c, _ := followerRestartCatchesUp(t, true, "--raft-log-store", "wal")
	for _, n := range c.Running() {
		if _, err := os.Stat(filepath.Join(n.DataPath(), "raft", "wal")); err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if _, err := os.Stat(filepath.Join(n.DataPath(), "raft", "raft.db")); !os.IsNotExist(err) {
			t.Fatalf("%s has a bolt log: %v", n.ID, err)
		}
	}
}
