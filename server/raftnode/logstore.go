package raftnode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"
)

// Log stores: where a node keeps its Raft log and stable store (term, vote). Both fsync
// every batch Raft writes before it counts as stored.
const (
	// LogStoreWAL is hashicorp/raft-wal: a batch is appended to a preallocated segment
	// file and fsynced once. <data dir>/raft/wal/, and <data dir>/raft/raft.db as a
	// directory: the guard that makes versions before raft-wal refuse the folder
	// (ensureWALGuard). The default for a new data folder.
	LogStoreWAL = "wal"
	// LogStoreBolt is raft-boltdb: one bbolt transaction per batch, two fdatasyncs (the
	// data pages, then the meta page). <data dir>/raft/raft.db. The default for data
	// folders created before raft-wal was.
	LogStoreBolt = "bolt"
)

// LogStores lists the log store names, the default first.
var LogStores = []string{LogStoreWAL, LogStoreBolt}

// logStore is a Raft log and stable store.
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// storePaths are where each log store lives in a node's raft folder.
func boltPath(raftDir string) string { return filepath.Join(raftDir, "raft.db") }
func walPath(raftDir string) string  { return filepath.Join(raftDir, "wal") }

// existingLogStore names the log store raftDir holds ("" for none). A raft.db that is a
// directory is the WAL's guard (see ensureWALGuard): the folder is a WAL folder, with or
// without wal/ (a crash between the guard and the WAL's creation leaves the guard alone).
func existingLogStore(raftDir string) (string, error) {
	boltInfo, boltErr := os.Stat(boltPath(raftDir))
	_, walErr := os.Stat(walPath(raftDir))
	guarded := boltErr == nil && boltInfo.IsDir()
	switch {
	case guarded && (walErr == nil || errors.Is(walErr, os.ErrNotExist)):
		return LogStoreWAL, nil
	case guarded:
		return "", walErr
	case boltErr == nil && walErr == nil:
		return "", fmt.Errorf("%s holds two Raft logs (raft.db and wal/): most likely a version from before --raft-log-store ran on this raft-wal folder and made raft.db with an empty log and no votes; what it did as a member cannot be undone here: remove the node from the cluster, empty its data folder and join it again (a single node: restore a backup)", raftDir)
	case boltErr == nil:
		return LogStoreBolt, nil
	case walErr == nil:
		return LogStoreWAL, nil
	}
	for _, err := range []error{boltErr, walErr} {
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return "", nil
}

// The WAL's guard against older versions: raft/raft.db made a directory holding this
// README. Versions before --raft-log-store open raft/raft.db as a bbolt file and nothing
// else; on a WAL folder without the guard they would create an empty one and join the
// cluster with an empty log, term 0 and no vote. bbolt opens its file read-write, which
// fails on a directory ("open raft/raft.db: is a directory") before anything is written,
// so they exit instead. See DESIGN "Raft log".
const (
	guardReadme     = "README"
	guardTempPrefix = ".raft.db-guard-"
	guardText       = `This data folder keeps its Raft log in raft/wal/ (the raft-wal log store), not in a
raft.db file. raft.db is this directory so that octopusmq versions older than the
--raft-log-store flag, which know only a raft.db file, fail to start on the folder
("open .../raft/raft.db: is a directory") instead of starting with an empty log and
losing the node's votes and acknowledged writes.

Start this folder only with an octopusmq version that has --raft-log-store. A version
that has the flag but says the folder "holds two Raft logs" predates this guard: use a
newer one, or remove this raft.db directory (never raft/wal/); the next newer version
to open the folder puts it back. Never delete or move raft/wal/: it is the node's data.
`
)

// ensureWALGuard gives the WAL folder raftDir its guard unless it has it: a directory
// built under a temporary name (README written and synced) and renamed to raft/raft.db,
// then raftDir synced, so a crash leaves either no guard (the next open adds it) or the
// whole guard, and the guard is on disk before the WAL is created or opened. A bolt
// folder never gets here. It reports whether it added the guard.
func ensureWALGuard(raftDir string) (bool, error) {
	guard := boltPath(raftDir)
	if info, err := os.Stat(guard); err == nil {
		if !info.IsDir() {
			return false, fmt.Errorf("%s is a file, not the WAL's guard", guard)
		}
		// With the guard in place, temporaries are of no use: left by a crash, or by an
		// opener racing with this one (which then fails to build its own, finds the
		// guard and succeeds).
		stale, _ := filepath.Glob(filepath.Join(raftDir, guardTempPrefix+"*"))
		for _, s := range stale {
			os.RemoveAll(s)
		}
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return false, err
	}
	if err := buildGuard(raftDir, guard); err != nil {
		if info, serr := os.Stat(guard); serr == nil && info.IsDir() {
			return false, nil // another opener put it there first
		}
		return false, err
	}
	return true, nil
}

// buildGuard makes the guard in a temporary directory of raftDir and renames it to guard.
func buildGuard(raftDir, guard string) error {
	tmp, err := os.MkdirTemp(raftDir, guardTempPrefix+"*") // 0700
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if err := writeSynced(filepath.Join(tmp, guardReadme), []byte(guardText)); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, guard); err != nil {
		return err
	}
	return syncDir(raftDir)
}

// writeSynced creates the file path (owner only) with data and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir syncs the directory dir (its entries).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openLogStore opens the log store of raftDir. kind is the store asked for: "" opens
// whichever store the folder holds and gives a new folder the default (the WAL; a folder
// created by bolt stays bolt); a named kind must be the one the folder holds, if it holds
// a log: the log is the node's data and is never converted silently. A WAL folder gets
// its guard (ensureWALGuard) before the WAL is opened. With inUseTimeout >
// 0 (offline tools), a store another process has open fails after that long instead of
// waiting.
func openLogStore(raftDir, kind string, inUseTimeout time.Duration, logger hclog.Logger) (logStore, error) {
	if kind != "" && kind != LogStoreBolt && kind != LogStoreWAL {
		return nil, fmt.Errorf("unknown Raft log store %q (want %s or %s)", kind, LogStoreWAL, LogStoreBolt)
	}
	have, err := existingLogStore(raftDir)
	if err != nil {
		return nil, err
	}
	switch {
	case have != "" && kind != "" && have != kind:
		return nil, fmt.Errorf("the data folder holds a %q Raft log, not %q: the log store is chosen when a data folder is created", have, kind)
	case have != "":
		kind = have
	case kind == "":
		kind = LogStoreWAL
	}
	if kind == LogStoreBolt {
		s, err := raftboltdb.New(raftboltdb.Options{Path: boltPath(raftDir), BoltOptions: &bbolt.Options{Timeout: inUseTimeout}})
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use: stop the node first", boltPath(raftDir))
		}
		return s, err
	}
	dir := walPath(raftDir)
	if inUseTimeout > 0 {
		// raft-wal opens its metadata database without a lock timeout: probe the lock
		// first, so an offline tool reports a running node instead of hanging.
		meta := filepath.Join(dir, metadb.FileName)
		if _, err := os.Stat(meta); err == nil {
			db, err := bbolt.Open(meta, 0o600, &bbolt.Options{Timeout: inUseTimeout, ReadOnly: true})
			if errors.Is(err, bbolt.ErrTimeout) {
				return nil, fmt.Errorf("%s is in use: stop the node first", dir)
			}
			if err != nil {
				return nil, err
			}
			db.Close()
		}
	}
	// The guard first: a WAL (data or not) without it is what older versions would
	// start empty on.
	added, err := ensureWALGuard(raftDir)
	if err != nil {
		return nil, fmt.Errorf("the WAL's guard against older versions (%s): %w", boltPath(raftDir), err)
	}
	if added && logger != nil {
		logger.Info("created the WAL's guard against versions before --raft-log-store (a raft.db directory)", "path", boltPath(raftDir))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ws, err := openWAL(dir, logger, privateFS{walfs.New()}, 0)
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// openWAL opens the raft-wal log in dir on the file system vfs with segments of
// segmentSize bytes (0: raft-wal's 64 MiB). Tests give their own vfs and size.
func openWAL(dir string, logger hclog.Logger, vfs types.VFS, segmentSize int) (*walStore, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &walStore{dir: dir, logger: logger, vfs: vfs, segmentSize: segmentSize, meta: &metadb.BoltMetaDB{}}
	w, err := s.open()
	if err == nil {
		// raft-wal creates its metadata database 0644 (umask permitting); the rest of a
		// data folder is the owner's only.
		err = os.Chmod(filepath.Join(dir, metadb.FileName), 0o600)
		if err != nil {
			w.Close()
		}
	}
	if err != nil {
		s.meta.Close()
		return nil, err
	}
	s.w = w
	return s, nil
}

// privateFS creates raft-wal's segment files readable by the owner only (raft-wal's own
// file system makes them 0644, umask permitting).
type privateFS struct{ *walfs.FS }

func (f privateFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	file, err := f.FS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(dir, name), 0o600); err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

// walStore is raft-wal with two corrections (see DESIGN "Raft log"):
//   - GetLog answers raft.ErrLogNotFound below the first index (truncated entries).
//   - A failed segment rotation (a full disk) does not stick: raft-wal (v0.4.2) then
//     answers every later append with ErrSealed, even once there is room again (a failed
//     write no longer sticks: its writer rolls back). A failed append reopens the WAL in
//     place (what a restart does: recovery reads what is on disk, drops a torn batch,
//     resumes or creates the next segment) and tries once more; while there is no room
//     the append keeps failing and reads keep working.
//
// The WALs a walStore opens in turn share one metadata database (bbolt's file lock keeps
// a second open waiting, even in this process, and the failed WAL serves reads until its
// successor is open), so each sees it through sharedMeta and walStore.Close closes it.
type walStore struct {
	dir         string
	logger      hclog.Logger
	vfs         types.VFS
	segmentSize int
	meta        *metadb.BoltMetaDB // shared by every WAL opened here, closed by Close

	mu sync.RWMutex // write-held only to swap w
	w  *wal.WAL
}

// sharedMeta is a walStore's metadata database as one of its WALs sees it: raft-wal's
// Close closes its metadata database (since v0.4.1), which would pull it from under the WAL
// a reopen just opened on it.
type sharedMeta struct{ *metadb.BoltMetaDB }

func (sharedMeta) Close() error { return nil }

func (s *walStore) open() (*wal.WAL, error) {
	// A segment size of 0 is raft-wal's default.
	return wal.Open(s.dir, wal.WithLogger(s.logger), wal.WithMetaStore(sharedMeta{s.meta}),
		wal.WithSegmentFiler(segment.NewFiler(s.dir, s.vfs)), wal.WithSegmentSize(s.segmentSize))
}

// current returns the open WAL and a func to call once done with it.
func (s *walStore) current() (*wal.WAL, func()) {
	s.mu.RLock()
	return s.w, s.mu.RUnlock
}

func (s *walStore) FirstIndex() (uint64, error) {
	w, done := s.current()
	defer done()
	return w.FirstIndex()
}

func (s *walStore) LastIndex() (uint64, error) {
	w, done := s.current()
	defer done()
	return w.LastIndex()
}

// GetLog answers raft.ErrLogNotFound below the first index. raft-wal truncates the head of
// its log logically and keeps serving the truncated entries still in its current segment;
// Raft then replicates them instead of a snapshot to a follower that fell behind the
// leader's compaction. They are committed entries, so that is safe, but the log would say
// one thing (FirstIndex) and do another; a follower behind the compaction catches up by
// snapshot on either store.
func (s *walStore) GetLog(index uint64, log *raft.Log) error {
	w, done := s.current()
	defer done()
	first, err := w.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return w.GetLog(index, log)
}

func (s *walStore) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

func (s *walStore) StoreLogs(logs []*raft.Log) error {
	w, done := s.current()
	err := w.StoreLogs(logs)
	done()
	if err == nil {
		return nil
	}
	if rerr := s.reopen(w); rerr != nil {
		return fmt.Errorf("%w; reopening the WAL for a new segment: %v", err, rerr)
	}
	w, done = s.current()
	defer done()
	return w.StoreLogs(logs)
}

// reopen replaces failed, the WAL an append failed on, with a newly opened one (unless
// another append did so already). The old WAL stays in use when opening fails.
func (s *walStore) reopen(failed *wal.WAL) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != failed {
		return nil
	}
	w, err := s.open()
	if err != nil {
		return err
	}
	s.w = w
	s.logger.Warn("reopened the WAL after a failed append")
	return failed.Close()
}

func (s *walStore) DeleteRange(min, max uint64) error {
	w, done := s.current()
	defer done()
	return w.DeleteRange(min, max)
}

func (s *walStore) Set(key, val []byte) error {
	w, done := s.current()
	defer done()
	return w.Set(key, val)
}

func (s *walStore) Get(key []byte) ([]byte, error) {
	w, done := s.current()
	defer done()
	return w.Get(key)
}

func (s *walStore) SetUint64(key []byte, val uint64) error {
	w, done := s.current()
	defer done()
	return w.SetUint64(key, val)
}

func (s *walStore) GetUint64(key []byte) (uint64, error) {
	w, done := s.current()
	defer done()
	return w.GetUint64(key)
}

// IsMonotonic: raft-wal takes only consecutive indexes (raft.MonotonicLogStore).
func (s *walStore) IsMonotonic() bool { return true }

func (s *walStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.w.Close()
	if cerr := s.meta.Close(); err == nil {
		err = cerr
	}
	return err
}
