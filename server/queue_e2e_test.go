package server_test

// End-to-end tests of the queue through the Go client against a real single-node server:
// every rule of API.md §3 seen from a client.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// qEnv is a test env for queue tests.
type qEnv struct{ *env }

func qStart(t *testing.T, opts ...servertest.Option) *qEnv {
	t.Helper()
	return &qEnv{startEnv(t, 45*time.Second, opts...)}
}

func (e *qEnv) createQueue(cfg client.QueueConfig) {
	e.t.Helper()
	if err := e.admin.CreateQueue(e.ctx, cfg); err != nil {
		e.t.Fatalf("CreateQueue(%+v): %v", cfg, err)
	}
}

// client opens a queue client closed when the test ends.
func (e *qEnv) client(queue string, opts ...client.Option) *client.QueueClient {
	e.t.Helper()
	q, err := client.NewQueueClient(e.srv.Addr, queue, opts...)
	if err != nil {
		e.t.Fatalf("NewQueueClient(%q): %v", queue, err)
	}
	e.t.Cleanup(func() { q.Close() })
	return q
}

func qMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func qWantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}

// qInfo polls the queue's counters until ok accepts them (the outcome of a ttl or lease,
// which the server applies on its own schedule), failing after 5 s.
func qInfo(t *testing.T, ctx context.Context, q *client.QueueClient, what string, ok func(*client.QueueInfo) bool) *client.QueueInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := q.Info(ctx)
		qMust(t, err)
		if ok(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: queue info stayed %+v", what, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pullIDs pulls until n items came (each pull waits up to the client's pull timeout).
func pullN(t *testing.T, ctx context.Context, q *client.QueueClient, n int) []*client.Item {
	t.Helper()
	var out []*client.Item
	for len(out) < n {
		items, err := q.Pull(ctx, n-len(out))
		qMust(t, err)
		if len(items) == 0 {
			t.Fatalf("pulled %d of %d items, then nothing", len(out), n)
		}
		out = append(out, items...)
	}
	return out
}

func ids(items []*client.Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.Id
	}
	return out
}

// Items come out by priority (higher first) across all 32 levels, FIFO within a level,
// whatever the enqueue order and however the pulls are batched.
func TestQueueE2EPriorityOrder32(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "prio"}) // priorities 0 → 32
	q := e.client("prio", client.WithPullTimeout(200*time.Millisecond))

	prios := make([]uint32, 0, 96)
	for p := uint32(0); p < 32; p++ {
		prios = append(prios, p, p, p)
	}
	rand.New(rand.NewSource(1)).Shuffle(len(prios), func(i, j int) { prios[i], prios[j] = prios[j], prios[i] })
	type sent struct {
		id   uint64
		prio uint32
	}
	var all []sent
	// Half one by one, half in batches, to cover both paths.
	for i := 0; i < 48; i++ {
		id, err := q.Enqueue(e.ctx, &client.InputItem{Priority: prios[i], Value: []byte(fmt.Sprint(i))})
		qMust(t, err)
		all = append(all, sent{id, prios[i]})
	}
	for i := 48; i < 96; i += 12 {
		batch := make([]*client.InputItem, 0, 12)
		for j := i; j < i+12; j++ {
			batch = append(batch, &client.InputItem{Priority: prios[j], Value: []byte(fmt.Sprint(j))})
		}
		got, err := q.BatchEnqueue(e.ctx, batch)
		qMust(t, err)
		for k, id := range got {
			all = append(all, sent{id, prios[i+k]})
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i].id <= all[i-1].id {
			t.Fatalf("ids not increasing in enqueue order: %d after %d", all[i].id, all[i-1].id)
		}
	}
	want := append([]sent(nil), all...)
	sort.SliceStable(want, func(i, j int) bool {
		if want[i].prio != want[j].prio {
			return want[i].prio > want[j].prio
		}
		return want[i].id < want[j].id
	})

	var got []*client.Item
	for _, n := range []int{1, 7, 20, 1, 100} { // batches of varying size
		items, err := q.Pull(e.ctx, n)
		qMust(t, err)
		got = append(got, items...)
	}
	if len(got) != len(want) {
		t.Fatalf("pulled %d items, want %d", len(got), len(want))
	}
	for i, it := range got {
		if it.Id != want[i].id || it.Priority != want[i].prio {
			t.Fatalf("pull #%d = id %d prio %d, want id %d prio %d", i, it.Id, it.Priority, want[i].id, want[i].prio)
		}
	}
	qMust(t, q.Commit(e.ctx, ids(got)))
	_, err := q.Enqueue(e.ctx, &client.InputItem{Priority: 32})
	qWantErr(t, "priority 32 on a 32-level queue", err, client.ErrInvalidArgument)
}

// A waiting item whose ttl passed is never delivered and leaves the queue; an item without
// ttl stays.
func TestQueueE2ETTLExpiry(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "ttl"})
	q := e.client("ttl", client.WithPullTimeout(100*time.Millisecond))

	// The expiring item has the higher priority: were it still there, it would come first.
	_, err := q.Enqueue(e.ctx, &client.InputItem{Priority: 9, Value: []byte("short"), TTL: durationpb.New(200 * time.Millisecond)})
	qMust(t, err)
	keep, err := q.Enqueue(e.ctx, &client.InputItem{Priority: 1, Value: []byte("keep")})
	qMust(t, err)
	long, err := q.Enqueue(e.ctx, &client.InputItem{Priority: 1, Value: []byte("long"), TTL: durationpb.New(time.Hour)})
	qMust(t, err)
	qInfo(t, e.ctx, q, "ttl expiry", func(i *client.QueueInfo) bool { return i.Length == 2 })
	items, err := q.Pull(e.ctx, 10)
	qMust(t, err)
	if got := ids(items); len(got) != 2 || got[0] != keep || got[1] != long {
		t.Fatalf("after the ttl pulled %v, want [%d %d]", got, keep, long)
	}
	// An active item does not expire while leased.
	qMust(t, q.Commit(e.ctx, ids(items)))
}

// A delayed item is invisible until its delay passed, and a waiting pull gets it then.
func TestQueueE2EDelay(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "delay"})
	q := e.client("delay", client.WithPullTimeout(50*time.Millisecond))

	start := time.Now()
	id, err := q.Enqueue(e.ctx, &client.InputItem{Value: []byte("later"), Delay: durationpb.New(300 * time.Millisecond)})
	qMust(t, err)
	now, err := q.Enqueue(e.ctx, &client.InputItem{Value: []byte("now")})
	qMust(t, err)
	items, err := q.Pull(e.ctx, 10)
	qMust(t, err)
	if got := ids(items); len(got) != 1 || got[0] != now {
		t.Fatalf("before the delay pulled %v, want only [%d]", got, now)
	}
	info, err := q.Info(e.ctx)
	qMust(t, err)
	if info.Length != 1 || info.Active != 1 {
		t.Fatalf("a delayed item counts as waiting: info %+v", info)
	}
	// A long poll started now is answered when the delay ends, without another enqueue.
	waiter := e.client("delay", client.WithPullTimeout(10*time.Second))
	it, err := waiter.PullSingle(e.ctx)
	qMust(t, err)
	if it.Id != id || string(it.Value) != "later" {
		t.Fatalf("delayed pull got %+v, want item %d", it, id)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("delayed item delivered %v after enqueue, want ≥ 300ms and soon after", d)
	}
}

// A key group goes to one consumer at a time: while c1 holds an item of group A, c2 gets no
// item of A; c1's pulls get A's items before higher-priority ones (grouping outranks
// priority) and fill the batch with the group first; the binding ends with c1's last
// active item of the group.
func TestQueueE2EGrouping(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "grp", Priorities: 10})
	c1 := e.client("grp", client.WithPullTimeout(100*time.Millisecond))
	c2 := e.client("grp", client.WithPullTimeout(100*time.Millisecond))
	enq := func(prio uint32, key, val string) uint64 {
		t.Helper()
		in := &client.InputItem{Priority: prio, Value: []byte(val)}
		if key != "" {
			in.Key = []byte(key)
		}
		id, err := c1.Enqueue(e.ctx, in)
		qMust(t, err)
		return id
	}
	a1 := enq(9, "A", "a1")
	a2 := enq(0, "A", "a2")
	a3 := enq(0, "A", "a3")
	b1 := enq(5, "", "b1")
	g1 := enq(7, "B", "g1")

	items, err := c1.Pull(e.ctx, 1)
	qMust(t, err)
	if got := ids(items); len(got) != 1 || got[0] != a1 {
		t.Fatalf("c1 first pull %v, want [%d]", got, a1)
	}
	// c2 gets everything visible except group A, which is bound to c1.
	items, err = c2.Pull(e.ctx, 10)
	qMust(t, err)
	if got := ids(items); fmt.Sprint(got) != fmt.Sprint([]uint64{g1, b1}) {
		t.Fatalf("c2 pull %v, want [%d %d] (nothing of group A)", got, g1, b1)
	}
	items, err = c2.Pull(e.ctx, 10)
	qMust(t, err)
	if len(items) != 0 {
		t.Fatalf("c2 got %v while group A is bound to c1", ids(items))
	}
	// Grouping outranks priority: a higher-priority ungrouped item waits behind c1's group.
	h := enq(8, "", "h")
	items, err = c1.Pull(e.ctx, 1)
	qMust(t, err)
	if got := ids(items); len(got) != 1 || got[0] != a2 {
		t.Fatalf("c1 second pull %v, want [%d] (its group before priority 8)", got, a2)
	}
	items, err = c1.Pull(e.ctx, 2)
	qMust(t, err)
	if got := ids(items); fmt.Sprint(got) != fmt.Sprint([]uint64{a3, h}) {
		t.Fatalf("c1 third pull %v, want [%d %d] (group first, then fill)", got, a3, h)
	}
	// While c1 holds a2, the binding lasts: a new A item still goes to c1 only.
	qMust(t, c1.Commit(e.ctx, []uint64{a1, a3, h}))
	a4 := enq(0, "A", "a4")
	items, err = c2.Pull(e.ctx, 10)
	qMust(t, err)
	if len(items) != 0 {
		t.Fatalf("c2 got %v while c1 still holds %d of group A", ids(items), a2)
	}
	// c1's last A item committed (by c2: commits work from any stream) ends the binding.
	qMust(t, c2.CommitSingle(e.ctx, a2))
	items, err = c2.Pull(e.ctx, 10)
	qMust(t, err)
	if got := ids(items); len(got) != 1 || got[0] != a4 {
		t.Fatalf("after the binding ended c2 pulled %v, want [%d]", got, a4)
	}
	qMust(t, c2.Commit(e.ctx, []uint64{g1, b1, a4}))
}

// A duplicate unique key answers the existing id (waiting or active) and adds nothing; once
// the item is gone the key is free again.
func TestQueueE2EUniqueKey(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "uniq"})
	q := e.client("uniq", client.WithPullTimeout(100*time.Millisecond))

	first, err := q.EnqueueWithResult(e.ctx, &client.InputItem{UniqueKey: []byte("order-1"), Value: []byte("v1")})
	qMust(t, err)
	dup, err := q.EnqueueWithResult(e.ctx, &client.InputItem{UniqueKey: []byte("order-1"), Value: []byte("v2")})
	qMust(t, err)
	if first.Duplicate || !dup.Duplicate || dup.Id != first.Id {
		t.Fatalf("waiting duplicate: first %+v, second %+v", first, dup)
	}
	id, err := q.Enqueue(e.ctx, &client.InputItem{UniqueKey: []byte("order-1"), Value: []byte("v3")})
	qMust(t, err)
	if id != first.Id {
		t.Fatalf("Enqueue of a duplicate answered %d, want %d", id, first.Id)
	}
	it, err := q.PullSingle(e.ctx)
	qMust(t, err)
	if it.Id != first.Id || string(it.Value) != "v1" || string(it.UniqueKey) != "order-1" {
		t.Fatalf("pulled %+v, want the first item unchanged", it)
	}
	dup, err = q.EnqueueWithResult(e.ctx, &client.InputItem{UniqueKey: []byte("order-1"), Value: []byte("v4")})
	qMust(t, err)
	if !dup.Duplicate || dup.Id != first.Id {
		t.Fatalf("active duplicate answered %+v", dup)
	}
	info, err := q.Info(e.ctx)
	qMust(t, err)
	if info.Length != 0 || info.Active != 1 {
		t.Fatalf("duplicates were added: %+v", info)
	}
	qMust(t, q.CommitSingle(e.ctx, it.Id))
	again, err := q.EnqueueWithResult(e.ctx, &client.InputItem{UniqueKey: []byte("order-1"), Value: []byte("v5")})
	qMust(t, err)
	if again.Duplicate || again.Id <= first.Id {
		t.Fatalf("after commit the key should be free: %+v", again)
	}
}

// max_size bounds waiting + active items: an enqueue that does not fit waits up to its
// timeout then fails with ErrQueueFull; a waiting enqueue succeeds once a commit frees room;
// a batch is all-or-nothing.
func TestQueueE2EMaxSize(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "small", MaxSize: 2})
	q := e.client("small", client.WithEnqueueTimeout(200*time.Millisecond))

	_, err := q.BatchEnqueue(e.ctx, []*client.InputItem{{Value: []byte("1")}, {Value: []byte("2")}, {Value: []byte("3")}})
	qWantErr(t, "batch of 3 into max_size 2", err, client.ErrQueueFull)
	if info, err := q.Info(e.ctx); err != nil || info.Length != 0 {
		t.Fatalf("a failed batch left items: %+v %v", info, err)
	}
	_, err = q.BatchEnqueue(e.ctx, []*client.InputItem{{Value: []byte("1")}, {Value: []byte("2")}})
	qMust(t, err)
	start := time.Now()
	_, err = q.Enqueue(e.ctx, &client.InputItem{Value: []byte("3")})
	qWantErr(t, "enqueue into a full queue", err, client.ErrQueueFull)
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Fatalf("ErrQueueFull after %v, before the 200ms enqueue timeout", d)
	}
	// Without a timeout: at once.
	nowait := e.client("small")
	start = time.Now()
	_, err = nowait.Enqueue(e.ctx, &client.InputItem{Value: []byte("3")})
	qWantErr(t, "enqueue without timeout into a full queue", err, client.ErrQueueFull)
	if d := time.Since(start); d > time.Second {
		t.Errorf("enqueue with no timeout waited %v", d)
	}

	// Active items count too; a commit frees room for a waiting enqueue.
	it, err := q.PullSingle(e.ctx)
	qMust(t, err)
	patient := e.client("small", client.WithEnqueueTimeout(20*time.Second))
	done := make(chan error, 1)
	var newID uint64
	go func() {
		var err error
		newID, err = patient.Enqueue(e.ctx, &client.InputItem{Value: []byte("3")})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("enqueue into a full queue (one item active) returned %v without waiting", err)
	case <-time.After(150 * time.Millisecond):
	}
	qMust(t, q.CommitSingle(e.ctx, it.Id))
	select {
	case err := <-done:
		qMust(t, err)
		if newID <= it.Id {
			t.Fatalf("new id %d not above %d", newID, it.Id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting enqueue not woken by the commit that freed room")
	}
	info, err := q.Info(e.ctx)
	qMust(t, err)
	if info.Length != 2 || info.Active != 0 || info.MaxSize != 2 {
		t.Fatalf("info %+v", info)
	}
}

// Pause: pulls wait and answer ErrQueuePaused at their timeout, enqueue still works; resume
// wakes a waiting pull.
func TestQueueE2EPauseResume(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "pz"})
	q := e.client("pz", client.WithPullTimeout(200*time.Millisecond))
	qMust(t, e.admin.PauseQueue(e.ctx, "pz"))
	id, err := q.Enqueue(e.ctx, &client.InputItem{Value: []byte("held")})
	qMust(t, err)
	start := time.Now()
	_, err = q.Pull(e.ctx, 1)
	qWantErr(t, "Pull of a paused queue", err, client.ErrQueuePaused)
	if d := time.Since(start); d < 180*time.Millisecond {
		t.Fatalf("paused Pull answered after %v, before its 200ms timeout", d)
	}
	_, err = q.PullSingle(e.ctx)
	qWantErr(t, "PullSingle of a paused queue", err, client.ErrQueuePaused)
	if info, err := q.Info(e.ctx); err != nil || !info.Paused || info.Length != 1 {
		t.Fatalf("paused info %+v %v", info, err)
	}

	waiter := e.client("pz", client.WithPullTimeout(20*time.Second))
	got := make(chan *client.Item, 1)
	go func() {
		it, err := waiter.PullSingle(e.ctx)
		if err != nil {
			t.Error(err)
		}
		got <- it
	}()
	select {
	case it := <-got:
		t.Fatalf("pull on a paused queue returned %+v before resume", it)
	case <-time.After(150 * time.Millisecond):
	}
	qMust(t, e.admin.ResumeQueue(e.ctx, "pz"))
	select {
	case it := <-got:
		if it == nil || it.Id != id {
			t.Fatalf("after resume got %+v, want item %d", it, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("resume did not wake the waiting pull")
	}
}

// An item whose lease runs out returns to waiting with DeliveryCount + 1 and goes to
// another consumer; Extend keeps it leased.
func TestQueueE2ELeaseExpiry(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "lease", Lease: 300 * time.Millisecond})
	c1 := e.client("lease", client.WithPullTimeout(100*time.Millisecond))
	c2 := e.client("lease", client.WithPullTimeout(10*time.Second))
	id, err := c1.Enqueue(e.ctx, &client.InputItem{Value: []byte("job")})
	qMust(t, err)
	it, err := c1.PullSingle(e.ctx)
	qMust(t, err)
	if it.Id != id || it.DeliveryCount != 0 {
		t.Fatalf("first delivery %+v", it)
	}
	pulledAt := time.Now()
	// c1 keeps its stream open but never commits: c2's long poll gets the item back.
	it2, err := c2.PullSingle(e.ctx)
	qMust(t, err)
	if d := time.Since(pulledAt); d < 250*time.Millisecond {
		t.Fatalf("redelivered after %v, before the 300ms lease", d)
	}
	if it2.Id != id || it2.DeliveryCount != 1 || string(it2.Value) != "job" {
		t.Fatalf("redelivery %+v, want item %d with DeliveryCount 1", it2, id)
	}
	// Extend renews the lease well past 300ms: a pull longer than the lease gets nothing.
	n, err := c2.Extend(e.ctx, []uint64{id}, 3*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("Extend = %d, %v", n, err)
	}
	c3 := e.client("lease", client.WithPullTimeout(600*time.Millisecond))
	items, err := c3.Pull(e.ctx, 1)
	qMust(t, err)
	if len(items) != 0 {
		t.Fatalf("extended item redelivered: %+v", items[0])
	}
	qMust(t, c2.CommitSingle(e.ctx, id))
	if info, err := c2.Info(e.ctx); err != nil || info.Length+info.Active != 0 {
		t.Fatalf("info after commit %+v %v", info, err)
	}
}

// Closing a client returns its uncommitted items at once (long before the lease) to another
// client, with DeliveryCount 1.
func TestQueueE2EStreamCloseRedelivery(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "sc"}) // 60 s lease: only the close frees them
	c1, err := client.NewQueueClient(e.srv.Addr, "sc", client.WithPullTimeout(time.Second))
	qMust(t, err)
	want, err := c1.BatchEnqueue(e.ctx, []*client.InputItem{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}})
	qMust(t, err)
	held := pullN(t, e.ctx, c1, 3)
	c2 := e.client("sc", client.WithPullTimeout(10*time.Second))
	short, cancel := context.WithTimeout(e.ctx, 150*time.Millisecond)
	items, err := c2.Pull(short, 3) // the deadline shortens the long poll
	cancel()
	if err != nil || len(items) > 0 {
		t.Fatalf("c2 got %v, %v while c1 holds them", ids(items), err)
	}
	qMust(t, c1.Close())
	got := pullN(t, e.ctx, c2, 3)
	sort.Slice(got, func(i, j int) bool { return got[i].Id < got[j].Id })
	if fmt.Sprint(ids(got)) != fmt.Sprint(want) || fmt.Sprint(ids(held)) != fmt.Sprint(want) {
		t.Fatalf("c1 held %v, c2 got %v, want %v", ids(held), ids(got), want)
	}
	for _, it := range got {
		if it.DeliveryCount != 1 {
			t.Errorf("item %d redelivered with DeliveryCount %d, want 1", it.Id, it.DeliveryCount)
		}
	}
	qMust(t, c2.Commit(e.ctx, want))
}

// An item that reaches max_deliveries moves to the dead-letter queue (keeping id, value,
// key and delivery count); an item whose ttl passes moves there too and is never delivered
// from its own queue.
func TestQueueE2EDeadLetter(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "dlq"})
	e.createQueue(client.QueueConfig{Name: "work", MaxDeliveries: 2, DeadLetterQueue: "dlq", Lease: 300 * time.Millisecond})
	w := e.client("work", client.WithPullTimeout(100*time.Millisecond))
	d := e.client("dlq", client.WithPullTimeout(5*time.Second))

	// Via max_deliveries: a requeue, then a lease expiry.
	id, err := w.Enqueue(e.ctx, &client.InputItem{Value: []byte("poison"), Key: []byte("k")})
	qMust(t, err)
	it, err := w.PullSingle(e.ctx)
	qMust(t, err)
	qMust(t, w.RequeueSingle(e.ctx, it.Id, nil, 0))
	it, err = w.PullSingle(e.ctx)
	qMust(t, err)
	if it.Id != id || it.DeliveryCount != 1 {
		t.Fatalf("second delivery %+v", it)
	}
	// Not committed: the lease ends, the delivery count reaches 2 and it is dead-lettered.
	dead, err := d.PullSingle(e.ctx)
	qMust(t, err)
	if dead.Id != id || string(dead.Value) != "poison" || string(dead.Key) != "k" || dead.DeliveryCount != 2 {
		t.Fatalf("dead-lettered item %+v, want id %d value poison key k DeliveryCount 2", dead, id)
	}
	qMust(t, d.CommitSingle(e.ctx, dead.Id))
	if info, err := w.Info(e.ctx); err != nil || info.Length+info.Active != 0 {
		t.Fatalf("work queue after dead-lettering %+v %v", info, err)
	}

	// Via ttl.
	tid, err := w.Enqueue(e.ctx, &client.InputItem{Value: []byte("stale"), TTL: durationpb.New(200 * time.Millisecond)})
	qMust(t, err)
	dead, err = d.PullSingle(e.ctx)
	qMust(t, err)
	if dead.Id != tid || string(dead.Value) != "stale" {
		t.Fatalf("expired item in the dlq %+v, want %d", dead, tid)
	}
	items, err := w.Pull(e.ctx, 10)
	qMust(t, err)
	if len(items) != 0 {
		t.Fatalf("expired item delivered from its queue: %+v", items)
	}

	// Without a dead-letter queue, an item at max_deliveries is dropped.
	e.createQueue(client.QueueConfig{Name: "drop", MaxDeliveries: 1})
	dq := e.client("drop", client.WithPullTimeout(100*time.Millisecond))
	_, err = dq.Enqueue(e.ctx, &client.InputItem{Value: []byte("x")})
	qMust(t, err)
	it, err = dq.PullSingle(e.ctx)
	qMust(t, err)
	qMust(t, dq.RequeueSingle(e.ctx, it.Id, nil, 0))
	if info, err := dq.Info(e.ctx); err != nil || info.Length+info.Active != 0 {
		t.Fatalf("item at max_deliveries 1 not dropped: %+v %v", info, err)
	}
}

// A restart (with and without a snapshot) keeps waiting items, active items with their
// leases, and the id counter: ids are never reused, even those of deleted items.
func TestQueueE2ERestartKeepsItemsLeasesIDs(t *testing.T) {
	for _, snap := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snap), func(t *testing.T) {
			e := qStart(t)
			e.createQueue(client.QueueConfig{Name: "dur", Priorities: 4})
			q := e.client("dur", client.WithPullTimeout(200*time.Millisecond))
			var waiting []uint64
			for i := 0; i < 3; i++ {
				id, err := q.Enqueue(e.ctx, &client.InputItem{Priority: uint32(2 - i), Value: []byte(fmt.Sprint("w", i)), Key: []byte("g")})
				qMust(t, err)
				waiting = append(waiting, id)
			}
			leased, err := q.Enqueue(e.ctx, &client.InputItem{Priority: 3, Value: []byte("leased")})
			qMust(t, err)
			// Pull over REST: leased to no stream, so only its lease (60 s) can return it.
			var p restPull
			qHTTPOK(t, "POST", e.srv.URL+"/v1/queues/dur/items:pull", `{"batchSize":1}`, &p)
			if len(p.Items) != 1 || p.Items[0].ID != fmt.Sprint(leased) {
				t.Fatalf("REST pull: %+v, want item %d", p, leased)
			}
			last, err := q.Enqueue(e.ctx, &client.InputItem{Value: []byte("deleted")})
			qMust(t, err)
			qMust(t, q.DeleteSingle(e.ctx, last))
			if snap {
				qMust(t, e.srv.Server().Node().Raft().Snapshot().Error())
			}

			e.srv.Restart(t)

			info, err := q.Info(e.ctx) // the client reconnects on its own
			qMust(t, err)
			if info.Length != 3 || info.Active != 1 {
				t.Fatalf("after restart info %+v, want 3 waiting, 1 active", info)
			}
			// The leased item is still active (a waiting one would answer ITEM_NOT_BUSY).
			n, err := q.Extend(e.ctx, []uint64{leased}, time.Minute)
			if err != nil || n != 1 {
				t.Fatalf("Extend of the leased item after restart = %d, %v", n, err)
			}
			qMust(t, q.CommitSingle(e.ctx, leased))
			items, err := q.Pull(e.ctx, 10)
			qMust(t, err)
			if fmt.Sprint(ids(items)) != fmt.Sprint(waiting) {
				t.Fatalf("after restart pulled %v, want %v", ids(items), waiting)
			}
			for i, it := range items {
				if string(it.Value) != fmt.Sprint("w", i) || it.Priority != uint32(2-i) || string(it.Key) != "g" {
					t.Fatalf("item %d after restart %+v", i, it)
				}
			}
			qMust(t, q.Commit(e.ctx, ids(items)))
			next, err := q.Enqueue(e.ctx, &client.InputItem{Value: []byte("new")})
			qMust(t, err)
			if next <= last {
				t.Fatalf("id %d after restart reuses ids: the deleted item had %d", next, last)
			}
		})
	}
}

// 4 producers × 4 consumers over 2000 items: every item is delivered and committed exactly
// once (run with -race).
func TestQueueE2EProducersConsumers(t *testing.T) {
	const producers, consumers, perProducer = 4, 4, 500
	const total = producers * perProducer
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "pc", Priorities: 4})

	var mu sync.Mutex
	enqueued := map[uint64]string{}
	delivered := map[uint64]string{}
	var dups []uint64
	committed := 0
	allDone := make(chan struct{})

	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			q, err := client.NewQueueClient(e.srv.Addr, "pc")
			if err != nil {
				t.Error(err)
				return
			}
			defer q.Close()
			for i := 0; i < perProducer; {
				// Alternate single enqueues and batches of up to 10.
				n := 1
				if i%2 == 1 {
					n = min(10, perProducer-i)
				}
				batch := make([]*client.InputItem, n)
				for k := range batch {
					batch[k] = &client.InputItem{Priority: uint32((i + k) % 4), Value: []byte(fmt.Sprintf("p%d-%d", p, i+k))}
				}
				var got []uint64
				if n == 1 {
					id, err := q.Enqueue(e.ctx, batch[0])
					if err != nil {
						t.Error(err)
						return
					}
					got = []uint64{id}
				} else if got, err = q.BatchEnqueue(e.ctx, batch); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for k, id := range got {
					if _, ok := enqueued[id]; ok {
						t.Errorf("id %d handed out twice", id)
					}
					enqueued[id] = string(batch[k].Value)
				}
				mu.Unlock()
				i += n
			}
		}(p)
	}
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q, err := client.NewQueueClient(e.srv.Addr, "pc", client.WithPullTimeout(200*time.Millisecond))
			if err != nil {
				t.Error(err)
				return
			}
			defer q.Close()
			for {
				select {
				case <-allDone:
					return
				default:
				}
				items, err := q.Pull(e.ctx, 16)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) == 0 {
					continue
				}
				mu.Lock()
				for _, it := range items {
					if _, ok := delivered[it.Id]; ok || it.DeliveryCount != 0 {
						dups = append(dups, it.Id)
					}
					delivered[it.Id] = string(it.Value)
				}
				mu.Unlock()
				if err := q.Commit(e.ctx, ids(items)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed += len(items)
				if committed == total {
					close(allDone)
				}
				mu.Unlock()
			}
		}()
	}
	waitCh := make(chan struct{})
	go func() { wg.Wait(); close(waitCh) }()
	select {
	case <-waitCh:
	case <-time.After(40 * time.Second):
		mu.Lock()
		t.Fatalf("timed out: %d enqueued, %d delivered, %d committed", len(enqueued), len(delivered), committed)
	}
	if t.Failed() {
		return
	}
	if len(dups) > 0 {
		t.Fatalf("items delivered more than once: %v", dups)
	}
	if len(enqueued) != total || len(delivered) != total || committed != total {
		t.Fatalf("enqueued %d, delivered %d, committed %d; want %d each", len(enqueued), len(delivered), committed, total)
	}
	for id, v := range enqueued {
		if delivered[id] != v {
			t.Fatalf("item %d delivered as %q, enqueued as %q", id, delivered[id], v)
		}
	}
	q := e.client("pc")
	if info, err := q.Info(e.ctx); err != nil || info.Length != 0 || info.Active != 0 {
		t.Fatalf("queue not empty at the end: %+v %v", info, err)
	}
}

// Compressed values come back intact through a pull, a requeue and a dead-letter move, and
// over REST.
func TestQueueE2ECompression(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "zdlq"})
	e.createQueue(client.QueueConfig{Name: "z", MaxDeliveries: 2, DeadLetterQueue: "zdlq"})
	q := e.client("z", client.WithPullTimeout(200*time.Millisecond))
	compressible := bytes.Repeat([]byte("octopus "), 8<<10) // 64 KiB
	random := make([]byte, 4096)
	rand.New(rand.NewSource(2)).Read(random)
	vals := [][]byte{compressible, random, {}, []byte("x")}
	var in []*client.InputItem
	for _, v := range vals {
		in = append(in, &client.InputItem{Value: v, Compress: true})
	}
	in = append(in, &client.InputItem{Value: compressible}) // uncompressed alongside
	want := append(vals, compressible)
	got, err := q.BatchEnqueue(e.ctx, in)
	qMust(t, err)
	single, err := q.Enqueue(e.ctx, &client.InputItem{Value: compressible, Compress: true})
	qMust(t, err)
	items := pullN(t, e.ctx, q, len(want)+1)
	for i, it := range items {
		w := compressible
		if i < len(want) {
			w = want[i]
			if it.Id != got[i] {
				t.Fatalf("item %d id %d, want %d", i, it.Id, got[i])
			}
		} else if it.Id != single {
			t.Fatalf("last item id %d, want %d", it.Id, single)
		}
		if !bytes.Equal(it.Value, w) {
			t.Fatalf("item %d value differs (%d bytes, want %d)", it.Id, len(it.Value), len(w))
		}
	}
	// Requeue twice: the second end of delivery dead-letters it, still intact.
	qMust(t, q.RequeueSingle(e.ctx, got[0], nil, 0))
	it, err := q.PullSingle(e.ctx)
	qMust(t, err)
	if it.Id != got[0] || !bytes.Equal(it.Value, compressible) {
		t.Fatalf("requeued compressed item came back as %d (%d bytes)", it.Id, len(it.Value))
	}
	qMust(t, q.RequeueSingle(e.ctx, got[0], nil, 0))
	d := e.client("zdlq", client.WithPullTimeout(5*time.Second))
	dead, err := d.PullSingle(e.ctx)
	qMust(t, err)
	if dead.Id != got[0] || !bytes.Equal(dead.Value, compressible) {
		t.Fatalf("dead-lettered compressed item came back as %d (%d bytes)", dead.Id, len(dead.Value))
	}
	// Over REST too.
	q2 := e.client("zdlq")
	_, err = q2.Enqueue(e.ctx, &client.InputItem{Value: []byte("hello hello hello"), Compress: true})
	qMust(t, err)
	var p restPull
	qHTTPOK(t, "POST", e.srv.URL+"/v1/queues/zdlq/items:pull", `{"batchSize":1}`, &p)
	if len(p.Items) != 1 || string(p.Items[0].Value) != "hello hello hello" {
		t.Fatalf("REST pull of a compressed item: %+v", p)
	}
}

// The client reports setup failures with the matching sentinel errors, at once.
func TestQueueE2ESetupErrors(t *testing.T) {
	e := qStart(t)
	start := time.Now()
	_, err := client.NewQueueClient(e.srv.Addr, "missing")
	qWantErr(t, "NewQueueClient of a missing queue", err, client.ErrQueueNotFound)
	_, err = client.NewQueueClient(e.srv.Addr, "bad name")
	qWantErr(t, "NewQueueClient with a bad queue name", err, client.ErrInvalidArgument)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("setup failures took %v: they should not be retried", d)
	}
}
