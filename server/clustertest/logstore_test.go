package clustertest_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestBoltFollowerRestartCatchesUp runs TestFollowerRestartCatchesUp (the default store,
// raft-wal) on the bolt log store (--raft-log-store bolt, the default of data folders
// created before): a follower killed mid-run restarts from its bolt log and catches up by
// snapshot; every node keeps its log in raft/raft.db and has no WAL.
func TestBoltFollowerRestartCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c, _ := followerRestartCatchesUp(t, true, "--raft-log-store", "bolt")
	for _, n := range c.Running() {
		if info, err := os.Stat(filepath.Join(n.DataPath(), "raft", "raft.db")); err != nil || !info.Mode().IsRegular() {
			t.Fatalf("%s: raft.db is not a file (%v)", n.ID, err)
		}
		if _, err := os.Stat(filepath.Join(n.DataPath(), "raft", "wal")); !os.IsNotExist(err) {
			t.Fatalf("%s has a WAL: %v", n.ID, err)
		}
	}
}
