package raftnode

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	walfs "github.com/hashicorp/raft-wal/fs"

	"github.com/clbs-io/octopusmq/server/clustertest"
)

// wantWAL fails unless existingLogStore reads raftDir as the WAL.
func wantWAL(t *testing.T, raftDir string) {
	t.Helper()
	if kind, err := existingLogStore(raftDir); err != nil || kind != LogStoreWAL {
		t.Fatalf("existingLogStore: %q, %v", kind, err)
	}
}

// checkGuard fails unless raftDir/raft.db is the WAL's guard: an owner-only directory
// holding only the README, which names the flag an operator needs.
func checkGuard(t *testing.T, raftDir string) {
	t.Helper()
	info, err := os.Stat(filepath.Join(raftDir, "raft.db"))
	if err != nil {
		t.Fatalf("no guard: %v", err)
	}
	if !info.IsDir() || info.Mode().Perm() != 0o700 {
		t.Fatalf("raft.db: %v, want an owner-only directory", info.Mode())
	}
	files, err := os.ReadDir(filepath.Join(raftDir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name() != "README" {
		t.Fatalf("the guard holds %v, want README alone", files)
	}
	text, err := os.ReadFile(filepath.Join(raftDir, "raft.db", "README"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "--raft-log-store") || !strings.Contains(string(text), "raft/wal/") {
		t.Fatalf("README says:\n%s", text)
	}
	leftovers, _ := filepath.Glob(filepath.Join(raftDir, guardTempPrefix+"*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporaries left: %v", leftovers)
	}
}

// oldOpen opens raftDir's log the way every version before --raft-log-store did
// (raftnode.Start from the first commit to 0c7481f: raftboltdb.NewBoltStore on
// raft/raft.db, nothing else).
func oldOpen(raftDir string) error {
	s, err := raftboltdb.NewBoltStore(filepath.Join(raftDir, "raft.db"))
	if err == nil {
		s.Close()
	}
	return err
}

// openOlderWAL opens the WAL of raftDir as the version before the guard did (it made
// raft/wal/ and nothing else).
func openOlderWAL(t *testing.T, raftDir string) *walStore {
	t.Helper()
	if err := os.MkdirAll(walPath(raftDir), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := openWAL(walPath(raftDir), nil, privateFS{walfs.New()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func storeSome(t *testing.T, s logStore, from, to uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 3, Type: raft.LogCommand, Data: []byte{byte(i)}})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
}

func checkSome(t *testing.T, s logStore, last uint64) {
	t.Helper()
	if got, err := s.LastIndex(); err != nil || got != last {
		t.Fatalf("last index %d (%v), want %d", got, err, last)
	}
	if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
		t.Fatalf("term %d (%v), want 3", term, err)
	}
	var l raft.Log
	if err := s.GetLog(last, &l); err != nil || l.Data[0] != byte(last) {
		t.Fatalf("entry %d: %v (%v)", last, l.Data, err)
	}
}

// A new WAL folder gets the guard; versions before the flag fail on it without writing
// anything, and the WAL reopens with its data.
func TestWALGuardNewFolder(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	s, err := openLogStore(raftDir, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	storeSome(t, s, 1, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkGuard(t, raftDir)
	wantWAL(t, raftDir)

	before := clustertest.TreeDigest(t, raftDir)
	err = oldOpen(raftDir)
	if err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("the old open: %v", err)
	}
	if after := clustertest.TreeDigest(t, raftDir); !slices.Equal(before, after) {
		t.Fatalf("the old open changed the folder:\n%v\n%v", before, after)
	}

	for _, kind := range []string{"", LogStoreWAL} {
		s, err = openLogStore(raftDir, kind, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSome(t, s, 5)
		s.Close()
	}
	checkGuard(t, raftDir)
	if _, err := openLogStore(raftDir, LogStoreBolt, 0, nil); err == nil || !strings.Contains(err.Error(), `holds a "wal" Raft log`) {
		t.Fatalf("a guarded folder opened as bolt: %v", err)
	}
}

// A WAL folder made before the guard existed (wal/ alone) gets it when opened, by a node
// or an offline tool, and keeps its data; not while another process has the WAL open.
func TestWALGuardAddedToOlderFolder(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	// The previous version's layout: the WAL alone.
	w := openOlderWAL(t, raftDir)
	storeSome(t, w, 1, 7)
	if _, err := os.Stat(filepath.Join(raftDir, "raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft.db before: %v", err)
	}
	// Open elsewhere (a running node): an offline open waits for nothing and adds nothing.
	if _, err := openLogStore(raftDir, "", 200*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("an offline open of a WAL in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(raftDir, "raft.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("raft.db after an open that failed: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	wantWAL(t, raftDir)

	s, err := openLogStore(raftDir, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGuard(t, raftDir)
	checkSome(t, s, 7)
	storeSome(t, s, 8, 9)
	s.Close()
	if err := oldOpen(raftDir); err == nil {
		t.Fatal("the old open succeeded on a folder given the guard")
	}
	s, err = openLogStore(raftDir, LogStoreWAL, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSome(t, s, 9)
	s.Close()
}

// A bolt folder never gets the guard nor anything else; the old open still reads it.
func TestWALGuardLeavesBoltAlone(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil { // as Start does
		t.Fatal(err)
	}
	s, err := openLogStore(raftDir, LogStoreBolt, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	storeSome(t, s, 1, 4)
	s.Close()
	onlyBolt := func() []string {
		t.Helper()
		d := clustertest.TreeDigest(t, raftDir)
		if len(d) != 2 || !strings.HasPrefix(d[1], "raft.db -rw") {
			t.Fatalf("a bolt folder holds %v", d)
		}
		return d
	}
	before := onlyBolt()
	if _, err := openLogStore(raftDir, LogStoreWAL, 0, nil); err == nil || !strings.Contains(err.Error(), `holds a "bolt" Raft log`) {
		t.Fatalf("a bolt folder opened as wal: %v", err)
	}
	if after := onlyBolt(); !slices.Equal(before, after) {
		t.Fatalf("a refused open changed the bolt folder:\n%v\n%v", before, after)
	}
	// bbolt rewrites its meta page at every open: the folder holds the bolt file alone.
	for _, kind := range []string{"", LogStoreBolt} {
		s, err := openLogStore(raftDir, kind, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSome(t, s, 4)
		s.Close()
		onlyBolt()
	}
	if err := oldOpen(raftDir); err != nil {
		t.Fatal(err)
	}
	onlyBolt()
}

// The guard alone (a crash after it was made, before the WAL was) is a WAL folder with no
// data: it opens as the WAL (bolt refused), and recover finds no Raft data in it.
func TestWALGuardAlone(t *testing.T) {
	dataDir := t.TempDir()
	raftDir := filepath.Join(dataDir, "raft")
	if added, err := ensureWALGuard(raftDir); err != nil || !added {
		t.Fatalf("ensureWALGuard: %v, %v", added, err)
	}
	checkGuard(t, raftDir)
	wantWAL(t, raftDir)
	if _, err := Recover(dataDir, "n1", nil, true); err == nil || !strings.Contains(err.Error(), "no Raft data") {
		t.Fatalf("recover on the guard alone: %v", err)
	}
	if _, err := os.Stat(walPath(raftDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("recover created the WAL: %v", err)
	}
	if _, err := openLogStore(raftDir, LogStoreBolt, 0, nil); err == nil || !strings.Contains(err.Error(), `holds a "wal" Raft log`) {
		t.Fatalf("the guard alone opened as bolt: %v", err)
	}
	s, err := openLogStore(raftDir, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	storeSome(t, s, 1, 2)
	s.Close()
	checkGuard(t, raftDir)
	if _, err := os.Stat(walPath(raftDir)); err != nil {
		t.Fatal(err)
	}
}

// A crash while the guard was being made leaves a temporary directory and no guard: the
// folder opens as before, gets the guard, and the temporary goes. Openers racing to add
// it all succeed.
func TestWALGuardCrashAndRace(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	w := openOlderWAL(t, raftDir)
	storeSome(t, w, 1, 3)
	w.Close()
	torn := filepath.Join(raftDir, guardTempPrefix+"123")
	if err := os.Mkdir(torn, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(torn, "README"), []byte("This data"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantWAL(t, raftDir)
	s, err := openLogStore(raftDir, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSome(t, s, 3)
	s.Close()
	// The guard went in under its own temporary; the torn one goes at the next open.
	if _, err := os.Stat(torn); err != nil {
		t.Fatalf("the torn temporary: %v", err)
	}
	if added, err := ensureWALGuard(raftDir); err != nil || added {
		t.Fatalf("ensureWALGuard with the guard in place: %v, %v", added, err)
	}
	checkGuard(t, raftDir)

	raced := filepath.Join(t.TempDir(), "raft")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	addedBy := make([]bool, 8)
	for i := range errs {
		wg.Go(func() { addedBy[i], errs[i] = ensureWALGuard(raced) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := len(slices.DeleteFunc(addedBy, func(b bool) bool { return !b })); n != 1 {
		t.Fatalf("%d openers added the guard, want 1", n)
	}
	ensureWALGuard(raced) // clears what racers that lost left (none, normally)
	checkGuard(t, raced)
}

// A bolt file next to a WAL stays refused (which log is the node's is not for us to
// guess), and the refusal adds nothing.
func TestTwoLogsRefused(t *testing.T) {
	raftDir := filepath.Join(t.TempDir(), "raft")
	w := openOlderWAL(t, raftDir)
	w.Close()
	if err := oldOpen(raftDir); err != nil { // what an old version did to a WAL folder
		t.Fatal(err)
	}
	before := clustertest.TreeDigest(t, raftDir)
	for _, kind := range []string{"", LogStoreWAL, LogStoreBolt} {
		if _, err := openLogStore(raftDir, kind, 0, nil); err == nil || !strings.Contains(err.Error(), "two Raft logs") {
			t.Fatalf("%q: %v", kind, err)
		}
	}
	if _, err := Recover(filepath.Dir(raftDir), "n1", nil, true); err == nil || !strings.Contains(err.Error(), "two Raft logs") {
		t.Fatalf("recover: %v", err)
	}
	if after := clustertest.TreeDigest(t, raftDir); !slices.Equal(before, after) {
		t.Fatalf("a refused open changed the folder:\n%v\n%v", before, after)
	}
}
