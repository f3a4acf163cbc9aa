package queue

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// model is a slow, obviously-correct reference of the queue semantics: every operation
// scans all items.
type model struct {
	priorities, maxSize, maxDel uint32
	lease                       int64
	paused                      bool
	nextID                      uint64
	items                       map[uint64]*mItem
}

type mItem struct {
	id                   uint64
	prio                 uint32
	key, ukey            string
	active               bool
	visibleAt, expiresAt int64 // visibleAt: waiting only
	leaseUntil           int64
	holder               uint64
	deliveries           uint32
	enqueuedAt           int64
}

func (m *model) sorted() []*mItem {
	out := make([]*mItem, 0, len(m.items))
	for _, it := range m.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *mItem) int { return cmpU64(a.id, b.id) })
	return out
}

func (m *model) advance(now int64) []uint64 {
	var dead []uint64
	for _, it := range m.sorted() {
		if it.active && it.leaseUntil <= now {
			it.active, it.holder = false, 0
			it.deliveries++
			it.visibleAt = 0
			if m.maxDel > 0 && it.deliveries >= m.maxDel {
				delete(m.items, it.id)
				dead = append(dead, it.id)
				continue
			}
		}
		if !it.active && it.expiresAt != 0 && it.expiresAt <= now {
			delete(m.items, it.id)
			dead = append(dead, it.id)
			continue
		}
		if !it.active && it.visibleAt <= now {
			it.visibleAt = 0
		}
	}
	slices.Sort(dead)
	return dead
}

// boundTo is the session holding an active item of key, if any.
func (m *model) boundTo(key string) (uint64, bool) {
	if key == "" {
		return 0, false
	}
	for _, it := range m.items {
		if it.active && it.key == key {
			return it.holder, true
		}
	}
	return 0, false
}

func better(a, b *mItem) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.id < b.id
}

func (m *model) pull(now int64, session uint64, max int) []uint64 {
	if m.paused {
		return nil
	}
	var out []uint64
	for len(out) < max {
		var bound, free *mItem
		for _, it := range m.items {
			if it.active || it.visibleAt > now {
				continue
			}
			h, ok := m.boundTo(it.key)
			switch {
			case ok && h == session:
				if bound == nil || better(it, bound) {
					bound = it
				}
			case !ok:
				if free == nil || better(it, free) {
					free = it
				}
			}
		}
		it := bound
		if it == nil {
			it = free
		}
		if it == nil {
			break
		}
		it.active, it.holder, it.leaseUntil = true, session, now+m.lease
		out = append(out, it.id)
	}
	return out
}

func (m *model) enqueue(now int64, in []*pb.InputItem) ([]uint64, pb.StatusCode) {
	fresh := 0
	seen := map[string]bool{}
	for _, x := range in {
		if x.Priority >= m.priorities {
			return nil, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT
		}
		if uk := string(x.UniqueKey); uk != "" {
			if m.byUkey(uk) != nil || seen[uk] {
				continue
			}
			seen[uk] = true
		}
		fresh++
	}
	if m.maxSize > 0 && fresh > 0 && len(m.items)+fresh > int(m.maxSize) {
		return nil, pb.StatusCode_STATUS_CODE_QUEUE_FULL
	}
	var out []uint64
	for _, x := range in {
		if uk := string(x.UniqueKey); uk != "" {
			if old := m.byUkey(uk); old != nil {
				out = append(out, old.id)
				continue
			}
		}
		m.nextID++
		it := &mItem{id: m.nextID, prio: x.Priority, key: string(x.Key), ukey: string(x.UniqueKey), enqueuedAt: now}
		if d := x.GetTtl().AsDuration(); d > 0 {
			it.expiresAt = now + int64(d)
		}
		if d := x.GetDelay().AsDuration(); d > 0 {
			it.visibleAt = now + int64(d)
		}
		m.items[it.id] = it
		out = append(out, it.id)
	}
	return out, pb.StatusCode_STATUS_CODE_OK
}

// addDead is Queue.AddDead: the item waits, visible, without a ttl; its priority is
// lowered into range, its unique key kept only when free.
func (m *model) addDead(r *raftpb.QueueItem) {
	if m.items[r.Id] != nil {
		return
	}
	it := &mItem{id: r.Id, prio: min(r.Priority, m.priorities-1), key: string(r.Key), deliveries: r.DeliveryCount, enqueuedAt: r.EnqueuedAt}
	if uk := string(r.UniqueKey); uk != "" && m.byUkey(uk) == nil {
		it.ukey = uk
	}
	m.items[it.id] = it
}

// oldestWaiting is the enqueue time of the oldest waiting item, 0 when none waits.
func (m *model) oldestWaiting() int64 {
	var at int64
	for _, it := range m.items {
		if !it.active && (at == 0 || it.enqueuedAt < at) {
			at = it.enqueuedAt
		}
	}
	return at
}

func (m *model) byUkey(uk string) *mItem {
	for _, it := range m.items {
		if it.ukey == uk {
			return it
		}
	}
	return nil
}

func (m *model) active(id uint64) (*mItem, pb.StatusCode) {
	it := m.items[id]
	if it == nil {
		return nil, pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND
	}
	if !it.active {
		return nil, pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY
	}
	return it, pb.StatusCode_STATUS_CODE_OK
}

// endDelivery returns it to waiting (or kills it), reporting whether it died.
func (m *model) endDelivery(now int64, it *mItem) bool {
	it.active, it.holder = false, 0
	it.deliveries++
	it.visibleAt = 0
	if (m.maxDel > 0 && it.deliveries >= m.maxDel) || (it.expiresAt != 0 && it.expiresAt <= now) {
		delete(m.items, it.id)
		return true
	}
	return false
}

func (m *model) nextDeadline() int64 {
	var next int64
	f := func(d int64) {
		if d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, it := range m.items {
		if it.active {
			f(it.leaseUntil)
		} else {
			f(it.expiresAt)
			f(it.visibleAt)
		}
	}
	return next
}

func (m *model) counts() (w, a uint32) {
	for _, it := range m.items {
		if it.active {
			a++
		} else {
			w++
		}
	}
	return
}

func status(e *apierr.Error) pb.StatusCode {
	if e == nil {
		return pb.StatusCode_STATUS_CODE_OK
	}
	return e.Status
}

func TestModelRandomized(t *testing.T) {
	seeds := 40
	steps := 1500
	if testing.Short() {
		seeds, steps = 10, 800
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, steps) })
	}
}

func runModel(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	// Even seeds dead-letter items in only as the state does (ids and enqueue times taken
	// together, earlier); odd seeds also add items whose enqueue time is out of id order,
	// which only a snapshot not written by a server could hold.
	disorder := seed%2 == 1
	type reservedID struct {
		id uint64
		at int64
	}
	var reserved []reservedID
	fastOldest, scanOldest := 0, 0 // steps with an item waiting: oldest found by id, by a pass
	cfg := &pb.CreateQueueRequest{
		QueueName:     "m",
		Priorities:    uint32(1 + rng.Intn(5)),
		MaxSize:       uint32([]int{0, 8, 25, 60}[rng.Intn(4)]),
		MaxDeliveries: uint32(rng.Intn(4)),
		Lease:         durationpb.New(time.Duration(5+rng.Intn(20)) * time.Second),
	}
	q := New(cfg)
	m := &model{priorities: cfg.Priorities, maxSize: cfg.MaxSize, maxDel: cfg.MaxDeliveries, lease: int64(cfg.Lease.AsDuration()), items: map[uint64]*mItem{}}
	ids := &counter{}
	now := t0
	keys := []string{"", "", "", "a", "b", "c", "d"}
	ukeys := []string{"", "", "", "", "u1", "u2", "u3", "u4", "u5"}
	// pick an id that is mostly known.
	pickID := func() uint64 {
		if len(m.items) == 0 || rng.Intn(10) == 0 {
			return uint64(rng.Intn(int(m.nextID) + 3))
		}
		s := m.sorted()
		return s[rng.Intn(len(s))].id
	}
	fail := func(step int, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(format, args...))
	}
	type frozenAt struct {
		step int
		f    *Frozen
		want []*raftpb.QueueItem
	}
	var frozen []frozenAt
	for step := 0; step < steps; step++ {
		// Time moves on; every step advances first, like the state package.
		if rng.Intn(3) == 0 {
			if next := q.NextDeadline(); next != 0 && rng.Intn(3) == 0 {
				now = max(now, next)
			} else {
				now += int64(rng.Intn(4000)) * int64(time.Millisecond)
			}
		}
		if g, w := q.NextDeadline(), m.nextDeadline(); g != w {
			// The engine moves delayed items only in Advance, so before advancing both
			// agree; compare.
			fail(step, "next deadline %d, model %d", g, w)
		}
		gotDead := recordIDs(q.Advance(now))
		slices.Sort(gotDead)
		wantDead := m.advance(now)
		if !slices.Equal(gotDead, wantDead) {
			fail(step, "advance dead %v, model %v", gotDead, wantDead)
		}
		sess := uint64(rng.Intn(4))
		switch op := rng.Intn(100); {
		case op < 30:
			n := 1 + rng.Intn(4)
			var batch []*pb.InputItem
			for i := 0; i < n; i++ {
				in := &pb.InputItem{Priority: uint32(rng.Intn(int(cfg.Priorities) + 1)), Key: []byte(keys[rng.Intn(len(keys))]), UniqueKey: []byte(ukeys[rng.Intn(len(ukeys))])}
				if in.Priority == cfg.Priorities && rng.Intn(4) != 0 {
					in.Priority = 0 // make invalid batches rarer
				}
				if rng.Intn(3) == 0 {
					in.Ttl = durationpb.New(time.Duration(rng.Intn(60)) * time.Second)
				}
				if rng.Intn(4) == 0 {
					in.Delay = durationpb.New(time.Duration(rng.Intn(30)) * time.Second)
				}
				batch = append(batch, in)
			}
			got, _, err := q.Enqueue(now, batch, ids)
			want, st := m.enqueue(now, batch)
			if status(err) != st || !slices.Equal(got, want) {
				fail(step, "enqueue %v %v, model %v %v", got, err, want, st)
			}
		case op < 55:
			n := 1 + rng.Intn(4)
			got := deliveryIDs(q.Pull(now, sess, n))
			want := m.pull(now, sess, n)
			if !slices.Equal(got, want) {
				fail(step, "pull(%d, %d) %v, model %v", sess, n, got, want)
			}
		case op < 70:
			id := pickID()
			err := q.Commit(now, id)
			_, st := m.active(id)
			if st == pb.StatusCode_STATUS_CODE_OK {
				delete(m.items, id)
			}
			if status(err) != st {
				fail(step, "commit %d: %v, model %v", id, err, st)
			}
		case op < 80:
			id := pickID()
			r := &pb.RequeueItem{Id: id}
			if rng.Intn(2) == 0 {
				p := uint32(rng.Intn(int(cfg.Priorities)))
				r.Priority = &p
			}
			if rng.Intn(3) == 0 {
				r.Ttl = durationpb.New(time.Duration(rng.Intn(40)) * time.Second)
			}
			if rng.Intn(3) == 0 {
				r.Delay = durationpb.New(time.Duration(rng.Intn(20)) * time.Second)
			}
			dead, err := q.Requeue(now, r)
			it, st := m.active(id)
			wantDead := false
			if it != nil {
				if r.Priority != nil {
					it.prio = *r.Priority
				}
				it.active, it.holder = false, 0
				it.deliveries++
				if m.maxDel > 0 && it.deliveries >= m.maxDel {
					delete(m.items, id)
					wantDead = true
				} else {
					it.expiresAt, it.visibleAt = 0, 0
					if d := r.GetTtl().AsDuration(); d > 0 {
						it.expiresAt = now + int64(d)
					}
					if d := r.GetDelay().AsDuration(); d > 0 {
						it.visibleAt = now + int64(d)
					}
				}
			}
			if status(err) != st || (dead != nil) != wantDead {
				fail(step, "requeue %d: %v %v, model %v %v", id, dead, err, st, wantDead)
			}
		case op < 85:
			id := pickID()
			err := q.Delete(now, id)
			st := pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND
			if m.items[id] != nil {
				st = pb.StatusCode_STATUS_CODE_OK
				delete(m.items, id)
			}
			if status(err) != st {
				fail(step, "delete %d: %v, model %v", id, err, st)
			}
		case op < 92:
			id := pickID()
			d := time.Duration(rng.Intn(3)) * 10 * time.Second
			err := q.Extend(now, id, d)
			it, st := m.active(id)
			if it != nil {
				if d <= 0 {
					d = time.Duration(m.lease)
				}
				it.leaseUntil = now + int64(d)
			}
			if status(err) != st {
				fail(step, "extend %d: %v, model %v", id, err, st)
			}
		case op < 95:
			got := recordIDs(q.CloseSession(now, sess))
			var want []uint64
			for _, it := range m.sorted() {
				if it.active && it.holder == sess && m.endDelivery(now, it) {
					want = append(want, it.id)
				}
			}
			if !slices.Equal(got, want) {
				fail(step, "close %d: dead %v, model %v", sess, got, want)
			}
		case op < 97:
			p := rng.Intn(2) == 0
			q.SetPaused(p)
			m.paused = p
		case op < 98:
			size := uint32(rng.Intn(50))
			err := q.Resize(size)
			if n := len(m.items); size == 0 || n <= int(size) {
				m.maxSize = size
				if err != nil {
					fail(step, "resize %d: %v", size, err)
				}
			} else if err == nil {
				fail(step, "resize %d below %d succeeded", size, n)
			}
		default:
			// Snapshot and continue on the restored copy.
			r := New(q.Config())
			r.SetPaused(q.Paused())
			if err := q.Snapshot(func(rec *raftpb.QueueItem) error {
				r.Restore(proto.Clone(rec).(*raftpb.QueueItem))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			q = r
		}
		// Items dead-lettered in from another queue: ids (and enqueue times) taken earlier
		// from the same counter, or, with disorder, a fresh id with an earlier time.
		if rng.Intn(30) == 0 {
			reserved = append(reserved, reservedID{ids.NextID(), now})
			m.nextID++
		}
		if rng.Intn(10) == 0 { // ids taken by other queues: items spread over id blocks
			skip := uint64(rng.Intn(3 << waitBlockShift >> 2))
			ids.n += skip
			m.nextID += skip
		}
		if inOrder, outOfOrder := len(reserved) > 0 && rng.Intn(30) == 0, disorder && rng.Intn(100) == 0; inOrder || outOfOrder {
			rec := &raftpb.QueueItem{Queue: "other", Priority: uint32(rng.Intn(int(cfg.Priorities) + 2)), Key: []byte(keys[rng.Intn(len(keys))]),
				UniqueKey: []byte(ukeys[rng.Intn(len(ukeys))]), DeliveryCount: uint32(rng.Intn(3)), Value: []byte("dead")}
			if inOrder {
				i := rng.Intn(len(reserved))
				rec.Id, rec.EnqueuedAt = reserved[i].id, reserved[i].at
				reserved = slices.Delete(reserved, i, i+1)
			} else {
				rec.Id, rec.EnqueuedAt = ids.NextID(), now-int64(rng.Intn(100))*int64(time.Second)
				m.nextID++
			}
			q.AddDead(now, rec)
			m.addDead(rec)
		}
		// The oldest waiting item: the model's, a pass over the items (Stats), Gauges.
		want := m.oldestWaiting()
		if st := q.Stats(); st.OldestEnqueuedAt != want {
			fail(step, "stats: oldest waiting %d, model %d", st.OldestEnqueuedAt, want)
		}
		if g := q.Gauges(); !g.OldestKnown || g.OldestWaiting != want {
			fail(step, "gauges: oldest waiting %d (known %v), model %d", g.OldestWaiting, g.OldestKnown, want)
		}
		if q.order.broken {
			scanOldest++
			if !disorder {
				fail(step, "enqueue times out of id order without an item added out of order: %v", checkEnqueueOrder(q))
			}
		} else {
			if err := checkEnqueueOrder(q); err != nil {
				fail(step, "the queue takes its enqueue times for ordered by id: %v", err)
			}
			if want != 0 {
				fastOldest++
			}
		}
		if err := invariants(q); err != nil {
			fail(step, "%v", err)
		}
		// Frozen views keep what the queue held when frozen, whatever happened since.
		if step%29 == 0 {
			frozen = append(frozen, frozenAt{step, q.Freeze(), snapshotRecords(t, q)})
		}
		if step%29 == 28 || step == steps-1 {
			for _, f := range frozen {
				if got := frozenRecords(t, f.f); !recordsEqual(got, f.want) {
					fail(step, "the view frozen at step %d changed: %d records, %d when frozen", f.step, len(got), len(f.want))
				}
			}
			frozen = frozen[:0]
		}
		gw, ga := q.Counts()
		mw, ma := m.counts()
		if gw != mw || ga != ma {
			fail(step, "counts %d/%d, model %d/%d", gw, ga, mw, ma)
		}
	}
	if !disorder && fastOldest < steps/4 || disorder && scanOldest == 0 {
		t.Fatalf("seed %d: Gauges found the oldest waiting item by id in %d of %d steps, by a pass in %d", seed, fastOldest, steps, scanOldest)
	}
}

// checkEnqueueOrder checks that enqueue times do not decrease with ids.
func checkEnqueueOrder(q *Queue) error {
	var err error
	var prev *item
	q.items.Ascend(func(it *item) bool {
		if prev != nil && it.enqueuedAt < prev.enqueuedAt {
			err = fmt.Errorf("item %d enqueued at %d, before item %d (%d)", it.id, it.enqueuedAt, prev.id, prev.enqueuedAt)
		}
		prev = it
		return err == nil
	})
	return err
}

// snapshotRecords is q's snapshot, each record a deep copy.
func snapshotRecords(t testing.TB, q *Queue) []*raftpb.QueueItem {
	t.Helper()
	var out []*raftpb.QueueItem
	if err := q.Snapshot(func(r *raftpb.QueueItem) error {
		out = append(out, proto.Clone(r).(*raftpb.QueueItem))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func frozenRecords(t testing.TB, f *Frozen) []*raftpb.QueueItem {
	t.Helper()
	var out []*raftpb.QueueItem
	if err := f.Snapshot(func(r *raftpb.QueueItem) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func recordsEqual(a, b []*raftpb.QueueItem) bool {
	return slices.EqualFunc(a, b, func(x, y *raftpb.QueueItem) bool { return proto.Equal(x, y) })
}
