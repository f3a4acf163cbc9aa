package state

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// A lock ending wakes one waiter, the oldest of those that can take the key: by name, or
// lock-any of one of its prefixes; a key becoming visible wakes only lock-any waiters.
func TestNotifierLockWakesOldestThatCanTakeIt(t *testing.T) {
	n := NewNotifier()
	k1 := n.HoldLock("s", false, []byte("p/1"), nil, 0)
	anyP := n.HoldLock("s", true, nil, []byte("p/"), 0)
	k1b := n.HoldLock("s", false, []byte("p/1"), nil, 0)
	anyX := n.HoldLock("s", true, nil, []byte("x/"), 0)
	other := n.HoldLock("other", false, []byte("p/1"), nil, 0)
	all := []*Hold{k1, anyP, k1b, anyX, other}
	state := func() (w []bool) {
		for _, h := range all {
			w = append(w, woken(h))
		}
		return w
	}
	n.WakeLock("s", []byte("p/1"), true, true)
	if got := state(); !got[0] || got[1] || got[2] || got[3] || got[4] {
		t.Fatalf("after one lock ended, woken = %v; want the oldest (by name) only", got)
	}
	n.WakeLock("s", []byte("p/1"), true, true)
	if got := state(); !got[1] || got[2] {
		t.Fatalf("after a second, woken = %v; want the lock-any of prefix p/ (older than the second by name)", got)
	}
	n.WakeLock("s", []byte("p/2"), false, true) // visible: lock-any only
	if got := state(); got[2] || got[3] {
		t.Fatalf("a key of p/ becoming visible woke %v; nobody left can take it", got)
	}
	n.WakeLock("s", []byte("p/1"), true, false) // lock ended, key still delayed
	if got := state(); !got[2] || got[3] || got[4] {
		t.Fatalf("woken = %v; want the second by name", got)
	}
	if n.Woken() != 3 {
		t.Fatalf("Woken = %d, want 3", n.Woken())
	}
	for _, h := range all {
		h.Woke()
		h.Release()
	}
	if n.Len() != 0 || n.LockWaiting() || len(n.locks) != 0 {
		t.Fatalf("entries left: %d, lock waiting %v, storages indexed %d", n.Len(), n.LockWaiting(), len(n.locks))
	}
}

// A lock waiter woken that leaves without looking passes the wakeup on to the next that
// can take the key, in whatever line it waits.
func TestNotifierLockWakeupPassedOn(t *testing.T) {
	n := NewNotifier()
	a := n.HoldLock("s", false, []byte("k"), nil, 0)
	b := n.HoldLock("s", true, nil, []byte("k"), 0)
	n.WakeLock("s", []byte("k"), true, true)
	if !woken(a) || woken(b) {
		t.Fatal("want a woken, b not")
	}
	a.Release()
	if !woken(b) {
		t.Fatal("a's wakeup was not passed on to b")
	}
	b.Woke()
	b.Release()
	// Deleted key: every waiter by name wakes; deleted storage: all of its lock waiters.
	c, d := n.HoldLock("s", false, []byte("k"), nil, 0), n.HoldLock("s", false, []byte("k"), nil, 0)
	e := n.HoldLock("s", true, nil, nil, 0)
	n.WakeKeyGone("s", []byte("k"))
	if !woken(c) || !woken(d) || woken(e) {
		t.Fatal("a deleted key must wake every waiter by its name, only them")
	}
	n.WakeStorage("s")
	if !woken(e) {
		t.Fatal("a deleted storage must wake its lock-any waiters")
	}
}

// A waiter coming back to its place (HoldOneAt with its Seq) goes before those who came
// after it.
func TestNotifierHoldOneAtKeepsPlace(t *testing.T) {
	n := NewNotifier()
	a := n.HoldOne("q/x")
	b, c := n.HoldOne("q/x"), n.HoldOne("q/x")
	n.TouchN("q/x", 1)
	if !woken(a) {
		t.Fatal("a not woken")
	}
	a.Woke()
	a.Release()
	again := n.HoldOneAt("q/x", a.Seq())
	n.TouchN("q/x", 1)
	if !woken(again) || woken(b) || woken(c) {
		t.Fatal("a back at its place must be woken before b and c")
	}
}

// The state wakes lock waiters per key: a release wakes one waiter of that key, a set of
// another key none, a tick ending a lock one.
func TestStateWakesLockWaitersPerKey(t *testing.T) {
	s := New(nil)
	n := s.Notifier()
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "s"})))
	for _, k := range []string{"a", "b"} {
		mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "s", Request: &pb.StorageSetRequest{Key: []byte(k), Value: []byte("v")}})))
	}
	r := apply(t, s, 2, cmd(t, raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "s", Session: 1, Key: []byte("a")}))
	mustOK(t, r)
	la := r[0].Value.(kv.Entry)
	mustOK(t, apply(t, s, 2, cmd(t, raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "s", Session: 1, Key: []byte("b"), LockTtl: durationpb.New(10 * time.Second)})))
	w1, w2 := n.HoldLock("s", false, []byte("a"), nil, 0), n.HoldLock("s", false, []byte("a"), nil, 0)
	wb := n.HoldLock("s", false, []byte("b"), nil, 0)
	mustOK(t, apply(t, s, 3, cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "s", Request: &pb.StorageSetRequest{Key: []byte("c"), Value: []byte("v")}})))
	if n.Woken() != 0 {
		t.Fatalf("a set of another key woke %d lock waiters", n.Woken())
	}
	mustOK(t, apply(t, s, 4, cmd(t, raftpb.Type_TYPE_STORAGE_RELEASE, &raftpb.StorageRelease{Storage: "s", Session: 1, Request: &pb.StorageReleaseIdRequest{Id: la.ID}})))
	if !woken(w1) || woken(w2) || woken(wb) || n.Woken() != 1 {
		t.Fatalf("a release woke %d (first %v, second %v, other key %v); want the first only", n.Woken(), woken(w1), woken(w2), woken(wb))
	}
	// Time passing b's lock end (an entry with a later time, as a tick) wakes b's waiter.
	apply(t, s, 20)
	if !woken(wb) || n.Woken() != 2 {
		t.Fatalf("the lock's end woke %d (b's waiter %v)", n.Woken(), woken(wb))
	}
}

// Pullers: an enqueue of delayed items wakes none, the tick that makes k of them visible
// wakes k; a keyed queue wakes the whole line.
func TestStateWakesPullersPerReadyItem(t *testing.T) {
	s := New(nil)
	n := s.Notifier()
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"})))
	line := make([]*Hold, 10)
	for i := range line {
		line[i] = n.HoldOne(QueueKey("q"))
	}
	items := []*pb.InputItem{
		{Value: []byte("1"), Delay: durationpb.New(5 * time.Second)},
		{Value: []byte("2"), Delay: durationpb.New(5 * time.Second)},
		{Value: []byte("3"), Delay: durationpb.New(8 * time.Second)},
	}
	mustOK(t, apply(t, s, 1, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: items})))
	if n.Woken() != 0 {
		t.Fatalf("an enqueue of delayed items woke %d pullers", n.Woken())
	}
	apply(t, s, 6)
	if n.Woken() != 2 || !woken(line[0]) || !woken(line[1]) || woken(line[2]) {
		t.Fatalf("a tick making 2 items visible woke %d", n.Woken())
	}
	apply(t, s, 9)
	if n.Woken() != 3 || !woken(line[2]) || woken(line[3]) {
		t.Fatalf("a tick making 1 item visible woke %d in all, want 3", n.Woken())
	}
	// Items with a key: the whole line (a group may be bound to one waiter).
	mustOK(t, apply(t, s, 10, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: []byte("g"), Key: []byte("g")}}})))
	if n.Woken() != 10 {
		t.Fatalf("a keyed item woke %d in all, want the whole line (10)", n.Woken())
	}
}
