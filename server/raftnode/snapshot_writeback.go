package raftnode

import (
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// A snapshot's state file is tens to hundreds of MB, written in a few seconds.
// hashicorp/raft's file sink leaves it all in the page cache and fsyncs it once, at Close:
// the kernel then writes the whole file back at once, and the log store's fdatasyncs on
// the same disk (each write's commit waits for one) queue behind it. writebackSnapshots
// spreads the writeback over the writing instead, as RocksDB's bytes_per_sync does: every
// writebackChunk bytes written, the kernel is told to start writing that chunk back
// (sync_file_range on a second descriptor of the sink's file) and the writer waits for
// the chunk before it, so at most two chunks are dirty at any time and Close's fsync finds
// little left to do. The sink's own fsync at Close is unchanged, so durability is what
// raft's store gives: this only changes when the pages reach the disk.

// writebackChunk is how many bytes of a snapshot are written between two writebacks.
const writebackChunk = 4 << 20

// writebackSnapshots wraps a raft.FileSnapshotStore made on dir (the folder the store
// was given; its snapshots are in dir/snapshots).
type writebackSnapshots struct {
	raft.SnapshotStore
	dir string
}

// Create creates the file store's sink and opens its state file again to write it back as
// it grows. Should the file not be where the file store keeps it (another store version),
// the sink is returned as is: the snapshot is then flushed at Close as before.
func (s writebackSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	// raft's FileSnapshotStore writes a snapshot into snapshots/<id>.tmp/state.bin and
	// renames the folder at Close.
	f, err := os.Open(filepath.Join(s.dir, "snapshots", sink.ID()+".tmp", "state.bin"))
	if err != nil {
		return sink, nil
	}
	return &writebackSink{SnapshotSink: sink, f: f}, nil
}

type writebackSink struct {
	raft.SnapshotSink
	f       *os.File // the state file, read-only: only for writeback
	written int64    // bytes written to the sink
	started int64    // bytes whose writeback was started (a multiple of writebackChunk)
	failed  bool     // writeback failed once: leave the rest to Close
}

// sinkBuffer is what raft's file sink may hold in its buffer (bufio's default size): the
// bytes written to the sink up to written-sinkBuffer are in the file.
const sinkBuffer = 4096

func (s *writebackSink) Write(p []byte) (int, error) {
	n, err := s.SnapshotSink.Write(p)
	s.written += int64(n)
	for err == nil && !s.failed && s.written-sinkBuffer >= s.started+writebackChunk {
		if werr := writeback(s.f, s.started, writebackChunk); werr != nil {
			s.failed = true
			break
		}
		s.started += writebackChunk
	}
	return n, err
}

func (s *writebackSink) Close() error {
	s.f.Close()
	return s.SnapshotSink.Close()
}

func (s *writebackSink) Cancel() error {
	s.f.Close()
	return s.SnapshotSink.Cancel()
}
