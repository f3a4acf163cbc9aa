package raftnode

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// recordFSM is a minimal state machine: the commands applied since the last restore, and
// the restored bytes. Every applied command is also sent to applied.
type recordFSM struct {
	mu       sync.Mutex
	restored []byte
	cmds     []string
	applied  chan string
}

func (f *recordFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	f.cmds = append(f.cmds, string(l.Data))
	f.mu.Unlock()
	select {
	case f.applied <- string(l.Data):
	default:
	}
	return nil
}

func (f *recordFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return recordSnapshot(append(append([]byte(nil), f.restored...), []byte(fmt.Sprint(f.cmds))...)), nil
}

func (f *recordFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.restored, f.cmds = b, nil
	f.mu.Unlock()
	return nil
}

func (f *recordFSM) state() (string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.restored), append([]string(nil), f.cmds...)
}

type recordSnapshot []byte

func (s recordSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (recordSnapshot) Release() {}

// countingSnapshots reports the index of every snapshot created through it.
type countingSnapshots struct {
	raft.SnapshotStore
	created chan uint64
}

func (s countingSnapshots) Create(version raft.SnapshotVersion, index, term uint64, c raft.Configuration, ci uint64, tr raft.Transport) (raft.SnapshotSink, error) {
	select {
	case s.created <- index:
	default:
	}
	return s.SnapshotStore.Create(version, index, term, c, ci, tr)
}

// testRaft is one in-process raft member over an in-memory transport.
type testRaft struct {
	id      raft.ServerID
	trans   *raft.InmemTransport
	logs    *raft.InmemStore
	snaps   raft.SnapshotStore
	fsm     *recordFSM
	created chan uint64
	r       *raft.Raft
}

func newTestRaft(t *testing.T, id string, conf raft.Configuration) *testRaft {
	t.Helper()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	logs := raft.NewInmemStore()
	// A file store, as the node uses: raft's in-memory one lists and opens a snapshot from
	// its Create on, while it is still being written (a data race, and a follower sent it
	// installs a partial state: a CI race pass failed so).
	snaps, err := raft.NewFileSnapshotStore(t.TempDir(), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := raft.BootstrapCluster(testRaftConfig(id), logs, logs, snaps, trans, conf); err != nil {
		t.Fatal(err)
	}
	return &testRaft{id: raft.ServerID(id), trans: trans, logs: logs, snaps: snaps, fsm: &recordFSM{applied: make(chan string, 16)}, created: make(chan uint64, 64)}
}

func testRaftConfig(id string) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 300 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1 << 30 // only the snapshots a test asks for
	c.TrailingLogs = 1            // compaction after an install reaches the snapshot index
	c.Logger = hclog.New(&hclog.LoggerOptions{Name: id, Level: testRaftLogLevel, Output: testRaftLogOut})
	return c
}

// start runs the member; with agree its snapshots go through agreeingSnapshots.
func (m *testRaft) start(t *testing.T, agree bool) {
	t.Helper()
	var snaps raft.SnapshotStore = countingSnapshots{SnapshotStore: m.snaps, created: m.created}
	var logs raft.LogStore = m.logs
	if agree { // as Start wires them
		logs, snaps = raftStores(m.logs, snaps, hclog.NewNullLogger(), nil)
	}
	r, err := raft.NewRaft(testRaftConfig(string(m.id)), m.fsm, logs, m.logs, snaps, m.trans)
	if err != nil {
		t.Fatal(err)
	}
	m.r = r
	t.Cleanup(func() { r.Shutdown().Error() })
}

// restart stops the member and starts it again on its stores, with a new transport.
func (m *testRaft) restart(t *testing.T, agree bool) {
	t.Helper()
	if err := m.r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	_, m.trans = raft.NewInmemTransport(m.trans.LocalAddr())
	m.start(t, agree)
}

func connect(ms ...*testRaft) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

// waitInstalls waits until m has created the snapshot at index n times since the last call,
// and fails if m applies a command meanwhile.
func waitInstalls(t *testing.T, m *testRaft, index uint64, n int) {
	t.Helper()
	installs := 0
	deadline := time.After(60 * time.Second)
	for installs < n {
		select {
		case idx := <-m.created:
			if idx == index {
				installs++
			}
		case cmd := <-m.fsm.applied:
			t.Fatalf("%s applied %q: hashicorp/raft no longer loops here (issue #697 fixed?)", m.id, cmd)
		case <-deadline:
			t.Fatalf("%s installed the snapshot at %d %d times in a minute, want a loop", m.id, index, installs)
		}
	}
}

// TestRestoreOverConflictingEntry sets up hashicorp/raft issue #697 the way a
// backup restore meets it: follower c holds uncommitted entries of term 1 (it led term 1
// and never replicated them) and is away; a and b elect a leader of a later term, which
// restores a user snapshot at index S (its last index + 1, a hole in its log) and commits
// a no-op with the other. Then c comes back. Its entries reach S ("at": its last entry
// is S) or go past it ("past"). Plain raft installs the snapshot and then rejects every
// append after it, so the leader sends the snapshot again and again (the livelock).
// With agreeingSnapshots, c catches up at once when its entries go past S: it applies the
// command the leader writes after the restore, and keeps no stale entry. When c's last
// entry is S, raft's cached last entry on c keeps its old term: c loops until the leader
// sends a later snapshot (Node.RestoreBackup takes one once the restore is in) or c
// restarts (it then reads the rewritten entry).
func TestRestoreOverConflictingEntry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra uint64 // c's entries past S
		agree bool
		heal  string // "": c loops; "none": c catches up; "snapshot", "restart": c loops until
	}{
		{"at/upstream", 0, false, ""},
		{"past/upstream", 3, false, ""},
		{"past/agree", 3, true, "none"},
		{"at/agree/leader-snapshot", 0, true, "snapshot"},
		{"at/agree/restart", 0, true, "restart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := raft.Configuration{}
			for _, id := range []string{"a", "b", "c"} {
				conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
			}
			// a and b start as a cluster of two and add c after the restore, so the
			// leader replicates to c from that moment on with what its log is then (a
			// replicator that had failed to reach c could first send entries it read
			// before the restore, which repairs c's log by chance).
			ab := raft.Configuration{Servers: conf.Servers[:2]}
			a := newTestRaft(t, "a", ab)
			b := newTestRaft(t, "b", ab)
			c := newTestRaft(t, "c", conf)

			// The leader's log will be: 1 configuration, 2 its no-op, 3 a command; the
			// restore goes to S = 4.
			const s = 4
			var stale []*raft.Log
			for i := uint64(2); i <= s+tc.extra; i++ {
				stale = append(stale, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("stale-%d", i))})
			}
			if err := c.logs.StoreLogs(stale); err != nil {
				t.Fatal(err)
			}

			connect(a, b)
			a.start(t, tc.agree)
			b.start(t, tc.agree)
			var leader *testRaft
			select {
			case <-a.r.LeaderCh():
				leader = a
			case <-b.r.LeaderCh():
				leader = b
			case <-time.After(20 * time.Second):
				t.Fatal("no leader")
			}
			if err := leader.r.Apply([]byte("before"), 10*time.Second).Error(); err != nil {
				t.Fatal(err)
			}
			if last := leader.r.LastIndex(); last != s-1 {
				t.Fatalf("leader's last index %d, want %d", last, s-1)
			}
			backup := []byte("restored-state")
			if err := leader.r.Restore(&raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(backup))}, bytes.NewReader(backup), 10*time.Second); err != nil {
				t.Fatal(err)
			}

			c.start(t, tc.agree)
			connect(a, b, c)
			if err := leader.r.AddVoter("c", "c", 0, 10*time.Second).Error(); err != nil {
				t.Fatal(err)
			}
			if err := leader.r.Apply([]byte("after"), 10*time.Second).Error(); err != nil {
				t.Fatal(err)
			}
			switch tc.heal {
			case "":
				waitInstalls(t, c, s, 3)
				return
			case "snapshot":
				waitInstalls(t, c, s, 2)
				if err := leader.r.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			case "restart":
				waitInstalls(t, c, s, 2)
				c.restart(t, tc.agree)
				connect(a, b, c)
			}
			// c catches up: it applies the leader's next command (the ones before it may
			// reach c in a snapshot), and never a stale one.
			if err := leader.r.Apply([]byte("final"), 10*time.Second).Error(); err != nil {
				t.Fatal(err)
			}
			for caughtUp := false; !caughtUp; {
				select {
				case cmd := <-c.fsm.applied:
					if cmd != "after" && cmd != "final" {
						t.Fatalf("c applied %q", cmd)
					}
					caughtUp = cmd == "final"
				case <-time.After(60 * time.Second):
					t.Fatalf("c did not catch up after the restore (last index %d, applied %d)", c.r.LastIndex(), c.r.AppliedIndex())
				}
			}
			restored, cmds := c.fsm.state()
			if !bytes.HasPrefix([]byte(restored), backup) {
				t.Fatalf("c's state: restored %q, commands %q", restored, cmds)
			}
			// No stale entry of term 1 is left in c's log.
			for i := uint64(2); i <= c.r.LastIndex(); i++ {
				var l raft.Log
				if err := c.logs.GetLog(i, &l); err == nil && l.Term == 1 && l.Type != raft.LogConfiguration {
					t.Fatalf("c's log still holds a stale entry %d (term 1, %q)", i, l.Data)
				}
			}
		})
	}
}

// TestRestoreReconcileLogStores runs reconcileLog's cases on the real log stores (raft-wal only
// truncates a head or a tail and appends in order).
func TestRestoreReconcileLogStores(t *testing.T) {
	for _, kind := range LogStores {
		t.Run(kind, func(t *testing.T) {
			open := func(t *testing.T, entries []uint64) logStore {
				dir := filepath.Join(t.TempDir(), "raft")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				s, err := openLogStore(dir, kind, 0, hclog.NewNullLogger())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				var logs []*raft.Log
				for i, term := range entries {
					logs = append(logs, &raft.Log{Index: uint64(i) + 1, Term: term, Type: raft.LogCommand, Data: []byte{byte(i)}})
				}
				if err := s.StoreLogs(logs); err != nil {
					t.Fatal(err)
				}
				return s
			}
			terms := func(t *testing.T, s logStore) map[uint64]uint64 {
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				out := map[uint64]uint64{}
				for i := first; i <= last && last > 0; i++ {
					var l raft.Log
					if err := s.GetLog(i, &l); err != nil {
						t.Fatalf("entry %d of %d-%d: %v", i, first, last, err)
					}
					out[i] = l.Term
				}
				return out
			}
			// Agrees at the index: nothing changes.
			s := open(t, []uint64{1, 1, 2, 2, 2})
			if did, err := reconcileLog(s, 4, 2); err != nil || did != "" {
				t.Fatalf("agreeing log: %q %v", did, err)
			}
			if got := terms(t, s); len(got) != 5 {
				t.Fatalf("agreeing log changed: %v", got)
			}
			// Ends before the snapshot: every entry goes.
			s = open(t, []uint64{1, 1, 1})
			if did, err := reconcileLog(s, 5, 2); err != nil || did == "" {
				t.Fatalf("short log: %q %v", did, err)
			}
			if got := terms(t, s); len(got) != 0 {
				t.Fatalf("short log kept %v", got)
			}
			// raft then compacts from FirstIndex 0, through keepingLog.
			if err := (&keepingLog{LogStore: s}).DeleteRange(0, 2); err != nil {
				t.Fatalf("compacting the emptied log: %v", err)
			}
			if err := s.StoreLogs([]*raft.Log{{Index: 6, Term: 2, Type: raft.LogCommand}}); err != nil {
				t.Fatalf("appending after the snapshot: %v", err)
			}
			if got := terms(t, s); fmt.Sprint(got) != fmt.Sprint(map[uint64]uint64{6: 2}) {
				t.Fatalf("appended after the snapshot: now %v", got)
			}
			// No entry at the index (the log starts after it): the index is written.
			s = open(t, []uint64{1, 1, 1, 2, 2})
			if err := s.DeleteRange(1, 3); err != nil {
				t.Fatal(err)
			}
			if did, err := reconcileLog(s, 3, 2); err != nil || did == "" {
				t.Fatalf("log after a hole: %q %v", did, err)
			}
			if got := terms(t, s); fmt.Sprint(got) != fmt.Sprint(map[uint64]uint64{3: 2, 4: 2, 5: 2}) {
				t.Fatalf("log after a hole: now %v", got)
			}
			// Conflicts at the index: below goes, the index gets the snapshot's term, the
			// stale suffix stays for raft's conflict check, and appends go on after it.
			for _, entries := range [][]uint64{{1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}} {
				s = open(t, entries)
				if did, err := reconcileLog(s, 4, 2); err != nil || did == "" {
					t.Fatalf("conflicting log: %q %v", did, err)
				}
				got := terms(t, s)
				want := map[uint64]uint64{4: 2}
				for i := uint64(5); i <= uint64(len(entries)); i++ {
					want[i] = 1
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("conflicting log %v: now %v, want %v", entries, got, want)
				}
				var l raft.Log
				if err := s.GetLog(4, &l); err != nil || l.Type != raft.LogNoop {
					t.Fatalf("rewritten entry: %+v %v", l, err)
				}
				// raft's conflict check: delete the stale suffix, append the leader's.
				last := uint64(len(entries))
				if last > 4 {
					if err := s.DeleteRange(5, last); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.StoreLogs([]*raft.Log{{Index: 5, Term: 2, Type: raft.LogCommand}}); err != nil {
					t.Fatalf("appending the leader's entry: %v", err)
				}
			}
		})
	}
}

// TestRestoreLogStoreIsNotMonotonic guards an assumption of agreeingSnapshots: raft treats
// the log store it gets as non-monotonic, so after an install it compacts (keeping the
// rewritten entry) instead of removing every entry, which would leave raft's cached last
// entry pointing at nothing.
func TestRestoreLogStoreIsNotMonotonic(t *testing.T) {
	var s raft.LogStore = timedLogStore{&keepingLog{LogStore: raft.NewInmemStore()}}
	if m, ok := s.(raft.MonotonicLogStore); ok && m.IsMonotonic() {
		t.Fatal("the log store raft gets is monotonic: an install would remove the entry reconcileLog rewrote")
	}
}

var testRaftLogLevel, testRaftLogOut = hclog.Error, io.Discard
