package raftnode

import (
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

// fullFS is a full disk while full is set: segment creation fails with ENOSPC, and with
// writes set so do writes to segment files (after writing half, a torn batch).
type fullFS struct {
	privateFS
	full   *atomic.Bool
	writes bool
}

func (f fullFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	if f.full.Load() {
		return nil, syscall.ENOSPC
	}
	return f.wrap(f.privateFS.Create(dir, name, size))
}

func (f fullFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	return f.wrap(f.privateFS.OpenWriter(dir, name))
}

func (f fullFS) wrap(file types.WritableFile, err error) (types.WritableFile, error) {
	if err != nil || !f.writes {
		return file, err
	}
	return fullFile{file, f.full}, nil
}

type fullFile struct {
	types.WritableFile
	full *atomic.Bool
}

func (f fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.full.Load() {
		n, err := f.WritableFile.WriteAt(p[:len(p)/2], off)
		if err == nil {
			err = syscall.ENOSPC
		}
		return n, err
	}
	return f.WritableFile.WriteAt(p, off)
}

// A full disk fails the WAL's segment rotation ("rotation") or its writes ("write"):
// appends fail while it lasts, reads go on, and once there is room again appends resume
// without a restart (raft-wal alone answers every append after a failed rotation with
// ErrSealed), with no entry lost or out of place, before and after a reopen.
func TestWALRecoversFromFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writes  bool
		wantErr error
	}{{"rotation", false, types.ErrSealed}, {"write", true, syscall.ENOSPC}} {
		t.Run(tc.name, func(t *testing.T) { walRecoversFromFullDisk(t, tc.writes, tc.wantErr) })
	}
}

func walRecoversFromFullDisk(t *testing.T, writes bool, wantErr error) {
	dir := t.TempDir()
	full := new(atomic.Bool)
	s, err := openWAL(dir, nil, fullFS{privateFS{walfs.New()}, full, writes}, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	entry := func(i uint64) *raft.Log { return &raft.Log{Index: i, Term: 1, Data: make([]byte, 1024)} }

	next := uint64(1)
	for ; next <= 5; next++ {
		if err := s.StoreLogs([]*raft.Log{entry(next)}); err != nil {
			t.Fatal(err)
		}
	}
	full.Store(true)
	failed := 0
	for ; failed == 0 && next < 100; next++ {
		if err := s.StoreLogs([]*raft.Log{entry(next)}); err != nil {
			failed++ // entry next is not stored
			break
		}
	}
	if failed == 0 {
		t.Fatal("no append failed on a full disk")
	}
	for range 3 {
		if err := s.StoreLogs([]*raft.Log{entry(next)}); !errors.Is(err, wantErr) {
			t.Fatalf("append on a full disk: %v, want %v", err, wantErr)
		}
	}
	var got raft.Log
	if err := s.GetLog(next-1, &got); err != nil || got.Index != next-1 {
		t.Fatalf("read on a full disk: %v, %d", err, got.Index)
	}

	full.Store(false)
	last := next + 20
	for ; next <= last; next++ {
		if err := s.StoreLogs([]*raft.Log{entry(next)}); err != nil {
			t.Fatalf("append %d once there is room: %v", next, err)
		}
	}
	check := func() {
		t.Helper()
		if li, err := s.LastIndex(); err != nil || li != last {
			t.Fatalf("last index %d (%v), want %d", li, err, last)
		}
		for i := uint64(1); i <= last; i++ {
			if err := s.GetLog(i, &got); err != nil || got.Index != i {
				t.Fatalf("entry %d: %v (index %d)", i, err, got.Index)
			}
		}
	}
	check()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openWAL(dir, nil, privateFS{walfs.New()}, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	check()
}
