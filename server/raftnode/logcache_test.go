package raftnode

import (
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach the log store.
type countingStore struct {
	raft.LogStore
	reads atomic.Int64
}

func (s *countingStore) GetLog(index uint64, l *raft.Log) error {
	s.reads.Add(1)
	return s.LogStore.GetLog(index, l)
}

// The entries Raft has just stored are read back (to send, to apply) from memory, not
// from the store; older ones still come from the store.
func TestCachedLogsServeTheNewestEntries(t *testing.T) {
	store := &countingStore{LogStore: raft.NewInmemStore()}
	logs := cachedLogs(store)
	const n = 3 * logCacheEntries
	for i := uint64(1); i <= n; i += 8 {
		batch := make([]*raft.Log, 0, 8)
		for j := i; j < i+8; j++ {
			batch = append(batch, &raft.Log{Index: j, Term: 1, Type: raft.LogCommand, Data: []byte{byte(j)}})
		}
		if err := logs.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
	}
	var l raft.Log
	for i := uint64(n - logCacheEntries + 1); i <= n; i++ {
		if err := logs.GetLog(i, &l); err != nil || l.Index != i || l.Data[0] != byte(i) {
			t.Fatalf("entry %d: %v %+v", i, err, l)
		}
	}
	if r := store.reads.Load(); r != 0 {
		t.Fatalf("%d reads of the newest %d entries reached the store", r, logCacheEntries)
	}
	if err := logs.GetLog(1, &l); err != nil || l.Index != 1 {
		t.Fatalf("entry 1: %v %+v", err, l)
	}
	if store.reads.Load() != 1 {
		t.Fatal("an old entry was not read from the store")
	}
}
