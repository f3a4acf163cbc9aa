package raftnode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// Log stores: where a node keeps its Raft log and stable store (term, vote). Both fsync
// every batch Raft writes before it counts as stored.
const (
	// LogStoreBolt is raft-boltdb: one bbolt transaction per batch, two fdatasyncs (the
	// data pages, then the meta page). <data dir>/raft/raft.db. The default.
	LogStoreBolt = "bolt"
	// LogStoreWAL is hashicorp/raft-wal: a batch is appended to a preallocated segment
	// file and fsynced once. <data dir>/raft/wal/.
	LogStoreWAL = "wal"
)

// LogStores lists the log store names, the default first.
var LogStores = []string{LogStoreBolt, LogStoreWAL}

// logStore is a Raft log and stable store.
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// storePaths are where each log store lives in a node's raft folder.
func boltPath(raftDir string) string { return filepath.Join(raftDir, "raft.db") }
func walPath(raftDir string) string  { return filepath.Join(raftDir, "wal") }

// existingLogStore names the log store raftDir holds ("" for none).
func existingLogStore(raftDir string) (string, error) {
	_, boltErr := os.Stat(boltPath(raftDir))
	_, walErr := os.Stat(walPath(raftDir))
	switch {
	case boltErr == nil && walErr == nil:
		return "", fmt.Errorf("%s holds two Raft logs (raft.db and wal/): keep the one the node wrote", raftDir)
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

// openLogStore opens the log store of raftDir. kind ("" = bolt) is the store a new data
// folder gets; a folder that already holds a log must hold one of that kind: the log is
// the node's data and is never converted silently. With inUseTimeout > 0 (offline tools),
// a store another process has open fails after that long instead of waiting.
func openLogStore(raftDir, kind string, inUseTimeout time.Duration, logger hclog.Logger) (logStore, error) {
	if kind == "" {
		kind = LogStoreBolt
	}
	if kind != LogStoreBolt && kind != LogStoreWAL {
		return nil, fmt.Errorf("unknown Raft log store %q (want %s or %s)", kind, LogStoreBolt, LogStoreWAL)
	}
	have, err := existingLogStore(raftDir)
	if err != nil {
		return nil, err
	}
	if have != "" && have != kind {
		return nil, fmt.Errorf("the data folder holds a %q Raft log, not %q: the log store is chosen when a data folder is created", have, kind)
	}
	if kind == LogStoreBolt {
		s, err := raftboltdb.New(raftboltdb.Options{Path: boltPath(raftDir), BoltOptions: &bbolt.Options{Timeout: inUseTimeout}})
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use: stop the node first", boltPath(raftDir))
		}
		return s, err
	}
	dir := walPath(raftDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
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
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithLogger(logger), wal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		return nil, err
	}
	return walStore{WAL: w, meta: meta}, nil
}

// walStore closes the WAL's metadata database too: raft-wal's Close (v0.4.0) leaves it
// open, and its lock would keep the folder from being opened again in this process.
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func (s walStore) Close() error {
	err := s.WAL.Close()
	if cerr := s.meta.Close(); err == nil {
		err = cerr
	}
	return err
}
