package raftnode

import (
	"io"
	"testing"

	"github.com/hashicorp/raft"
	dto "github.com/prometheus/client_model/go"
)

func snapshotsObserved(t *testing.T) uint64 {
	t.Helper()
	var m dto.Metric
	if err := snapshotSeconds.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestTimedSinkCountsASnapshotOnce: the FSM's Persist closes the sink and raft closes it
// again; the snapshot is one observation, not two.
func TestTimedSinkCountsASnapshotOnce(t *testing.T) {
	files, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport("a")
	before := snapshotsObserved(t)
	sink, err := timedSnapshotStore{files}.Create(raft.SnapshotVersionMax, 5, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(sink, "state"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := sink.Close(); err != nil {
			t.Fatalf("close %d: %v", i+1, err)
		}
	}
	if got := snapshotsObserved(t) - before; got != 1 {
		t.Fatalf("snapshots observed for one snapshot closed twice: %d, want 1", got)
	}
}
