package raftnode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// A tail truncation (Raft's DeleteRange from a conflicting index to the last, when a new
// leader overwrites a follower's suffix), appends after it and another truncation survive
// both a crash and a clean restart, on either store: raft-wal before v0.4.1 marked the
// truncated segment sealed without writing its index block, and the node could never open
// its log again ("sealed segment has no index block", hashicorp/raft-wal#31). The crash is
// a copy of the folder taken while the store is open (every batch is synced before
// StoreLogs returns, so the copy holds what a killed process leaves on disk).
func TestLogStoreReopensAfterTailTruncation(t *testing.T) {
	entry := func(i, term uint64) *raft.Log {
		return &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte{byte(i), byte(term)}}
	}
	// terms is the log every reopened store must hold: index i+1 has term terms[i].
	var terms []uint64
	store := func(t *testing.T, s logStore, from, to, term uint64) {
		t.Helper()
		for i := from; i <= to; i++ {
			if err := s.StoreLogs([]*raft.Log{entry(i, term)}); err != nil {
				t.Fatalf("store %d: %v", i, err)
			}
		}
		terms = append(terms[:from-1], make([]uint64, to-from+1)...)
		for i := from; i <= to; i++ {
			terms[i-1] = term
		}
	}
	truncate := func(t *testing.T, s logStore, from uint64) {
		t.Helper()
		last, err := s.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRange(from, last); err != nil {
			t.Fatalf("delete %d-%d: %v", from, last, err)
		}
		terms = terms[:from-1]
	}
	check := func(t *testing.T, s logStore) {
		t.Helper()
		if first, err := s.FirstIndex(); err != nil || first != 1 {
			t.Fatalf("first index %d (%v), want 1", first, err)
		}
		if last, err := s.LastIndex(); err != nil || last != uint64(len(terms)) {
			t.Fatalf("last index %d (%v), want %d", last, err, len(terms))
		}
		for i, term := range terms {
			var got raft.Log
			want := entry(uint64(i+1), term)
			if err := s.GetLog(want.Index, &got); err != nil {
				t.Fatalf("entry %d: %v", want.Index, err)
			}
			if got.Term != want.Term || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("entry %d: term %d data %v, want term %d data %v", want.Index, got.Term, got.Data, want.Term, want.Data)
			}
		}
	}

	for _, kind := range LogStores {
		t.Run(kind, func(t *testing.T) {
			terms = nil
			raftDir := t.TempDir()
			s, err := openLogStore(raftDir, kind, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			store(t, s, 1, 10, 1)
			truncate(t, s, 8)
			store(t, s, 8, 12, 2)
			truncate(t, s, 12)
			check(t, s)

			crashed := filepath.Join(t.TempDir(), "raft")
			if err := os.CopyFS(crashed, os.DirFS(raftDir)); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for name, dir := range map[string]string{"after a crash": crashed, "after a clean close": raftDir} {
				s, err := openLogStore(dir, "", 0, nil)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				check(t, s)
				if err := s.StoreLogs([]*raft.Log{entry(uint64(len(terms)+1), 3)}); err != nil {
					t.Fatalf("%s: append: %v", name, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
