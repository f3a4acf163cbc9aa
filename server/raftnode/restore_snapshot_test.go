package raftnode

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestNoSnapshotDuringARestore: while raft runs a backup restore, this node asks raft for
// no snapshot (one that finished after the restore would set raft's last snapshot back
// below the restore's index, and the leader would resend the restore forever); once the
// restore ended, snapshots are taken again.
func TestNoSnapshotDuringARestore(t *testing.T) {
	n := startNode(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test ended")) }) // before the node's shutdown
	run := n.startRestore(&raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: 1 << 20}, pr)
	select { // raft reads the backup: the restore runs
	case <-run.started:
	case <-run.done:
		t.Fatalf("the restore ended before reading the backup: %v", run.err)
	case <-time.After(30 * time.Second):
		t.Fatal("raft did not start reading the backup")
	}
	if n.snapTrig.taking.TryLock() {
		t.Fatal("a snapshot could start while the restore runs")
	}
	pw.CloseWithError(errors.New("backup cut off")) // the restore fails and ends
	select {
	case <-run.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the restore did not end")
	}
	if run.err == nil {
		t.Fatal("a cut-off backup restored")
	}
	if !n.snapTrig.taking.TryLock() {
		t.Fatal("snapshots stay blocked after the restore ended")
	}
	n.snapTrig.taking.Unlock()
}
