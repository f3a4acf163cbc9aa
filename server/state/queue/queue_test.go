package queue

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

func TestNewDefaults(t *testing.T) {
	in := &pb.CreateQueueRequest{QueueName: "jobs", MaxSize: 7}
	q := New(in)
	c := q.Config()
	if c.Priorities != 32 || c.GetLease().AsDuration() != DefaultLease || c.MaxSize != 7 || c.QueueName != "jobs" {
		t.Fatalf("config %v", c)
	}
	if in.Priorities != 0 || in.Lease != nil {
		t.Fatal("New modified its argument")
	}
	q = New(&pb.CreateQueueRequest{Priorities: 3, Lease: durationpb.New(5 * time.Second)})
	if q.Config().Priorities != 3 || q.Config().GetLease().AsDuration() != 5*time.Second {
		t.Fatalf("config %v", q.Config())
	}
	if w, a := New(nil).Counts(); w != 0 || a != 0 {
		t.Fatal("nil config")
	}
}

func TestPriorityOrderAcross32Levels(t *testing.T) {
	h := newHarness(t, nil)
	// Priorities in a scrambled order, two items each.
	var items []*pb.InputItem
	for i := uint32(0); i < 64; i++ {
		items = append(items, mk(prio((i*7)%32)))
	}
	got := h.enq(items...)
	want := slices.Clone(got)
	slices.SortFunc(want, func(a, b uint64) int {
		pa, pb := (uint32(a-1)*7)%32, (uint32(b-1)*7)%32
		if pa != pb {
			return int(pb) - int(pa)
		}
		return cmpU64(a, b)
	})
	var pulled []uint64
	var prios []uint32
	for len(pulled) < 64 {
		ds := h.q.Pull(h.now, 1, 5)
		if len(ds) == 0 {
			t.Fatal("ran dry")
		}
		for _, d := range ds {
			pulled = append(pulled, d.Item.Id)
			prios = append(prios, d.Item.Priority)
		}
	}
	eqIDs(t, "pull order", pulled, want)
	if prios[0] != 31 || prios[63] != 0 || !slices.IsSortedFunc(prios, func(a, b uint32) int { return int(b) - int(a) }) {
		t.Fatalf("priorities %v", prios)
	}
}

func TestPriorityRange(t *testing.T) {
	for _, tc := range []struct {
		levels uint32
		p      uint32
		ok     bool
		rng    string
	}{
		{0, 31, true, ""},
		{0, 32, false, "0..31"},
		{4, 3, true, ""},
		{4, 4, false, "0..3"},
		{1, 0, true, ""},
		{1, 1, false, "0..0"},
	} {
		h := newHarness(t, &pb.CreateQueueRequest{Priorities: tc.levels})
		_, _, err := h.q.Enqueue(h.now, []*pb.InputItem{mk(), mk(prio(tc.p))}, h.ids)
		if tc.ok {
			if err != nil {
				t.Fatalf("%+v: %v", tc, err)
			}
			continue
		}
		wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "priority", tc.rng)
		if w, _ := h.q.Counts(); w != 0 || h.ids.n != 0 {
			t.Fatalf("%+v: failed batch added items or used ids", tc)
		}
	}
}

func TestFIFOWithinPriority(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 2})
	a := h.enq(mk(), mk(prio(1)), mk(), mk(prio(1)))
	h.after(sec)
	b := h.enq(mk(), mk(prio(1)))
	eqIDs(t, "order", h.pull(1, 10), ids(a[1], a[3], b[1], a[0], a[2], b[0]))
}

func TestDeliveryFields(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 4})
	id := h.enq(mk(prio(2), key("k"), ukey("u"), val("hello"), compressed()))[0]
	ds := h.q.Pull(h.now, 3, 1)
	if len(ds) != 1 {
		t.Fatal("no delivery")
	}
	it := ds[0].Item
	if it.Id != id || it.Priority != 2 || string(it.Key) != "k" || string(it.UniqueKey) != "u" ||
		string(it.Value) != "hello" || it.DeliveryCount != 0 || it.EnqueuedAt.AsTime().UnixNano() != t0 || !ds[0].Compressed {
		t.Fatalf("delivery %v compressed=%v", it, ds[0].Compressed)
	}
	h.after(DefaultLease.Nanoseconds())
	ds = h.q.Pull(h.now, 3, 1)
	if ds[0].Item.DeliveryCount != 1 || ds[0].Item.EnqueuedAt.AsTime().UnixNano() != t0 {
		t.Fatalf("redelivery %v", ds[0].Item)
	}
}

func TestTTL(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{QueueName: "exp"})
	id := h.enq(mk(ttl(10*sec), val("v"), key("g")), mk())
	if h.q.NextDeadline() != t0+10*sec {
		t.Fatalf("next deadline %d", h.q.NextDeadline())
	}
	h.after(10*sec - 1)
	if len(h.dead) != 0 {
		t.Fatal("expired early")
	}
	dead := h.after(1)
	eqIDs(t, "dead", recordIDs(dead), ids(id[0]))
	d := dead[0]
	if d.Queue != "exp" || string(d.Value) != "v" || string(d.Key) != "g" || d.ExpiresAt != t0+10*sec || d.Active || d.EnqueuedAt != t0 {
		t.Fatalf("dead record %v", d)
	}
	eqIDs(t, "pull", h.pull(1, 10), ids(id[1]))
	if h.q.NextDeadline() != h.now+DefaultLease.Nanoseconds() {
		t.Fatalf("next deadline %d", h.q.NextDeadline())
	}

	// A ttl runs only while waiting: an item pulled before expiry is not expired while
	// active, but is dead when its lease ends after the ttl.
	h = newHarness(t, &pb.CreateQueueRequest{Lease: durationpb.New(time.Minute)})
	x := h.enq(mk(ttl(10 * sec)))[0]
	eqIDs(t, "pull", h.pull(1, 1), ids(x))
	if d := h.after(30 * sec); len(d) != 0 {
		t.Fatal("active item expired")
	}
	h.commit(x)
	x = h.enq(mk(ttl(10 * sec)))[0]
	h.pull(1, 1)
	dead = h.after(time.Minute.Nanoseconds())
	eqIDs(t, "dead after lease", recordIDs(dead), ids(x))
	if dead[0].DeliveryCount != 1 {
		t.Fatalf("dead %v", dead[0])
	}
}

func TestDelay(t *testing.T) {
	h := newHarness(t, nil)
	d := h.enq(mk(delay(5*sec), prio(9)), mk(delay(3*sec)))
	n := h.enq(mk())[0]
	if c := h.counts(); c != [2]uint32{3, 0} {
		t.Fatalf("counts %v", c)
	}
	if h.q.NextDeadline() != t0+3*sec {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	eqIDs(t, "now", h.pull(1, 10), ids(n))
	h.after(3 * sec)
	eqIDs(t, "at 3s", h.pull(1, 10), ids(d[1]))
	h.after(2*sec - 1)
	eqIDs(t, "before 5s", h.pull(1, 10), nil)
	h.after(1)
	eqIDs(t, "at 5s", h.pull(1, 10), ids(d[0]))
	// Delay longer than ttl: never visible.
	x := h.enq(mk(delay(10*sec), ttl(5*sec)))[0]
	eqIDs(t, "dead", recordIDs(h.after(5*sec)), ids(x))
	h.after(10 * sec)
	eqIDs(t, "never", h.pull(2, 10), nil)
}

func TestGrouping(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 10})
	g := h.enq(mk(key("g"), prio(1)), mk(key("g"), prio(1)), mk(key("g"), prio(0)))
	o := h.enq(mk(prio(5)), mk(prio(5)), mk(key("h"), prio(3)))

	// Session 1 takes the best item: an ungrouped one.
	eqIDs(t, "s1 #1", h.pull(1, 1), ids(o[0]))
	// Session 2 gets o[1] then the group h head, binding h.
	eqIDs(t, "s2 #1", h.pull(2, 2), ids(o[1], o[2]))
	// Session 1 now takes the g head and binds g; the batch is filled with g first.
	eqIDs(t, "s1 #2", h.pull(1, 1), ids(g[0]))
	eqIDs(t, "s2 never gets g", h.pull(2, 5), nil)
	h.enq(mk(prio(9))) // a high-priority item: grouping outranks it for session 1
	eqIDs(t, "s1 #3", h.pull(1, 2), ids(g[1], g[2]))
	// Binding lasts while session 1 holds an active g item.
	g3 := h.enq(mk(key("g"), prio(9)))[0]
	h.commit(g[0])
	h.commit(g[1])
	eqIDs(t, "s2 gets the prio 9 item", h.pull(2, 1), ids(7))
	eqIDs(t, "s2 not g", h.pull(2, 1), nil)
	h.commit(g[2])
	// g unbound now: session 2 may take it.
	eqIDs(t, "s2 gets g", h.pull(2, 1), ids(g3))
}

func TestGroupingBatchFillsGroupFirst(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 10})
	a := h.enq(mk(key("a"), prio(5)), mk(prio(9)), mk(key("a"), prio(0)), mk(prio(8)), mk(key("a"), prio(0)), mk(key("b"), prio(7)), mk(key("b"), prio(1)))
	// Best first: a[1] (9, ungrouped). Then a[3] (8). Then group b head (7) binds b:
	// b's other item comes next. Then group a head (5) binds a and its items follow.
	eqIDs(t, "batch", h.pull(1, 10), ids(a[1], a[3], a[5], a[6], a[0], a[2], a[4]))

	// A fresh item in a group already bound to the session comes before better items.
	x := h.enq(mk(prio(9)), mk(key("a"), prio(0)), mk(key("b"), prio(2)))
	eqIDs(t, "bound first", h.pull(1, 2), ids(x[2], x[1]))
	eqIDs(t, "then others", h.pull(1, 2), ids(x[0]))
}

func TestGroupingSessionZeroAndClose(t *testing.T) {
	h := newHarness(t, nil)
	g := h.enq(mk(key("g")), mk(key("g")), mk(key("g")))
	eqIDs(t, "rest pull", h.pull(0, 1), ids(g[0]))
	eqIDs(t, "stream blocked", h.pull(5, 1), nil)
	eqIDs(t, "rest again", h.pull(0, 1), ids(g[1]))
	// Requeue of a held item keeps the binding while another is held.
	if _, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: g[1]}); err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "still blocked", h.pull(5, 1), nil)
	if err := h.q.Delete(h.now, g[0]); err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "unbound after delete", h.pull(5, 1), ids(g[1]))
	// CloseSession ends the binding and returns items.
	eqIDs(t, "batch", h.pull(5, 5), ids(g[2]))
	if d := h.q.CloseSession(h.now, 5); len(d) != 0 {
		t.Fatal("dead on close")
	}
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{2, 0} {
		t.Fatalf("counts %v", c)
	}
	eqIDs(t, "other session", h.pull(6, 5), ids(g[1], g[2]))
	// Lease end ends the binding too.
	h.after(DefaultLease.Nanoseconds())
	eqIDs(t, "after lease", h.pull(7, 1), ids(g[1]))
}

func TestUniqueKey(t *testing.T) {
	h := newHarness(t, nil)
	out, dup, err := h.q.Enqueue(h.now, []*pb.InputItem{mk(ukey("a")), mk(ukey("b")), mk(ukey("a")), mk(), mk(ukey("b"))}, h.ids)
	if err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "ids", out, ids(1, 2, 1, 3, 2))
	if !slices.Equal(dup, []bool{false, false, true, false, true}) {
		t.Fatalf("dup %v", dup)
	}
	// Fresh (the room an enqueue needs) counts what Enqueue adds: "b" is in the queue, the
	// second "c" repeats the first.
	if n := h.q.Fresh([]*pb.InputItem{mk(ukey("b")), mk(ukey("c")), mk(ukey("c")), mk()}); n != 2 {
		t.Fatalf("fresh %d, want 2", n)
	}
	out, dup, _ = h.q.Enqueue(h.now, []*pb.InputItem{mk(ukey("b")), mk(ukey("c"))}, h.ids)
	eqIDs(t, "ids 2", out, ids(2, 4))
	if !dup[0] || dup[1] {
		t.Fatalf("dup %v", dup)
	}
	if c := h.counts(); c != [2]uint32{4, 0} {
		t.Fatalf("counts %v", c)
	}
	// Still held while active; released by commit, delete and expiry.
	eqIDs(t, "pull", h.pull(1, 1), ids(1))
	if out, dup, _ = h.q.Enqueue(h.now, []*pb.InputItem{mk(ukey("a"))}, h.ids); out[0] != 1 || !dup[0] {
		t.Fatal("active item's unique key not held")
	}
	h.commit(1)
	if err := h.q.Delete(h.now, 2); err != nil {
		t.Fatal(err)
	}
	x := h.enq(mk(ukey("a")), mk(ukey("b")), mk(ukey("t"), ttl(sec)))
	eqIDs(t, "released", x, ids(5, 6, 7))
	h.after(sec)
	eqIDs(t, "after expiry", h.enq(mk(ukey("t"))), ids(8))
}

func TestMaxSize(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{MaxSize: 3, QueueName: "small"})
	h.enq(mk(ukey("u")), mk())
	// Duplicates do not count.
	out, dup, err := h.q.Enqueue(h.now, []*pb.InputItem{mk(ukey("u")), mk(ukey("v")), mk(ukey("v"))}, h.ids)
	if err != nil || out[0] != 1 || !dup[0] || out[1] != 3 || out[2] != 3 {
		t.Fatalf("%v %v %v", out, dup, err)
	}
	h.pull(1, 1) // active items count too
	_, _, err = h.q.Enqueue(h.now, []*pb.InputItem{mk()}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_QUEUE_FULL, "small")
	if c := h.counts(); c != [2]uint32{2, 1} || h.ids.n != 3 {
		t.Fatalf("counts %v ids %d", c, h.ids.n)
	}
	h.commit(1)
	// A batch that does not fully fit adds nothing.
	_, _, err = h.q.Enqueue(h.now, []*pb.InputItem{mk(), mk()}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_QUEUE_FULL)
	if c := h.counts(); c != [2]uint32{2, 0} || h.ids.n != 3 {
		t.Fatalf("counts %v ids %d", c, h.ids.n)
	}
	eqIDs(t, "fits", h.enq(mk()), ids(4))
	// Invalid item anywhere in a batch: nothing added.
	h.q.Resize(0)
	_, _, err = h.q.Enqueue(h.now, []*pb.InputItem{mk(), mk(ttl(-sec))}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "ttl")
	_, _, err = h.q.Enqueue(h.now, []*pb.InputItem{mk(), mk(delay(-sec))}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "delay")
	if c := h.counts(); c != [2]uint32{3, 0} || h.ids.n != 4 {
		t.Fatalf("counts %v ids %d", c, h.ids.n)
	}
}

func TestResize(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{QueueName: "r"})
	h.enq(mk(), mk(), mk())
	h.pull(1, 1)
	err := h.q.Resize(2)
	if err == nil || err.Code.String() != "FailedPrecondition" {
		t.Fatalf("resize: %v", err)
	}
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_ERROR, "holds 3 items", "max_size 2", `"r"`)
	for _, n := range []uint32{3, 10, 0} {
		if err := h.q.Resize(n); err != nil || h.q.Config().MaxSize != n {
			t.Fatalf("resize %d: %v", n, err)
		}
	}
}

func TestPause(t *testing.T) {
	h := newHarness(t, nil)
	h.q.SetPaused(true)
	if !h.q.Paused() {
		t.Fatal("not paused")
	}
	x := h.enq(mk(), mk())
	if ds := h.q.Pull(h.now, 1, 5); ds != nil {
		t.Fatal("paused queue delivered")
	}
	h.q.SetPaused(false)
	eqIDs(t, "resumed", h.pull(1, 1), x[:1])
	h.q.SetPaused(true)
	h.commit(x[0]) // commit etc. still work
	h.q.SetPaused(false)
	eqIDs(t, "resumed", h.pull(1, 1), x[1:])
}

func TestLeaseExpiryAndExtend(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Lease: durationpb.New(10 * time.Second)})
	x := h.enq(mk(), mk())
	eqIDs(t, "pull", h.pull(1, 2), x)
	if h.q.NextDeadline() != t0+10*sec {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	h.after(5 * sec)
	if err := h.q.Extend(h.now, x[1], 0); err != nil { // queue lease
		t.Fatal(err)
	}
	if err := h.q.Extend(h.now, x[0], time.Second); err != nil {
		t.Fatal(err)
	}
	if h.q.NextDeadline() != t0+6*sec {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	h.after(sec)
	if c := h.counts(); c != [2]uint32{1, 1} {
		t.Fatalf("counts %v", c)
	}
	ds := h.q.Pull(h.now, 2, 5)
	if len(ds) != 1 || ds[0].Item.Id != x[0] || ds[0].Item.DeliveryCount != 1 {
		t.Fatalf("redelivery %v", ds)
	}
	h.at(t0 + 15*sec)
	if rec := h.q.Get(x[1]); rec.Active || rec.DeliveryCount != 1 {
		t.Fatalf("after lease %v", rec)
	}
	if h.q.Get(999) != nil {
		t.Fatal("get unknown")
	}
}

func TestCloseSession(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{MaxDeliveries: 2})
	x := h.enq(mk(), mk(), mk())
	h.pull(1, 2)
	h.pull(2, 1)
	if d := h.q.CloseSession(h.now, 1); len(d) != 0 {
		t.Fatal("dead")
	}
	if d := h.q.CloseSession(h.now, 9); d != nil {
		t.Fatal("unknown session")
	}
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{2, 1} {
		t.Fatalf("counts %v", c)
	}
	eqIDs(t, "redelivered", h.pull(3, 5), x[:2])
	dead := h.q.CloseSession(h.now, 3)
	eqIDs(t, "dead at max", recordIDs(dead), x[:2])
	if dead[0].DeliveryCount != 2 || dead[0].Active || dead[0].Holder != 0 {
		t.Fatalf("dead %v", dead[0])
	}
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{0, 1} {
		t.Fatalf("counts %v", c)
	}
}

func TestMaxDeliveries(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{MaxDeliveries: 3, Lease: durationpb.New(time.Second)})
	x := h.enq(mk(ukey("u")))[0]
	for i := uint32(0); i < 2; i++ {
		ds := h.q.Pull(h.now, 1, 1)
		if len(ds) != 1 || ds[0].Item.DeliveryCount != i {
			t.Fatalf("delivery %d: %v", i, ds)
		}
		if i == 0 {
			h.after(sec)
		} else if d, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: x}); d != nil || err != nil {
			t.Fatal(d, err)
		}
	}
	h.pull(1, 1)
	dead := h.after(sec)
	eqIDs(t, "dead", recordIDs(dead), ids(x))
	if dead[0].DeliveryCount != 3 || string(dead[0].UniqueKey) != "u" {
		t.Fatalf("dead %v", dead[0])
	}
	if c := h.counts(); c != [2]uint32{0, 0} {
		t.Fatalf("counts %v", c)
	}
	eqIDs(t, "unique key released", h.enq(mk(ukey("u"))), ids(2))

	// Requeue reaching the limit answers the dead item.
	h = newHarness(t, &pb.CreateQueueRequest{MaxDeliveries: 1})
	x = h.enq(mk())[0]
	h.pull(1, 1)
	d, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: x})
	if err != nil || d == nil || d.Id != x || d.DeliveryCount != 1 {
		t.Fatal(d, err)
	}
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{0, 0} {
		t.Fatalf("counts %v", c)
	}
}

func TestRequeue(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 5})
	x := h.enq(mk(prio(1)), mk(prio(2)), mk(prio(3), ttl(100*sec)), mk(prio(0)))
	eqIDs(t, "pull", h.pull(1, 3), ids(x[2], x[1], x[0]))

	p := func(v uint32) *uint32 { return &v }
	_, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: x[0], Priority: p(5)})
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "priority", "0..4")
	_, err = h.q.Requeue(h.now, &pb.RequeueItem{Id: x[0], Delay: durationpb.New(-time.Second)})
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "delay")
	if !h.q.Get(x[0]).Active {
		t.Fatal("failed requeue changed the item")
	}
	_, err = h.q.Requeue(h.now, &pb.RequeueItem{Id: 99})
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "item 99 not found")
	_, err = h.q.Requeue(h.now, &pb.RequeueItem{Id: x[3]})
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY)

	// x0: new priority 4; x1: delay 5 s; x2: the requeue clears its ttl unless given.
	for _, r := range []*pb.RequeueItem{
		{Id: x[0], Priority: p(4), Ttl: durationpb.New(20 * time.Second)},
		{Id: x[1], Delay: durationpb.New(5 * time.Second)},
		{Id: x[2]},
	} {
		if d, err := h.q.Requeue(h.now, r); d != nil || err != nil {
			t.Fatal(d, err)
		}
		checkInvariants(t, h.q)
	}
	if r := h.q.Get(x[0]); r.Priority != 4 || r.ExpiresAt != h.now+20*sec || r.DeliveryCount != 1 {
		t.Fatalf("x0 %v", r)
	}
	if r := h.q.Get(x[2]); r.ExpiresAt != 0 {
		t.Fatalf("x2 %v", r)
	}
	eqIDs(t, "after requeue", h.pull(2, 5), ids(x[0], x[2], x[3]))
	h.after(5 * sec)
	eqIDs(t, "delayed", h.pull(2, 5), ids(x[1]))
	// The new ttl applies once waiting again.
	if _, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: x[0], Ttl: durationpb.New(time.Second)}); err != nil {
		t.Fatal(err)
	}
	eqIDs(t, "expired", recordIDs(h.after(sec)), ids(x[0]))
}

func TestCommitExtendDeleteErrors(t *testing.T) {
	h := newHarness(t, nil)
	x := h.enq(mk(), mk(), mk())
	h.pull(1, 1)
	for _, op := range []func(id uint64) *apierr.Error{
		func(id uint64) *apierr.Error { return h.q.Commit(h.now, id) },
		func(id uint64) *apierr.Error { return h.q.Extend(h.now, id, 0) },
		func(id uint64) *apierr.Error { _, e := h.q.Requeue(h.now, &pb.RequeueItem{Id: id}); return e },
	} {
		wantStatus(t, op(42), pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "item 42 not found")
		wantStatus(t, op(x[1]), pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "not active")
	}
	wantStatus(t, h.q.Delete(h.now, 42), pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND)
	// Commit from another session works.
	h.pull(2, 1)
	if err := h.q.Commit(h.now, x[0]); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.q.Commit(h.now, x[0]), pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND)
	// Delete waiting and active.
	if err := h.q.Delete(h.now, x[2]); err != nil {
		t.Fatal(err)
	}
	if err := h.q.Delete(h.now, x[1]); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{0, 0} || h.q.NextDeadline() != 0 {
		t.Fatalf("counts %v next %d", c, h.q.NextDeadline())
	}
}

func TestNextDeadline(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Lease: durationpb.New(30 * time.Second)})
	if h.q.NextDeadline() != 0 {
		t.Fatal("empty queue has a deadline")
	}
	h.enq(mk())
	if h.q.NextDeadline() != 0 {
		t.Fatal("plain item has a deadline")
	}
	x := h.enq(mk(ttl(50*sec)), mk(delay(40*sec)), mk(delay(45*sec), ttl(44*sec)))
	if h.q.NextDeadline() != t0+40*sec {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	h.pull(1, 2) // the plain item and x0 (ttl no longer counts)
	if h.q.NextDeadline() != t0+30*sec {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	for _, want := range []int64{30, 40, 44, 50} {
		next := h.q.NextDeadline()
		if next != t0+want*sec {
			t.Fatalf("want %d s, next %d s", want, (next-t0)/sec)
		}
		h.at(next)
	}
	eqIDs(t, "dead", recordIDs(h.dead), ids(x[2], x[0]))
	if h.q.NextDeadline() != 0 {
		t.Fatalf("next %d", h.q.NextDeadline())
	}
	eqIDs(t, "left", h.pull(1, 5), ids(1, x[1]))
}

func TestAddDead(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 4, QueueName: "dlq", MaxSize: 1})
	h.enq(mk(ukey("u")))
	h.q.AddDead(h.now, &raftpb.QueueItem{Queue: "src", Id: 100, Priority: 20, Key: []byte("k"), UniqueKey: []byte("u"),
		Value: []byte("v"), DeliveryCount: 5, EnqueuedAt: 7, ExpiresAt: h.now + 1, VisibleAt: h.now + 100, Active: true, Holder: 3, LeaseUntil: 9})
	h.q.AddDead(h.now, &raftpb.QueueItem{Id: 101, UniqueKey: []byte("w")})
	h.q.AddDead(h.now, &raftpb.QueueItem{Id: 100}) // ignored: already here
	checkInvariants(t, h.q)
	if c := h.counts(); c != [2]uint32{3, 0} {
		t.Fatalf("counts %v", c)
	}
	r := h.q.Get(100)
	want := &raftpb.QueueItem{Queue: "dlq", Id: 100, Priority: 3, Key: []byte("k"), Value: []byte("v"), DeliveryCount: 5, EnqueuedAt: 7}
	if !proto.Equal(r, want) {
		t.Fatalf("got %v want %v", r, want)
	}
	ds := h.q.Pull(h.now+10*sec, 1, 5)
	eqIDs(t, "pull", deliveryIDs(ds), ids(100, 1, 101))
	if ds[0].Item.DeliveryCount != 5 {
		t.Fatal("delivery count not kept")
	}
	if out, dup, err := h.q.Enqueue(h.now, []*pb.InputItem{mk(ukey("w"))}, h.ids); err != nil || out[0] != 101 || !dup[0] {
		t.Fatal("unique key of a dead-lettered item", out, dup, err)
	}
	_, _, err := h.q.Enqueue(h.now, []*pb.InputItem{mk()}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_QUEUE_FULL)
}

func TestSnapshotRoundTrip(t *testing.T) {
	cfg := &pb.CreateQueueRequest{QueueName: "snap", Priorities: 4, MaxDeliveries: 3, Lease: durationpb.New(20 * time.Second)}
	h := newHarness(t, cfg)
	h.enq(mk(key("a"), prio(1), val("a1")), mk(key("a"), prio(3)), mk(key("b")), mk(prio(2), ttl(100*sec)),
		mk(ukey("u"), delay(30*sec)), mk(key("a")), mk(key("b"), prio(3)), mk(prio(3), compressed(), val("z")), mk(key("c"), ttl(5*sec)))
	h.pull(1, 2)
	h.pull(0, 2)
	h.after(10 * sec)
	h.pull(2, 1)
	h.q.Requeue(h.now, &pb.RequeueItem{Id: 2, Delay: durationpb.New(3 * time.Second)})
	h.enq(mk(key("b"), prio(1)), mk(key("a"), prio(2)), mk(prio(0)))

	snap := func(q *Queue) []*raftpb.QueueItem {
		var out []*raftpb.QueueItem
		if err := q.Snapshot(func(r *raftpb.QueueItem) error { out = append(out, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	recs := snap(h.q)
	if w, a := h.q.Counts(); !slices.IsSortedFunc(recs, func(a, b *raftpb.QueueItem) int { return cmpU64(a.Id, b.Id) }) || len(recs) != int(w+a) {
		t.Fatalf("snapshot %v", recs)
	}
	r := New(cfg)
	for _, rec := range recs {
		r.Restore(proto.Clone(rec).(*raftpb.QueueItem))
	}
	checkInvariants(t, r)
	again := snap(r)
	for i := range recs {
		if !proto.Equal(recs[i], again[i]) {
			t.Fatalf("record %d: %v != %v", i, recs[i], again[i])
		}
	}
	if r.NextDeadline() != h.q.NextDeadline() {
		t.Fatal("next deadline differs")
	}
	// The same operations give the same results.
	h2 := &harness{t: t, q: r, ids: &counter{n: h.ids.n}, now: h.now}
	var logs [2][][]uint64
	for i, hh := range []*harness{h, h2} {
		hh.dead = nil
		var log [][]uint64
		log = append(log, hh.pull(0, 3), hh.pull(1, 3), hh.pull(3, 2))
		hh.after(15 * sec)
		log = append(log, recordIDs(hh.dead), hh.pull(2, 10), hh.enq(mk(key("c")), mk(ukey("u"))))
		log = append(log, recordIDs(hh.q.CloseSession(hh.now, 2)), hh.pull(4, 3), hh.pull(1, 10))
		hh.after(60 * sec)
		log = append(log, recordIDs(hh.dead), hh.pull(5, 100))
		logs[i] = log
	}
	t.Logf("%v", logs[0])
	for i := range logs[0] {
		eqIDs(t, fmt.Sprintf("replay step %d", i), logs[1][i], logs[0][i])
	}
	// Snapshot stops at the first emit error.
	n := 0
	stop := errors.New("stop")
	if err := r.Snapshot(func(*raftpb.QueueItem) error { n++; return stop }); err != stop || n != 1 {
		t.Fatal(err, n)
	}
}

func TestValueNotCopied(t *testing.T) {
	h := newHarness(t, nil)
	v := []byte("payload")
	h.enq(mk(func(i *pb.InputItem) { i.Value = v }))
	ds := h.q.Pull(h.now, 1, 1)
	if !bytes.Equal(ds[0].Item.Value, v) {
		t.Fatal("value")
	}
}

func TestManyItemsAndEdges(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 8})
	const n = 3000
	var batch []*pb.InputItem
	for i := 0; i < n; i++ {
		o := []opt{prio(uint32((i * 5) % 8))}
		if i%3 == 0 {
			o = append(o, key(fmt.Sprint("k", i%7)))
		}
		if i%5 == 0 {
			o = append(o, ttl(int64(1+i%11)*sec))
		}
		batch = append(batch, mk(o...))
	}
	h.q.Enqueue(h.now, batch, h.ids)
	checkInvariants(t, h.q)
	total := 0
	for s := uint64(1); ; s++ {
		got := h.q.Pull(h.now, s%4, 0) // max < 1 means 1
		if len(got) == 0 {
			break
		}
		if len(got) != 1 {
			t.Fatalf("max 0 gave %d", len(got))
		}
		total++
		if total%2 == 0 {
			if err := h.q.Commit(h.now, got[0].Item.Id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if total != n {
		t.Fatalf("pulled %d of %d", total, n)
	}
	for s := uint64(0); s < 4; s++ {
		h.q.CloseSession(h.now, s)
	}
	checkInvariants(t, h.q)
	h.after(6 * sec)
	for {
		ds := h.q.Pull(h.now, 9, 100)
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if err := h.q.Commit(h.now, d.Item.Id); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.after(time.Hour.Nanoseconds())
	checkInvariants(t, h.q)
	if w, a := h.q.Counts(); w != 0 || a != 0 || cap(h.q.ready.s) > 64 || h.q.expiry.Len() != 0 || cap(h.q.leases.s) > 64 ||
		len(h.q.groupsByKey) != 0 || len(h.q.uniq) != 0 || len(h.q.sessions) != 0 || h.q.items.Len() != 0 {
		t.Fatalf("not empty or heaps did not shrink: %d %d %d", cap(h.q.ready.s), h.q.expiry.Len(), cap(h.q.leases.s))
	}

	// Huge durations saturate instead of overflowing.
	x := h.enq(mk(ttl(math.MaxInt64), delay(math.MaxInt64)))[0]
	if r := h.q.Get(x); r.ExpiresAt != math.MaxInt64 || r.VisibleAt != math.MaxInt64 {
		t.Fatalf("saturation %v", r)
	}
	_, _, err := h.q.Enqueue(h.now, []*pb.InputItem{{Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}}}, h.ids)
	wantStatus(t, err, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "ttl")
}
