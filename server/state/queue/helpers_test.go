package queue

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// counter is a test IDs source.
type counter struct{ n uint64 }

func (c *counter) NextID() uint64 { c.n++; return c.n }

const sec = int64(time.Second)

// t0 is an arbitrary start time.
const t0 = int64(1_700_000_000) * sec

type opt func(*pb.InputItem)

func prio(p uint32) opt { return func(i *pb.InputItem) { i.Priority = p } }
func key(k string) opt  { return func(i *pb.InputItem) { i.Key = []byte(k) } }
func ukey(k string) opt { return func(i *pb.InputItem) { i.UniqueKey = []byte(k) } }
func val(v string) opt  { return func(i *pb.InputItem) { i.Value = []byte(v) } }
func ttl(d int64) opt   { return func(i *pb.InputItem) { i.Ttl = durationpb.New(time.Duration(d)) } }
func delay(d int64) opt { return func(i *pb.InputItem) { i.Delay = durationpb.New(time.Duration(d)) } }
func compressed() opt   { return func(i *pb.InputItem) { i.Compress = true } }
func mk(opts ...opt) *pb.InputItem {
	in := &pb.InputItem{}
	for _, o := range opts {
		o(in)
	}
	return in
}

// harness wraps a queue with a clock and an id source; every call advances first, like
// the state package does.
type harness struct {
	t    *testing.T
	q    *Queue
	ids  *counter
	now  int64
	dead []*raftpb.QueueItem
}

func newHarness(t *testing.T, cfg *pb.CreateQueueRequest) *harness {
	t.Helper()
	if cfg == nil {
		cfg = &pb.CreateQueueRequest{}
	}
	if cfg.QueueName == "" {
		cfg.QueueName = "q"
	}
	return &harness{t: t, q: New(cfg), ids: &counter{}, now: t0}
}

// at moves the clock to now (absolute) and advances the queue.
func (h *harness) at(now int64) []*raftpb.QueueItem {
	h.t.Helper()
	h.now = now
	d := h.q.Advance(now)
	h.dead = append(h.dead, d...)
	checkInvariants(h.t, h.q)
	return d
}

// after moves the clock forward by d.
func (h *harness) after(d int64) []*raftpb.QueueItem { return h.at(h.now + d) }

func (h *harness) enq(items ...*pb.InputItem) []uint64 {
	h.t.Helper()
	ids, _, err := h.q.Enqueue(h.now, items, h.ids)
	if err != nil {
		h.t.Fatalf("enqueue: %v", err)
	}
	checkInvariants(h.t, h.q)
	return ids
}

func (h *harness) pull(session uint64, max int) []uint64 {
	h.t.Helper()
	ds := h.q.Pull(h.now, session, max)
	checkInvariants(h.t, h.q)
	return deliveryIDs(ds)
}

func (h *harness) commit(id uint64) {
	h.t.Helper()
	if err := h.q.Commit(h.now, id); err != nil {
		h.t.Fatalf("commit %d: %v", id, err)
	}
	checkInvariants(h.t, h.q)
}

func (h *harness) counts() [2]uint32 {
	w, a := h.q.Counts()
	return [2]uint32{w, a}
}

func deliveryIDs(ds []Delivery) []uint64 {
	var ids []uint64
	for _, d := range ds {
		ids = append(ids, d.Item.Id)
	}
	return ids
}

func recordIDs(rs []*raftpb.QueueItem) []uint64 {
	var ids []uint64
	for _, r := range rs {
		ids = append(ids, r.Id)
	}
	return ids
}

func ids(v ...uint64) []uint64 { return v }

func eqIDs(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func wantStatus(t *testing.T, err *apierr.Error, st pb.StatusCode, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v, got nil", st)
	}
	if err.Status != st {
		t.Fatalf("want %v, got %v (%s)", st, err.Status, err.Msg)
	}
	for _, c := range contains {
		if !strings.Contains(err.Msg, c) {
			t.Fatalf("message %q does not contain %q", err.Msg, c)
		}
	}
}

// checkInvariants verifies every index against the items (white box).
func checkInvariants(t testing.TB, q *Queue) {
	t.Helper()
	if err := invariants(q); err != nil {
		t.Fatal(err)
	}
}

func invariants(q *Queue) error {
	checkHeap := func(name string, h *itemHeap) error {
		for i, it := range h.s {
			if h.posOf(it) != i {
				return fmt.Errorf("%s: item %d at %d has position %d", name, it.id, i, h.posOf(it))
			}
			if i > 0 && h.Less(i, (i-1)/2) {
				return fmt.Errorf("%s: heap order broken at %d", name, i)
			}
			if q.lookup(it.id) != it {
				return fmt.Errorf("%s: item %d not in items", name, it.id)
			}
		}
		return nil
	}
	checkGroups := func(name string, h *groupHeap) error {
		for i, g := range h.s {
			if int(g.pos) != i || g.in != h {
				return fmt.Errorf("%s: group %q at %d has pos %d", name, g.key, i, g.pos)
			}
			if g.ready.len() == 0 {
				return fmt.Errorf("%s: group %q without ready items", name, g.key)
			}
			if i > 0 && h.Less(i, (i-1)/2) {
				return fmt.Errorf("%s: heap order broken at %d", name, i)
			}
		}
		return nil
	}
	for _, c := range []struct {
		n string
		h *itemHeap
	}{{"ready", &q.ready}, {"delayed", &q.delayed}, {"leases", &q.leases}} {
		if err := checkHeap(c.n, c.h); err != nil {
			return err
		}
	}
	if err := checkGroups("groups", &q.groups); err != nil {
		return err
	}
	type gcount struct{ n, active, ready int }
	gc := map[*group]*gcount{}
	nready, ndelayed, nactive, nexp := 0, 0, 0, 0
	sessActive := map[uint64]int{}
	var all []*item
	var last uint64
	q.items.Ascend(func(it *item) bool {
		all = append(all, it)
		return true
	})
	if err := checkOldestIndex(q, all); err != nil {
		return err
	}
	for _, it := range all {
		id := it.id
		if id <= last {
			return fmt.Errorf("item %d after item %d", id, last)
		}
		last = id
		if it.gen > q.gen {
			return fmt.Errorf("item %d: gen %d after the queue's %d", id, it.gen, q.gen)
		}
		if x := it.x; x != nil {
			if x.gen > it.gen {
				return fmt.Errorf("item %d: x of gen %d, item of gen %d", id, x.gen, it.gen)
			}
			if *x == (itemExt{gen: x.gen}) {
				return fmt.Errorf("item %d: x all zero, not dropped", id)
			}
		}
		if (it.due() != 0) != (it.state == stDelayed || it.state == stActive) || (it.holder() != 0 && it.state != stActive) {
			return fmt.Errorf("item %d: state %d, due %d, holder %d", id, it.state, it.due(), it.holder())
		}
		if uk := it.ukey(); uk != "" && q.uniq[uk] != it {
			return fmt.Errorf("item %d: unique key %q not indexed", id, uk)
		}
		if g := it.grp; g != nil {
			if q.groupsByKey[g.key] != g {
				return fmt.Errorf("item %d: group %q not indexed", id, g.key)
			}
			if gc[g] == nil {
				gc[g] = &gcount{}
			}
			gc[g].n++
		}
		waiting := it.state == stReady || it.state == stDelayed
		if _, in := q.expiry.Get(dueKey{it.expiresAt(), id}); in != (waiting && it.expiresAt() != 0) {
			return fmt.Errorf("item %d: in expiry %v, state %d, expires %d", id, in, it.state, it.expiresAt())
		}
		if waiting && it.expiresAt() != 0 {
			nexp++
		}
		switch it.state {
		case stReady:
			nready++
			h := &q.ready
			if it.grp != nil {
				h = &it.grp.ready
				gc[it.grp].ready++
			}
			if it.pos < 0 || int(it.pos) >= h.len() || h.s[it.pos] != it {
				return fmt.Errorf("item %d: not in its ready heap", id)
			}
		case stDelayed:
			ndelayed++
			if q.delayed.s[it.pos] != it {
				return fmt.Errorf("item %d: not in delayed", id)
			}
		case stActive:
			nactive++
			if q.leases.s[it.pos] != it {
				return fmt.Errorf("item %d: not in leases", id)
			}
			s := q.sessions[it.holder()]
			if s == nil || s.active[id] != it {
				return fmt.Errorf("item %d: not in session %d", id, it.holder())
			}
			sessActive[it.holder()]++
			if g := it.grp; g != nil {
				gc[g].active++
				if g.holder != it.holder() {
					return fmt.Errorf("item %d: held by %d, group %q bound to %d", id, it.holder(), g.key, g.holder)
				}
			}
		default:
			return fmt.Errorf("item %d: state %d", id, it.state)
		}
	}
	if q.expiry.Len() != nexp || q.leases.len() != nactive || q.delayed.len() != ndelayed {
		return fmt.Errorf("heap sizes: expiry %d/%d leases %d/%d delayed %d/%d", q.expiry.Len(), nexp, q.leases.len(), nactive, q.delayed.len(), ndelayed)
	}
	nr := q.ready.len()
	for k, g := range q.groupsByKey {
		c := gc[g]
		if c == nil || g.key != k {
			return fmt.Errorf("group %q: no items", k)
		}
		if int(g.n) != c.n || int(g.active) != c.active || g.ready.len() != c.ready {
			return fmt.Errorf("group %q: n %d/%d active %d/%d ready %d/%d", k, g.n, c.n, g.active, c.active, g.ready.len(), c.ready)
		}
		if err := checkHeap("group "+k, &g.ready); err != nil {
			return err
		}
		nr += g.ready.len()
		var want *groupHeap
		if g.ready.len() > 0 {
			want = &q.groups
			if g.active > 0 {
				want = &q.sessions[g.holder].bound
			}
		}
		if g.in != want {
			return fmt.Errorf("group %q in the wrong heap", k)
		}
		if g.active == 0 && g.holder != 0 {
			return fmt.Errorf("group %q: unbound with holder %d", k, g.holder)
		}
	}
	for k, it := range q.uniq {
		if q.lookup(it.id) != it || it.ukey() != k {
			return fmt.Errorf("unique key %q: stale entry for item %d", k, it.id)
		}
	}
	if nr != nready {
		return fmt.Errorf("ready: %d in heaps, %d items", nr, nready)
	}
	for id, s := range q.sessions {
		if len(s.active) == 0 || len(s.active) != sessActive[id] {
			return fmt.Errorf("session %d: %d active, %d items", id, len(s.active), sessActive[id])
		}
		if err := checkGroups(fmt.Sprintf("session %d", id), &s.bound); err != nil {
			return err
		}
	}
	return nil
}

func durationpbSeconds(s int64) *durationpb.Duration { return &durationpb.Duration{Seconds: s} }

// checkOldestIndex checks the waiting items counted per id block against the items (all,
// by id), and the blocks' order, and the hints against the blocks.
func checkOldestIndex(q *Queue, all []*item) error {
	want := map[uint64]uint32{}
	for _, it := range all {
		if it.state == stReady || it.state == stDelayed {
			want[it.id>>waitBlockShift]++
		}
	}
	o := &q.oldest
	if len(o.blocks) != len(want) || o.order.Len() != len(want) {
		return fmt.Errorf("oldest index: %d blocks, %d in order, items wait in %d", len(o.blocks), o.order.Len(), len(want))
	}
	for k, n := range want {
		if w := o.blocks[k]; w == nil || w.key != k || w.n != n {
			return fmt.Errorf("oldest index: block %d counts %+v, %d items wait in it", k, w, n)
		}
		if !o.order.Has(k) {
			return fmt.Errorf("oldest index: block %d not in order", k)
		}
	}
	for _, h := range []*waitBlock{o.addHint, o.leaveHint} {
		if h != nil && o.blocks[h.key] != h {
			return fmt.Errorf("oldest index: hint for block %d not its block", h.key)
		}
	}
	return nil
}
