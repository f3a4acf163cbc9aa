package client_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// startServer starts a real single-node server (skipping while servertest is a stub).
func startServer(t *testing.T) (srv *servertest.Server) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if r == "TODO" {
				t.Skip("servertest is not implemented yet")
			}
			panic(r)
		}
	}()
	return servertest.Start(t)
}

func newAdmin(t *testing.T, addr string) *client.AdminClient {
	t.Helper()
	a, err := client.NewAdminClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func e2eCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("%s: got %v, want %v", what, err, target)
		}
	}
}

func TestE2EAdmin(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)

	must(t, a.CreateQueue(ctx, client.QueueConfig{Name: "dlq"}))
	must(t, a.CreateQueue(ctx, client.QueueConfig{Name: "jobs", Priorities: 4, MaxSize: 10,
		Lease: 30 * time.Second, MaxDeliveries: 3, DeadLetterQueue: "dlq"}))
	wantErr(t, "CreateQueue of an existing name", a.CreateQueue(ctx, client.QueueConfig{Name: "jobs"}),
		client.ErrQueueAlreadyExists, client.ErrAlreadyExists)
	must(t, a.EnsureQueue(ctx, client.QueueConfig{Name: "jobs"}))
	must(t, a.EnsureQueue(ctx, client.QueueConfig{Name: "other"}))
	wantErr(t, "CreateQueue with a bad name", a.CreateQueue(ctx, client.QueueConfig{Name: "bad name!"}),
		client.ErrInvalidArgument)
	wantErr(t, "DeleteQueue of a missing queue", a.DeleteQueue(ctx, "missing"),
		client.ErrQueueNotFound, client.ErrNotFound)
	if err := a.DeleteQueue(ctx, "missing"); status.Code(err) != codes.NotFound {
		t.Errorf("status.Code of DeleteQueue(missing) = %v", status.Code(err))
	}

	qs, err := a.ListQueues(ctx)
	must(t, err)
	if len(qs) != 3 || qs[0].Name != "dlq" || qs[1].Name != "jobs" || qs[2].Name != "other" {
		t.Fatalf("ListQueues = %+v", qs)
	}
	j := qs[1]
	if j.Priorities != 4 || j.MaxSize != 10 || j.Lease != 30*time.Second || j.MaxDeliveries != 3 || j.DeadLetterQueue != "dlq" {
		t.Errorf("jobs listed as %+v", j)
	}

	must(t, a.PauseQueue(ctx, "jobs"))
	must(t, a.PauseQueue(ctx, "jobs"))
	qs, _ = a.ListQueues(ctx)
	if !qs[1].Paused {
		t.Errorf("jobs not paused: %+v", qs[1])
	}
	must(t, a.ResumeQueue(ctx, "jobs"))

	q, err := client.NewQueueClient(srv.Addr, "jobs")
	must(t, err)
	defer q.Close()
	_, err = q.BatchEnqueue(ctx, []*client.InputItem{{Value: []byte("1")}, {Value: []byte("2")}, {Value: []byte("3")}})
	must(t, err)
	wantErr(t, "ResizeQueue below the count", a.ResizeQueue(ctx, "jobs", 2), client.ErrFailedPrecondition)
	must(t, a.ResizeQueue(ctx, "jobs", 3))
	info, err := q.Info(ctx)
	must(t, err)
	if info.MaxSize != 3 || info.Length != 3 || info.Priorities != 4 {
		t.Errorf("Info = %+v", info)
	}
	_, err = q.Enqueue(ctx, &client.InputItem{Value: []byte("4")})
	wantErr(t, "Enqueue into a full queue", err, client.ErrQueueFull)

	must(t, a.CreateStorage(ctx, "kv"))
	wantErr(t, "CreateStorage of an existing name", a.CreateStorage(ctx, "kv"),
		client.ErrStorageAlreadyExists, client.ErrAlreadyExists)
	must(t, a.EnsureStorage(ctx, "kv"))
	must(t, a.EnsureStorage(ctx, "kv2"))
	ss, err := a.ListStorages(ctx)
	must(t, err)
	if len(ss) != 2 || ss[0].Name != "kv" || ss[1].Name != "kv2" {
		t.Fatalf("ListStorages = %+v", ss)
	}
	must(t, a.DeleteStorage(ctx, "kv2"))
	wantErr(t, "DeleteStorage of a missing storage", a.DeleteStorage(ctx, "kv2"),
		client.ErrStorageNotFound, client.ErrNotFound)

	cs, err := a.Cluster(ctx)
	must(t, err)
	if len(cs.Members) != 1 || !cs.Members[0].Leader || cs.State != "Leader" || cs.LeaderID == "" {
		t.Errorf("Cluster = %+v", cs)
	}

	must(t, a.DeleteQueue(ctx, "other"))
	_, err = client.NewQueueClient(srv.Addr, "other")
	wantErr(t, "NewQueueClient of a deleted queue", err, client.ErrQueueNotFound)
	_, err = client.NewStorageClient(srv.Addr, "kv2")
	wantErr(t, "NewStorageClient of a deleted storage", err, client.ErrStorageNotFound)
}

func TestE2EQueue(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)
	must(t, a.CreateQueue(ctx, client.QueueConfig{Name: "q", Priorities: 8}))
	q, err := client.NewQueueClient(srv.Addr, "q", client.WithPullTimeout(300*time.Millisecond))
	must(t, err)
	defer q.Close()

	// Idempotent enqueue with a unique key.
	r1, err := q.EnqueueWithResult(ctx, &client.InputItem{UniqueKey: []byte("u1"), Value: []byte("once"), Priority: 1})
	must(t, err)
	r2, err := q.EnqueueWithResult(ctx, &client.InputItem{UniqueKey: []byte("u1"), Value: []byte("twice"), Priority: 1})
	must(t, err)
	if r1.Duplicate || !r2.Duplicate || r1.Id != r2.Id || r1.Id == 0 {
		t.Fatalf("unique key: first %+v, second %+v", r1, r2)
	}
	// Priorities: a higher value is pulled first; FIFO within a priority.
	ids, err := q.BatchEnqueue(ctx, []*client.InputItem{
		{Priority: 5, Value: []byte("hi-1")}, {Priority: 0, Value: []byte("lo")}, {Priority: 5, Value: []byte("hi-2")},
	})
	must(t, err)
	if len(ids) != 3 || !(ids[0] < ids[1] && ids[1] < ids[2]) || ids[0] <= r1.Id {
		t.Fatalf("batch ids %v not increasing after %d", ids, r1.Id)
	}
	items, err := q.Pull(ctx, 10)
	must(t, err)
	var order []string
	for _, it := range items {
		order = append(order, string(it.Value))
		if it.EnqueuedAt.IsZero() || it.DeliveryCount != 0 {
			t.Errorf("item %+v: enqueued_at unset or delivery count non-zero", it)
		}
	}
	if fmt.Sprint(order) != "[hi-1 hi-2 once lo]" {
		t.Fatalf("pull order %v", order)
	}
	info, err := q.Info(ctx)
	must(t, err)
	if info.Active != 4 || info.Length != 0 {
		t.Errorf("Info after pull = %+v", info)
	}

	// Nothing left: Pull answers empty after the pull timeout, PullSingle ErrTimeout.
	start := time.Now()
	empty, err := q.Pull(ctx, 1)
	if err != nil || len(empty) != 0 {
		t.Fatalf("Pull of an empty queue = %v, %v", empty, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("empty Pull returned after %v, before the 300ms pull timeout", d)
	}
	_, err = q.PullSingle(ctx)
	wantErr(t, "PullSingle of an empty queue", err, client.ErrTimeout)

	// Commit, requeue, delete, extend.
	must(t, q.CommitSingle(ctx, items[0].Id))
	wantErr(t, "CommitSingle twice", q.CommitSingle(ctx, items[0].Id), client.ErrItemNotFound)
	n, err := q.Extend(ctx, []uint64{items[1].Id, items[2].Id}, time.Minute)
	if err != nil || n != 2 {
		t.Errorf("Extend = %d, %v", n, err)
	}
	must(t, q.RequeueSingle(ctx, items[1].Id, durationpb.New(time.Minute), 7))
	wantErr(t, "CommitSingle of a waiting item", q.CommitSingle(ctx, items[1].Id), client.ErrItemNotBusy)
	again, err := q.PullSingle(ctx)
	must(t, err)
	if again.Id != items[1].Id || again.Priority != 7 || again.DeliveryCount != 1 {
		t.Errorf("requeued item pulled again as %+v", again)
	}
	err = q.Commit(ctx, []uint64{again.Id, items[2].Id, 999999})
	var pe *client.PartialError
	if !errors.As(err, &pe) || pe.Done != 2 || pe.Total != 3 {
		t.Errorf("Commit with an unknown id: %v, want a PartialError 2 of 3", err)
	}
	must(t, q.DeleteSingle(ctx, items[3].Id))
	wantErr(t, "DeleteSingle twice", q.DeleteSingle(ctx, items[3].Id), client.ErrItemNotFound)
	n, err = q.Requeue(ctx, []*client.RequeueItem{{Id: 424242}})
	if err != nil || n != 0 {
		t.Errorf("Requeue of an unknown id = %d, %v", n, err)
	}
	info, err = q.Info(ctx)
	must(t, err)
	if info.Active != 0 || info.Length != 0 {
		t.Errorf("Info at the end = %+v", info)
	}

	// Paused queue: pulls fail with ErrQueuePaused at their timeout; enqueue still works.
	must(t, a.PauseQueue(ctx, "q"))
	_, err = q.Enqueue(ctx, &client.InputItem{Value: []byte("p")})
	must(t, err)
	_, err = q.Pull(ctx, 1)
	wantErr(t, "Pull of a paused queue", err, client.ErrQueuePaused)
	must(t, a.ResumeQueue(ctx, "q"))
	it, err := q.PullSingle(ctx)
	must(t, err)
	must(t, q.CommitSingle(ctx, it.Id))

	// Out-of-range priority.
	_, err = q.Enqueue(ctx, &client.InputItem{Priority: 8})
	wantErr(t, "Enqueue with priority 8 of 8", err, client.ErrInvalidArgument)
}

// A long pull does not hold up other requests on the same stream, and a consumer blocked in
// Pull receives an item enqueued by another client.
func TestE2EConcurrentPull(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)
	must(t, a.CreateQueue(ctx, client.QueueConfig{Name: "q"}))
	q, err := client.NewQueueClient(srv.Addr, "q", client.WithPullTimeout(10*time.Second))
	must(t, err)
	defer q.Close()
	got := make(chan []*client.Item, 1)
	go func() {
		items, err := q.Pull(ctx, 5)
		if err != nil {
			t.Error(err)
		}
		got <- items
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := q.Info(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Info behind a waiting pull took %v", d)
	}
	p, err := client.NewQueueClient(srv.Addr, "q")
	must(t, err)
	defer p.Close()
	id, err := p.Enqueue(ctx, &client.InputItem{Value: []byte("wake")})
	must(t, err)
	select {
	case items := <-got:
		if len(items) != 1 || items[0].Id != id {
			t.Fatalf("pull got %+v", items)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting Pull did not get the enqueued item")
	}
	// A deadline-bound pull answers empty before the deadline rather than failing.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	items, err := q.Pull(cctx, 1)
	if err != nil || len(items) != 0 {
		t.Errorf("deadline-bound Pull = %v, %v; want empty, nil", items, err)
	}
}

func TestE2EStorage(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)
	must(t, a.CreateStorage(ctx, "kv"))
	s, err := client.NewStorageClient(srv.Addr, "kv", client.WithLockAnyTimeout(300*time.Millisecond))
	must(t, err)
	defer s.Close()
	other, err := client.NewStorageClient(srv.Addr, "kv")
	must(t, err)
	defer other.Close()

	id1, err := s.SetKey(ctx, []byte("job:1"), []byte("one"), nil, false)
	must(t, err)
	id1b, err := s.SetKey(ctx, []byte("job:1"), []byte("uno"), nil, true)
	must(t, err)
	if id1 == 0 || id1 != id1b {
		t.Fatalf("ids of job:1: %d then %d, want the same non-zero id", id1, id1b)
	}
	id2, err := s.SetKey(ctx, []byte("job:2"), []byte("two"), durationpb.New(time.Hour), false)
	must(t, err)
	_, err = s.SetKey(ctx, []byte("cfg"), []byte("x"), nil, false)
	must(t, err)
	v, err := s.GetKey(ctx, []byte("job:1"))
	if err != nil || string(v) != "uno" {
		t.Fatalf("GetKey = %q, %v", v, err)
	}
	_, err = s.GetKey(ctx, []byte("missing"))
	wantErr(t, "GetKey of a missing key", err, client.ErrKeyNotFound, client.ErrItemNotFound)
	kvs, err := s.GetKeys(ctx, []uint64{id2, 999999, id1})
	must(t, err)
	if len(kvs) != 2 || string(kvs[0].Key) != "job:2" || string(kvs[1].Value) != "uno" || kvs[1].ID != id1 {
		t.Fatalf("GetKeys = %+v", kvs)
	}

	// Locks and fencing tokens.
	l1, err := s.LockKeyToken(ctx, []byte("job:1"), durationpb.New(time.Minute), 0)
	must(t, err)
	if l1.ID != id1 || l1.Token == 0 || string(l1.Value) != "uno" {
		t.Fatalf("LockKeyToken = %+v", l1)
	}
	_, err = other.LockKey(ctx, []byte("job:1"), nil)
	wantErr(t, "LockKey of a key locked elsewhere", err, client.ErrItemBusy)
	_, err = other.SetKey(ctx, []byte("job:1"), []byte("x"), nil, false)
	wantErr(t, "SetKey of a key locked elsewhere", err, client.ErrItemBusy)
	_, err = other.SetKeyWithToken(ctx, []byte("job:1"), []byte("fenced"), nil, false, l1.Token)
	must(t, err)
	_, err = s.LockKey(ctx, []byte("missing"), nil)
	wantErr(t, "LockKey of a missing key", err, client.ErrKeyNotFound)

	lid, key, err := s.LockAny(ctx, []byte("job:"), nil)
	must(t, err)
	if lid != id2 || string(key) != "job:2" {
		t.Fatalf("LockAny(job:) = %d %q", lid, key)
	}
	_, _, err = s.LockAny(ctx, []byte("job:"), nil)
	wantErr(t, "LockAny with every key locked", err, client.ErrTimeout)
	count, locked, err := s.Info(ctx)
	if err != nil || count != 3 || locked != 2 {
		t.Errorf("Info = %d, %d, %v; want 3, 2", count, locked, err)
	}

	unlocked, err := s.ListKeys(ctx, false)
	must(t, err)
	all, err := s.ListKeys(ctx, true)
	must(t, err)
	if len(unlocked) != 1 || string(unlocked[0]) != "cfg" || len(all) != 3 {
		t.Errorf("ListKeys: unlocked %q, all %q", unlocked, all)
	}

	must(t, s.UnlockKey(ctx, id2))
	wantErr(t, "UnlockKey of an unlocked key", s.UnlockKey(ctx, id2), client.ErrItemNotBusy)
	l2, err := s.LockAnyToken(ctx, []byte("job:2"), nil, time.Second)
	must(t, err)
	if l2.Token <= l1.Token {
		t.Errorf("lock tokens %d then %d: not increasing", l1.Token, l2.Token)
	}
	// A token that is not job:1's current one (here: job:2's) is refused.
	wantErr(t, "Release with a wrong token", other.Release(ctx, id1, false, l2.Token), client.ErrItemBusy)
	must(t, other.Release(ctx, id1, true, l1.Token)) // release and delete
	_, err = s.GetKey(ctx, []byte("job:1"))
	wantErr(t, "GetKey after release-delete", err, client.ErrKeyNotFound)
	wantErr(t, "DeleteKey of a key locked elsewhere", other.DeleteKey(ctx, []byte("job:2")), client.ErrItemBusy)
	must(t, other.DeleteKeyWithToken(ctx, []byte("job:2"), l2.Token))
	must(t, s.DeleteKey(ctx, []byte("cfg")))
	count, locked, err = s.Info(ctx)
	if err != nil || count != 0 || locked != 0 {
		t.Errorf("Info at the end = %d, %d, %v", count, locked, err)
	}
}

// Listing many keys takes several pages on one correlation id.
func TestE2EStorageKeysPaged(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)
	must(t, a.CreateStorage(ctx, "kv"))
	s, err := client.NewStorageClient(srv.Addr, "kv")
	must(t, err)
	defer s.Close()
	const n = 2500
	want := make([]string, 0, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		k := fmt.Sprintf("key-%05d", i)
		want = append(want, k)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := s.SetKey(ctx, []byte(k), []byte("v"), nil, false)
			errs <- err
		}()
	}
	for range n {
		must(t, <-errs)
	}
	var got []string
	for k, err := range s.Keys(ctx, true) {
		must(t, err)
		got = append(got, string(k))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %d keys, want %d", len(got), len(want))
	}
	// Breaking out of the iteration early is fine, and the stream keeps working.
	for range s.Keys(ctx, true) {
		break
	}
	if _, err := s.GetKey(ctx, []byte("key-00001")); err != nil {
		t.Fatal(err)
	}
}

// A server restart: the clients reconnect on their own; data survives.
func TestE2ERestart(t *testing.T) {
	srv := startServer(t)
	a := newAdmin(t, srv.Addr)
	ctx := e2eCtx(t)
	must(t, a.CreateQueue(ctx, client.QueueConfig{Name: "q"}))
	must(t, a.CreateStorage(ctx, "kv"))
	q, err := client.NewQueueClient(srv.Addr, "q", client.WithPullTimeout(time.Second))
	must(t, err)
	defer q.Close()
	s, err := client.NewStorageClient(srv.Addr, "kv")
	must(t, err)
	defer s.Close()
	id, err := q.Enqueue(ctx, &client.InputItem{Value: []byte("durable")})
	must(t, err)
	_, err = s.SetKey(ctx, []byte("k"), []byte("v"), nil, false)
	must(t, err)

	srv.Restart(t)

	// The streams broke with the restart; new requests wait for the reconnect.
	v, err := s.GetKey(ctx, []byte("k"))
	must(t, err)
	if string(v) != "v" {
		t.Fatalf("GetKey after restart = %q", v)
	}
	it, err := q.PullSingle(ctx)
	must(t, err)
	if it.Id != id || string(it.Value) != "durable" {
		t.Fatalf("item after restart = %+v", it)
	}
	must(t, q.CommitSingle(ctx, it.Id))
	id2, err := q.Enqueue(ctx, &client.InputItem{Value: []byte("after")})
	must(t, err)
	if id2 <= id {
		t.Errorf("id after restart %d not above %d", id2, id)
	}

	// A pull waiting while the server restarts is re-sent on the new stream.
	consumer, err := client.NewQueueClient(srv.Addr, "q", client.WithPullTimeout(20*time.Second))
	must(t, err)
	defer consumer.Close()
	it, err = consumer.PullSingle(ctx)
	must(t, err)
	if it.Id != id2 {
		t.Fatalf("pulled %+v, want item %d", it, id2)
	}
	got := make(chan *client.Item, 1)
	go func() {
		it, err := consumer.PullSingle(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- it
	}()
	time.Sleep(100 * time.Millisecond)
	srv.Restart(t)
	// The uncommitted item was leased to a stream that is gone: it is pulled again.
	select {
	case it := <-got:
		if it == nil || it.Id != id2 || it.DeliveryCount != 1 {
			t.Fatalf("waiting pull across a restart got %+v, want item %d delivered again", it, id2)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("waiting pull did not resume after the restart")
	}
}

// The stream's LEADER_SWITCH status is a *StatusError matching ErrLeaderSwitch.
func TestStatusErrorMapping(t *testing.T) {
	cases := []struct {
		code    pb.StatusCode
		targets []error
	}{
		{pb.StatusCode_STATUS_CODE_TIMEOUT, []error{client.ErrTimeout}},
		{pb.StatusCode_STATUS_CODE_QUEUE_FULL, []error{client.ErrQueueFull}},
		{pb.StatusCode_STATUS_CODE_LEADER_SWITCH, []error{client.ErrLeaderSwitch}},
		{pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, []error{client.ErrItemNotFound, client.ErrNotFound}},
	}
	for _, c := range cases {
		err := error(&client.StatusError{Code: c.code, Message: "m"})
		for _, target := range c.targets {
			if !errors.Is(err, target) {
				t.Errorf("%v does not match %v", err, target)
			}
		}
		if errors.Is(err, client.ErrKeyNotFound) {
			t.Errorf("queue error %v matches ErrKeyNotFound", err)
		}
	}
}
