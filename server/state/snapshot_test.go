package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// populated is populate's state with a cluster id, and its snapshot at index 42.
func populated(t testing.TB) (*State, []byte) {
	t.Helper()
	s := populate(t)
	mustOK(t, apply(t, s, 102, cmd(t, raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{Id: "cluster-a"})))
	b, err := s.Snapshot(42)
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

// legacyOf is b in the headerless format of servers before format version 1.
func legacyOf(t testing.TB, b []byte) []byte {
	t.Helper()
	info, err := CheckSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return b[fixedHeaderBytes+len(info.ClusterID) : info.recordsEnd]
}

func TestSnapshotHeaderAndTrailer(t *testing.T) {
	s, b := populated(t)
	if !bytes.HasPrefix(b, snapshotMagic[:]) {
		t.Fatalf("snapshot starts with %q", b[:8])
	}
	info, err := CheckSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// meta, 1 member, 2 queues with 4 items, 1 storage with 2 keys
	if info.Version != 1 || info.AppliedIndex != 42 || info.ClusterID != "cluster-a" || info.Records != 11 || info.Size != int64(len(b)) {
		t.Fatalf("info %+v", info)
	}
	if info.Counters != s.Counters() || s.Counters().NextID != 7 || s.Counters().LastToken != 1 {
		t.Fatalf("counters %+v, state %+v", info.Counters, s.Counters())
	}
	if got := binary.BigEndian.Uint64(b[len(b)-12:]); got != info.Records {
		t.Fatalf("trailer count %d", got)
	}
	r := New(nil)
	if err := r.Restore(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	again, err := r.Snapshot(42)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) || r.ClusterID() != "cluster-a" {
		t.Fatalf("round trip differs (cluster id %q)", r.ClusterID())
	}
}

// badSnapshots are the ways a snapshot file can be wrong, each with a word its error
// message must contain.
func badSnapshots(good []byte) map[string][]byte {
	bad := map[string][]byte{
		"empty":          {},
		"garbage":        []byte("not a snapshot at all"),
		"text":           []byte("{\"queues\":[]}\n"),
		"trailing bytes": append(append([]byte{}, good...), 0),
		"magic only":     snapshotMagic[:],
	}
	newer := append([]byte{}, good...)
	binary.BigEndian.PutUint32(newer[8:], SnapshotFormatVersion+1)
	bad["newer version"] = newer
	for cut := 1; cut < len(good); cut++ {
		bad["truncated at "+strconv.Itoa(cut)] = good[:cut]
	}
	for i := range good {
		for bit := range 8 {
			flipped := append([]byte{}, good...)
			flipped[i] ^= 1 << bit
			bad["bit "+strconv.Itoa(bit)+" of byte "+strconv.Itoa(i)+" flipped"] = flipped
		}
	}
	return bad
}

// Every empty, truncated, bit-flipped, newer or foreign file is refused with a
// SnapshotError, by the backup check and by Restore, and Restore leaves the state as it was.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	s, good := populated(t)
	for name, b := range badSnapshots(good) {
		_, err := CheckSnapshot(bytes.NewReader(b))
		var se *SnapshotError
		if !errors.As(err, &se) {
			t.Fatalf("%s: check answered %v", name, err)
		}
		if err := s.Restore(bytes.NewReader(b)); err == nil {
			t.Fatalf("%s: restored", name)
		}
		after, err := s.Snapshot(42)
		if err != nil || !bytes.Equal(after, good) {
			t.Fatalf("%s: a failed restore changed the state", name)
		}
	}
}

func TestSnapshotErrorsSayWhatIsWrong(t *testing.T) {
	_, good := populated(t)
	newer := append([]byte{}, good...)
	binary.BigEndian.PutUint32(newer[8:], 7)
	flipped := append([]byte{}, good...)
	flipped[len(good)/2] ^= 0x10
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{nil, "empty"},
		{good[:len(good)-5], "truncated"},
		{good[:len(good)/2], "truncated"},
		{newer, "version 7 is not supported"},
		{[]byte("garbage"), "does not start with the snapshot header"},
		{append(append([]byte{}, good...), 'x'), "bytes follow the trailer"},
		{legacyOf(t, good), "does not start with the snapshot header"},
		{flipped, "corrupt"},
	} {
		_, err := CheckSnapshot(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}

// Raft snapshots written before format version 1 (headerless) still restore, so a data
// folder of an older server keeps working; backups must be version 1.
func TestRestoreLegacySnapshot(t *testing.T) {
	s, good := populated(t)
	r := New(nil)
	if err := r.Restore(bytes.NewReader(legacyOf(t, good))); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Snapshot(1)
	// A legacy file has no cluster id; the next leader gives the state one.
	mustOK(t, apply(t, r, 103, cmd(t, raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{Id: "cluster-a"})))
	b, _ := r.Snapshot(1)
	// the clock moved to 103 s in r: compare everything else
	if r.Counters().NextID != s.Counters().NextID || len(a) != len(b) {
		t.Fatalf("legacy restore differs: %d vs %d bytes", len(a), len(b))
	}
}

// The cluster id is the last applied; an empty one is refused.
func TestClusterID(t *testing.T) {
	s := New(nil)
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{Id: "first"})))
	mustOK(t, apply(t, s, 2, cmd(t, raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{Id: "second"})))
	if s.ClusterID() != "second" {
		t.Fatalf("cluster id %q", s.ClusterID())
	}
	if rs := apply(t, s, 3, cmd(t, raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{})); rs[0].Err == nil {
		t.Fatal("an empty cluster id was accepted")
	}
}

// RewriteCounters gives a valid file with the new counters and cluster id and the same
// records.
func TestRewriteCounters(t *testing.T) {
	s, good := populated(t)
	info, err := CheckSnapshot(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Clock: 1 << 62, NextID: 1000, LastToken: 300}
	r, size, err := RewriteCounters(bytes.NewReader(good), info, "cluster-b", want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size {
		t.Fatalf("rewritten size %d, announced %d", len(b), size)
	}
	got, err := CheckSnapshot(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Counters != want || got.ClusterID != "cluster-b" || got.Records != info.Records || got.AppliedIndex != 42 {
		t.Fatalf("rewritten: %+v", got)
	}
	// Rewriting the counters back gives the original file.
	r, _, err = RewriteCounters(bytes.NewReader(b), got, "cluster-a", s.Counters())
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := io.ReadAll(r); !bytes.Equal(back, good) {
		t.Fatal("rewriting back did not give the original")
	}
}

func TestCountersMax(t *testing.T) {
	a := Counters{Clock: 5, NextID: 10, LastToken: 1}
	b := Counters{Clock: 7, NextID: 3, LastToken: 4}
	if got := a.Max(b); got != (Counters{Clock: 7, NextID: 10, LastToken: 4}) {
		t.Fatalf("max %+v", got)
	}
}

// FuzzRestore: any input either restores (and then the state snapshots and restores to
// the same bytes) or fails leaving the state exactly as it was; never a panic. The backup
// check and Restore agree on version 1 files.
func FuzzRestore(f *testing.F) {
	_, good := populated(f)
	empty, _ := New(nil).Snapshot(0)
	f.Add(good)
	f.Add(empty)
	f.Add(legacyOf(f, good))
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	for _, b := range inconsistentSnapshots(f) {
		f.Add(b)
		// in the legacy format (no checksum), so mutations of the records get through
		f.Add(b[fixedHeaderBytes+len("c") : len(b)-trailerBytes-1])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, before := populated(t)
		_, checkErr := CheckSnapshot(bytes.NewReader(data))
		err := s.Restore(bytes.NewReader(data))
		if err != nil {
			if checkErr == nil {
				t.Fatalf("the check accepted what Restore refused: %v", err)
			}
			after, serr := s.Snapshot(42)
			if serr != nil || !bytes.Equal(before, after) {
				t.Fatalf("a failed restore (%v) changed the state", err)
			}
			return
		}
		b, err := s.Snapshot(9)
		if err != nil {
			t.Fatal(err)
		}
		r := New(nil)
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			t.Fatalf("a restored state's snapshot does not restore: %v", err)
		}
		again, err := r.Snapshot(9)
		if err != nil || !bytes.Equal(b, again) {
			t.Fatalf("round trip differs (%v)", err)
		}
	})
}

// seal writes records as a version 1 file with a valid trailer: what a buggy or hostile
// writer could produce.
func seal(t testing.TB, recs ...*raftpb.SnapshotRecord) []byte {
	t.Helper()
	var b bytes.Buffer
	w := newSnapshotWriter(&b, 1, "c")
	for _, r := range recs {
		if err := w.put(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func metaRec(next, token uint64) *raftpb.SnapshotRecord {
	return &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Meta{Meta: &raftpb.SnapshotMeta{NextId: next, LastLockToken: token}}}
}

func queueRec(name string) *raftpb.SnapshotRecord {
	return &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Queue{Queue: &raftpb.QueueState{Config: &pb.CreateQueueRequest{QueueName: name, Priorities: 4}}}}
}

func itemRec(queue string, id uint64, prio uint32) *raftpb.SnapshotRecord {
	return &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Item{Item: &raftpb.QueueItem{Queue: queue, Id: id, Priority: prio}}}
}

func storageRec(name string) *raftpb.SnapshotRecord {
	return &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Storage{Storage: &raftpb.StorageState{Name: name}}}
}

func keyRec(storage string, id uint64, key string, token uint64) *raftpb.SnapshotRecord {
	return &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Key{Key: &raftpb.KeyState{Storage: storage, Id: id, Key: []byte(key), Locked: token != 0, LockToken: token}}}
}

// inconsistentSnapshots are well-formed files (valid checksum) whose records do not make a
// consistent state.
func inconsistentSnapshots(t testing.TB) map[string][]byte {
	unknown := &raftpb.SnapshotRecord{}
	unknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	return map[string][]byte{
		"no meta first":          seal(t, queueRec("q"), metaRec(10, 0)),
		"meta twice":             seal(t, metaRec(10, 0), metaRec(10, 0)),
		"next_id 0":              seal(t, metaRec(0, 0)),
		"item outside its queue": seal(t, metaRec(10, 0), queueRec("q"), itemRec("other", 1, 0)),
		"item before any queue":  seal(t, metaRec(10, 0), itemRec("q", 1, 0)),
		"item id not below next": seal(t, metaRec(10, 0), queueRec("q"), itemRec("q", 10, 0)),
		"item id 0":              seal(t, metaRec(10, 0), queueRec("q"), itemRec("q", 0, 0)),
		"item twice":             seal(t, metaRec(10, 0), queueRec("q"), itemRec("q", 3, 0), itemRec("q", 3, 1)),
		"priority out of range":  seal(t, metaRec(10, 0), queueRec("q"), itemRec("q", 3, 4)),
		"queue twice":            seal(t, metaRec(10, 0), queueRec("q"), queueRec("q")),
		"queue without name":     seal(t, metaRec(10, 0), queueRec("")),
		"storage twice":          seal(t, metaRec(10, 0), storageRec("s"), storageRec("s")),
		"key outside storage":    seal(t, metaRec(10, 0), storageRec("s"), keyRec("t", 1, "a", 0)),
		"key id twice":           seal(t, metaRec(10, 0), storageRec("s"), keyRec("s", 1, "a", 0), keyRec("s", 1, "b", 0)),
		"key bytes twice":        seal(t, metaRec(10, 0), storageRec("s"), keyRec("s", 1, "a", 0), keyRec("s", 2, "a", 0)),
		"empty key":              seal(t, metaRec(10, 0), storageRec("s"), keyRec("s", 1, "", 0)),
		"token beyond last":      seal(t, metaRec(10, 2), storageRec("s"), keyRec("s", 1, "a", 3)),
		"unknown record type":    seal(t, metaRec(10, 0), unknown),
		"missing dead letter queue": seal(t, metaRec(10, 0), &raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Queue{Queue: &raftpb.QueueState{
			Config: &pb.CreateQueueRequest{QueueName: "q", DeadLetterQueue: "dlq"}}}}),
	}
}

// A file with a valid checksum is still refused when its records do not make a consistent
// state, and the state is left as it was.
func TestRestoreRefusesInconsistentRecords(t *testing.T) {
	s, good := populated(t)
	for name, b := range inconsistentSnapshots(t) {
		_, err := CheckSnapshot(bytes.NewReader(b))
		var se *SnapshotError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "corrupt snapshot") {
			t.Fatalf("%s: %v", name, err)
		}
		if err := s.Restore(bytes.NewReader(b)); err == nil {
			t.Fatalf("%s: restored", name)
		}
		if after, _ := s.Snapshot(42); !bytes.Equal(after, good) {
			t.Fatalf("%s: a failed restore changed the state", name)
		}
	}
	// The same records, consistent, restore.
	ok := seal(t, metaRec(10, 3), queueRec("q"), itemRec("q", 3, 1), storageRec("s"), keyRec("s", 1, "a", 3))
	if err := s.Restore(bytes.NewReader(ok)); err != nil {
		t.Fatal(err)
	}
}
