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

// fullFS fails segment creation with ENOSPC while full is set, like a full disk.
type fullFS struct {
	privateFS
	full *atomic.Bool
}

func (f fullFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	if f.full.Load() {
		return nil, syscall.ENOSPC
	}
	return f.privateFS.Create(dir, name, size)
}

// A full disk fails the WAL's segment rotation: appends fail while it lasts, reads go on,
// and once there is room again appends resume without a restart (raft-wal alone answers
// every later append with ErrSealed), with no entry lost or out of place.
func TestWALRecoversFromFullDisk(t *testing.T) {
	dir := t.TempDir()
	full := new(atomic.Bool)
	s, err := openWAL(dir, nil, fullFS{privateFS{walfs.New()}, full}, 16<<10)
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
		t.Fatal("the segment never rotated")
	}
	for range 3 {
		if err := s.StoreLogs([]*raft.Log{entry(next)}); err == nil || !errors.Is(err, types.ErrSealed) {
			t.Fatalf("append on a full disk: %v, want ErrSealed", err)
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
