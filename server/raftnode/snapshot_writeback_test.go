package raftnode

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// writebackStore is a file snapshot store in dir as a node makes it (writebackSnapshots).
func writebackStore(t testing.TB, dir string) (raft.SnapshotStore, raft.Transport) {
	t.Helper()
	files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	_, trans := raft.NewInmemTransport("a")
	return writebackSnapshots{files, dir}, trans
}

// writeInPieces writes data to w in pieces of varied sizes, as an encoder does.
func writeInPieces(t testing.TB, w io.Writer, data []byte) {
	t.Helper()
	for i := 0; len(data) > 0; i++ {
		k := min(len(data), 1+(i*7919)%(80<<10))
		if _, err := w.Write(data[:k]); err != nil {
			t.Fatal(err)
		}
		data = data[k:]
	}
}

// storeSnapshot writes data as the snapshot at index through store and closes it.
func storeSnapshot(t testing.TB, store raft.SnapshotStore, trans raft.Transport, index uint64, data []byte) {
	t.Helper()
	sink, err := store.Create(raft.SnapshotVersionMax, index, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	writeInPieces(t, sink, data)
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWritebackSnapshotIsTheSame: a snapshot written through the writeback sink is listed
// and reads back byte for byte (raft's CRC checks it on Open too), its chunks were written
// back while it was written, and it is closed twice as raft does.
func TestWritebackSnapshotIsTheSame(t *testing.T) {
	dir := t.TempDir()
	store, trans := writebackStore(t, dir)
	data := make([]byte, 3*writebackChunk+12345)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	sink, err := store.Create(raft.SnapshotVersionMax, 7, 2, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	wb, ok := sink.(*writebackSink)
	if !ok {
		t.Fatalf("the sink is a %T: raft's file store no longer keeps the state file where writebackSnapshots looks", sink)
	}
	writeInPieces(t, sink, data)
	if runtime.GOOS == "linux" && (wb.failed || wb.started != 3*writebackChunk) {
		t.Fatalf("written back: %d bytes (failed: %v), want %d", wb.started, wb.failed, 3*writebackChunk)
	}
	for i := range 2 {
		if err := sink.Close(); err != nil {
			t.Fatalf("close %d: %v", i+1, err)
		}
	}
	metas, err := store.List()
	if err != nil || len(metas) != 1 || metas[0].Index != 7 || metas[0].Size != int64(len(data)) {
		t.Fatalf("List: %+v, %v; want one snapshot at 7 of %d bytes", metas, err, len(data))
	}
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), equal: %v", len(got), err, bytes.Equal(got, data))
	}
}

// TestWritebackSnapshotCrash: a snapshot abandoned mid-way (the process died with its
// chunks written back) is not readable after a restart, a cancelled one leaves nothing,
// and the snapshot before them stays the one raft restores.
func TestWritebackSnapshotCrash(t *testing.T) {
	dir := t.TempDir()
	store, trans := writebackStore(t, dir)
	whole := bytes.Repeat([]byte("whole"), 1000)
	storeSnapshot(t, store, trans, 5, whole)
	cancelled, err := store.Create(raft.SnapshotVersionMax, 8, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	writeInPieces(t, cancelled, make([]byte, writebackChunk+sinkBuffer+1))
	if err := cancelled.Cancel(); err != nil {
		t.Fatal(err)
	}
	crashed, err := store.Create(raft.SnapshotVersionMax, 9, 1, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	writeInPieces(t, crashed, make([]byte, 2*writebackChunk+sinkBuffer+1))
	crashed.(*writebackSink).f.Close() // the process ends here: no Close, no Cancel

	restarted, _ := writebackStore(t, dir)
	metas, err := restarted.List()
	if err != nil || len(metas) != 1 || metas[0].Index != 5 {
		t.Fatalf("after the crash: %+v, %v; want only the snapshot at 5", metas, err)
	}
	_, rc, err := restarted.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("the snapshot at 5 reads back %d bytes (%v), want %d", len(got), err, len(whole))
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 { // the whole snapshot and the crashed one's .tmp folder
		t.Fatalf("snapshot folders: %v", names)
	}
}

// BenchmarkSnapshotFsyncStall writes a 64 MiB snapshot through raft's file store, with and
// without writebackSnapshots, while a log-like writer appends 4 KiB and fdatasyncs in a
// loop in the same folder, and reports that writer's worst and 99th-percentile sync
// during the snapshot (its Close included) and the snapshot's time.
func BenchmarkSnapshotFsyncStall(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for _, mode := range []string{"writeback", "close-only"} {
		b.Run("sink="+mode, func(b *testing.B) {
			var worst, p99, total time.Duration
			for range b.N {
				dir := b.TempDir()
				files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
				if err != nil {
					b.Fatal(err)
				}
				var store raft.SnapshotStore = files
				if mode == "writeback" {
					store = writebackSnapshots{files, dir}
				}
				_, trans := raft.NewInmemTransport("a")
				log, err := os.Create(filepath.Join(dir, "log"))
				if err != nil {
					b.Fatal(err)
				}
				stop, done := make(chan struct{}), make(chan []time.Duration)
				go func() {
					var syncs []time.Duration
					page := make([]byte, 4096)
					for {
						select {
						case <-stop:
							done <- syncs
							return
						default:
						}
						start := time.Now()
						if _, err := log.Write(page); err != nil {
							panic(err)
						}
						if err := log.Sync(); err != nil {
							panic(err)
						}
						syncs = append(syncs, time.Since(start))
					}
				}()
				start := time.Now()
				storeSnapshot(b, store, trans, 5, data)
				total += time.Since(start)
				close(stop)
				syncs := <-done
				log.Close()
				slices.Sort(syncs)
				if len(syncs) > 0 {
					worst = max(worst, syncs[len(syncs)-1])
					p99 += syncs[len(syncs)*99/100]
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-sync-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000/float64(b.N), "p99-sync-ms")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "snapshot-ms")
		})
	}
}
