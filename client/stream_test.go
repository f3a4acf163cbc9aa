package client

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

func newTestQueueClient(t *testing.T, target string, opts ...Option) *QueueClient {
	t.Helper()
	q, err := NewQueueClient(target, "q", append([]Option{WithConnectTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("NewQueueClient: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func connected[Req, Resp any](m *mux[Req, Resp]) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur != nil
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Answers come back in reverse order; each caller must get its own.
func TestStreamOutOfOrderAnswers(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	var held []*pb.QueueRequest
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		mu.Lock()
		held = append(held, req)
		if len(held) < n {
			mu.Unlock()
			return
		}
		all := held
		mu.Unlock()
		for i := len(all) - 1; i >= 0; i-- {
			v, _ := strconv.Atoi(string(all[i].GetEnqueue().GetItem().GetValue()))
			fs.reply(&pb.QueueResponse{CorrelationId: all[i].GetCorrelationId(),
				Response: &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: uint64(v)}}})
		}
	}
	q := newTestQueueClient(t, f.addr)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := q.Enqueue(ctx, &InputItem{Value: []byte(strconv.Itoa(i))})
			if err != nil {
				errs <- err
			} else if id != uint64(i) {
				errs <- errors.New("got id " + strconv.Itoa(int(id)) + " for value " + strconv.Itoa(i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.streams.Load(); got != 1 {
		t.Errorf("streams = %d, want 1 (all requests pipelined on one stream)", got)
	}
	seen := map[uint64]bool{}
	for _, r := range f.requests() {
		if seen[r.GetCorrelationId()] {
			t.Errorf("correlation id %d used twice", r.GetCorrelationId())
		}
		seen[r.GetCorrelationId()] = true
	}
}

// A slow pull does not hold up the requests behind it; a cancelled caller returns at once
// and the late answer is dropped.
func TestStreamContextCancel(t *testing.T) {
	release := make(chan struct{})
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		if req.GetPullSingle() != nil {
			<-release
		}
		defaultQueueAnswer(fs, req)
	}
	q := newTestQueueClient(t, f.addr)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.PullSingle(ctx)
		done <- err
	}()
	// Other requests pass the waiting pull.
	if info, err := q.Info(testCtx(t)); err != nil || info.Length != 3 {
		t.Fatalf("Info behind a waiting pull = %+v, %v", info, err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled PullSingle: %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled PullSingle did not return")
	}
	close(release) // the late answer arrives and must be dropped
	if _, err := q.Enqueue(testCtx(t), &InputItem{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	q.m.mu.Lock()
	s := q.m.cur
	q.m.mu.Unlock()
	s.mu.Lock()
	pending := len(s.calls)
	s.mu.Unlock()
	if pending != 0 {
		t.Errorf("%d waiters left after the calls ended", pending)
	}
}

// The pull's server-side wait fits the caller's deadline; an empty pull is not an error.
func TestPullTimeoutBudget(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		switch {
		case req.GetPull() != nil:
			fs.reply(&pb.QueueResponse{CorrelationId: req.GetCorrelationId(), Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{}}})
		case req.GetPullSingle() != nil:
			fs.status(req.GetCorrelationId(), pb.StatusCode_STATUS_CODE_TIMEOUT, "no item")
		}
	}
	q := newTestQueueClient(t, f.addr, WithPullTimeout(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	items, err := q.Pull(ctx, 10)
	if err != nil || items == nil || len(items) != 0 {
		t.Fatalf("empty Pull = %v, %v; want empty non-nil slice, nil", items, err)
	}
	if _, err := q.PullSingle(ctx); !errors.Is(err, ErrTimeout) {
		t.Fatalf("PullSingle with nothing: %v, want ErrTimeout", err)
	}
	reqs := f.requests()
	pull := reqs[0].GetPull()
	if pull.GetBatchSize() != 10 {
		t.Errorf("batch size %d", pull.GetBatchSize())
	}
	if d := pull.GetTimeout().AsDuration(); d <= 0 || d > 2*time.Second {
		t.Errorf("server-side pull timeout %v not bounded by the 2 s deadline", d)
	}
	q2 := newTestQueueClient(t, f.addr, WithPullTimeout(300*time.Millisecond))
	if _, err := q2.Pull(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	reqs = f.requests()
	if d := reqs[len(reqs)-1].GetPull().GetTimeout().AsDuration(); d != 300*time.Millisecond {
		t.Errorf("server-side pull timeout %v, want the option's 300ms", d)
	}
}

// A request in flight when the stream breaks fails with ErrConnectionLost (its outcome is
// unknown); the next request reconnects; a read in flight is re-sent transparently.
func TestStreamReconnect(t *testing.T) {
	var mu sync.Mutex
	killed := map[string]bool{}
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		kind := "other"
		switch {
		case req.GetEnqueue() != nil:
			kind = "enqueue"
		case req.GetGetQueueInfo() != nil:
			kind = "info"
		}
		mu.Lock()
		first := !killed[kind]
		killed[kind] = true
		mu.Unlock()
		if first && kind != "other" {
			fs.kill(status.Error(codes.Unavailable, "node going away"))
			return
		}
		defaultQueueAnswer(fs, req)
	}
	q := newTestQueueClient(t, f.addr)
	ctx := testCtx(t)

	_, err := q.Enqueue(ctx, &InputItem{Value: []byte("a")})
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("in-flight Enqueue on a broken stream: %v, want ErrConnectionLost", err)
	}
	id, err := q.Enqueue(ctx, &InputItem{Value: []byte("b")})
	if err != nil || id == 0 {
		t.Fatalf("Enqueue after reconnect = %d, %v", id, err)
	}
	enqueues := 0
	for _, r := range f.requests() {
		if r.GetEnqueue() != nil {
			enqueues++
		}
	}
	if enqueues != 2 {
		t.Errorf("server saw %d enqueues, want 2 (the lost one must not be re-sent)", enqueues)
	}

	info, err := q.Info(ctx) // its stream breaks under it: re-sent on a new stream
	if err != nil || info.Length != 3 {
		t.Fatalf("Info across a broken stream = %+v, %v", info, err)
	}
	if got := f.streams.Load(); got != 3 {
		t.Errorf("streams = %d, want 3", got)
	}
}

// Requests issued while the server is down wait for it (bounded by their context).
func TestStreamWaitsForReconnect(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	q := newTestQueueClient(t, f.addr, WithBackoff(20*time.Millisecond, 100*time.Millisecond))
	ctx := testCtx(t)
	if _, err := q.Enqueue(ctx, &InputItem{}); err != nil {
		t.Fatal(err)
	}
	f.srv.Stop()
	// Wait until the client noticed (a request sent before that is in flight when the
	// stream breaks, and fails with ErrConnectionLost).
	for connected(q.m) {
		time.Sleep(5 * time.Millisecond)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := q.Enqueue(short, &InputItem{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue while down: %v, want DeadlineExceeded", err)
	}

	go func() {
		time.Sleep(300 * time.Millisecond)
		serve(t, f.addr, func(s *grpc.Server) { grpcpb.RegisterQueuesServiceServer(s, f) })
	}()
	if id, err := q.Enqueue(ctx, &InputItem{}); err != nil || id == 0 {
		t.Fatalf("Enqueue across a restart = %d, %v", id, err)
	}
}

// LEADER_SWITCH on a command: the client moves to the leader and re-sends there.
func TestLeaderSwitchOnCommand(t *testing.T) {
	leader := startFakeQueues(t, &fakeQueues{})
	follower := startFakeQueues(t, &fakeQueues{})
	follower.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		fs.status(req.GetCorrelationId(), pb.StatusCode_STATUS_CODE_LEADER_SWITCH, leader.addr)
	}
	q := newTestQueueClient(t, follower.addr)
	id, err := q.Enqueue(testCtx(t), &InputItem{Value: []byte("x")})
	if err != nil || id == 0 {
		t.Fatalf("Enqueue via follower = %d, %v", id, err)
	}
	if n := len(leader.requests()); n != 1 {
		t.Errorf("leader got %d requests, want 1", n)
	}
	// Later requests go straight to the leader.
	if _, err := q.Info(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(follower.requests()); n != 1 {
		t.Errorf("follower got %d requests, want 1", n)
	}
}

// LEADER_SWITCH on setup: the client connects to the leader.
func TestLeaderSwitchOnSetup(t *testing.T) {
	leader := startFakeQueues(t, &fakeQueues{})
	follower := startFakeQueues(t, &fakeQueues{})
	follower.setup = func(string) *pb.StatusResponse {
		return &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_LEADER_SWITCH, Message: leader.addr}
	}
	q := newTestQueueClient(t, follower.addr)
	if _, err := q.Enqueue(testCtx(t), &InputItem{}); err != nil {
		t.Fatal(err)
	}
	if leader.streams.Load() != 1 || follower.streams.Load() != 0 {
		t.Errorf("streams leader=%d follower=%d", leader.streams.Load(), follower.streams.Load())
	}
}

func TestSetupQueueNotFound(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	f.setup = func(name string) *pb.StatusResponse {
		return &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND, Message: "queue \"" + name + "\" not found"}
	}
	_, err := NewQueueClient(f.addr, "nope")
	if !errors.Is(err, ErrQueueNotFound) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("NewQueueClient of a missing queue: %v, want ErrQueueNotFound", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || se.Code != pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND || se.Message != `queue "nope" not found` {
		t.Fatalf("error %#v does not carry the server's status", err)
	}

	q, err := NewQueueClient(f.addr, "nope", WithLazyConnect())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Enqueue(testCtx(t), &InputItem{}); !errors.Is(err, ErrQueueNotFound) {
		t.Fatalf("first operation of a lazy client: %v, want ErrQueueNotFound", err)
	}
}

func TestCloseFailsWaiters(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(*fakeQueueStream, *pb.QueueRequest) {} // never answers
	q := newTestQueueClient(t, f.addr)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := q.Enqueue(context.Background(), &InputItem{})
			done <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("waiter after Close: %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("waiter not released by Close")
		}
	}
	if _, err := q.Enqueue(context.Background(), &InputItem{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A comma-separated target: the unreachable first address is skipped.
func TestTargetList(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	f := startFakeQueues(t, &fakeQueues{})
	q := newTestQueueClient(t, dead+", "+f.addr, WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	if _, err := q.Enqueue(testCtx(t), &InputItem{}); err != nil {
		t.Fatal(err)
	}
}

// An unanswered keep-alive breaks the stream and the client reconnects.
func TestKeepAlive(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	var mu sync.Mutex
	silent := true
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		mu.Lock()
		s := silent
		mu.Unlock()
		if req.GetNoop() != nil && s {
			return
		}
		defaultQueueAnswer(fs, req)
	}
	q := newTestQueueClient(t, f.addr, WithKeepAlive(100*time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for f.streams.Load() < 2 || !connected(q.m) {
		if time.Now().After(deadline) {
			t.Fatal("the stream was not replaced after unanswered keep-alives")
		}
		if _, err := q.Info(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCommitPartial(t *testing.T) {
	f := startFakeQueues(t, &fakeQueues{})
	f.handle = func(fs *fakeQueueStream, req *pb.QueueRequest) {
		fs.reply(&pb.QueueResponse{CorrelationId: req.GetCorrelationId(), Response: &pb.QueueResponse_Commit{Commit: &pb.CommitResponse{Ret: 1}}})
	}
	q := newTestQueueClient(t, f.addr)
	err := q.Commit(testCtx(t), []uint64{1, 2, 3})
	var pe *PartialError
	if !errors.As(err, &pe) || pe.Done != 1 || pe.Total != 3 {
		t.Fatalf("Commit of 3 with 1 done: %v", err)
	}
}

func TestStorageStream(t *testing.T) {
	f := &fakeStorage{}
	var listingID uint64
	var nextIDs []uint64
	page := 0
	f.handle = func(send func(*pb.StorageResponse), req *pb.StorageRequest) {
		id := req.GetCorrelationId()
		resp := &pb.StorageResponse{CorrelationId: id}
		switch {
		case req.GetSet() != nil:
			resp.Response = &pb.StorageResponse_Status{Status: &pb.StatusResponse{Id: 42}}
		case req.GetGet() != nil:
			resp.Response = &pb.StorageResponse_Status{Status: &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, Message: "no such key"}}
		case req.GetLockKey() != nil:
			resp.Response = &pb.StorageResponse_DataResponse{DataResponse: &pb.StorageDataResponse{Id: 42, Key: req.GetLockKey().GetKey(), LockToken: 9}}
		case req.GetGetKeys() != nil:
			listingID, page = id, 1
			resp.Response = &pb.StorageResponse_GetKeysResponse{GetKeysResponse: &pb.StorageGetKeysResponse{Keys: [][]byte{[]byte("a"), []byte("b")}, More: true}}
		case req.GetGetKeysNext() != nil:
			nextIDs = append(nextIDs, id)
			page++
			resp.Response = &pb.StorageResponse_GetKeysResponse{GetKeysResponse: &pb.StorageGetKeysResponse{
				Keys: [][]byte{[]byte("k" + strconv.Itoa(page))}, More: page < 3}}
		default:
			resp.Response = &pb.StorageResponse_Status{Status: &pb.StatusResponse{}}
		}
		send(resp)
	}
	addr, _ := serve(t, "", func(s *grpc.Server) { grpcpb.RegisterStorageServiceServer(s, f) })
	s, err := NewStorageClient(addr, "st")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := testCtx(t)
	if id, err := s.SetKey(ctx, []byte("k"), []byte("v"), nil, false); err != nil || id != 42 {
		t.Fatalf("SetKey = %d, %v; want the status id 42", id, err)
	}
	_, err = s.GetKey(ctx, []byte("k"))
	if !errors.Is(err, ErrKeyNotFound) || !errors.Is(err, ErrItemNotFound) {
		t.Fatalf("GetKey of a missing key: %v, want ErrKeyNotFound and ErrItemNotFound", err)
	}
	l, err := s.LockKeyToken(ctx, []byte("k"), nil, time.Second)
	if err != nil || l.ID != 42 || l.Token != 9 || string(l.Key) != "k" {
		t.Fatalf("LockKeyToken = %+v, %v", l, err)
	}
	keys, err := s.ListKeys(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, string(k))
	}
	if want := "a b k2 k3"; joinStrings(got) != want {
		t.Errorf("keys %q, want %q", joinStrings(got), want)
	}
	if len(nextIDs) != 2 || nextIDs[0] != listingID || nextIDs[1] != listingID {
		t.Errorf("get_keys_next ids %v, want both = get_keys id %d", nextIDs, listingID)
	}
}

func joinStrings(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out
}

func TestSplitTargetListsEveryAddress(t *testing.T) {
	got, err := splitTarget(" 127.0.0.1:1, 127.0.0.2:2 ,127.0.0.1:1,")
	if err != nil || len(got) != 2 || got[0] != "127.0.0.1:1" || got[1] != "127.0.0.2:2" {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := splitTarget(" , "); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty target: %v", err)
	}
}

// A node naming a new leader after the one it named before could not be reached (killed:
// the others elected another) sends the client there at once, not after its reconnect
// backoff: the backoff grew while the dead leader was named, and waiting it out held every
// call of the client (a lock call, 2 s, over the new leader's readiness) for up to the
// backoff limit after the new leader was known.
func TestNewLeaderHintFollowedAtOnce(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // connections are refused: a killed leader

	var mu sync.Mutex
	var named, reached time.Time
	leader := startFakeQueues(t, &fakeQueues{})
	leader.setup = func(string) *pb.StatusResponse {
		mu.Lock()
		defer mu.Unlock()
		if reached.IsZero() {
			reached = time.Now()
		}
		return &pb.StatusResponse{}
	}
	setups := 0
	follower := startFakeQueues(t, &fakeQueues{})
	follower.setup = func(string) *pb.StatusResponse {
		mu.Lock()
		defer mu.Unlock()
		if setups++; setups == 1 {
			return &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_LEADER_SWITCH, Message: dead}
		}
		if named.IsZero() {
			named = time.Now()
		}
		return &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_LEADER_SWITCH, Message: leader.addr}
	}
	// Every backoff lasts 1-2 s: the client waits once after the dead leader refused it,
	// and must not wait again once the follower names the new leader.
	const backoff = 2 * time.Second
	newTestQueueClient(t, follower.addr, WithBackoff(backoff, backoff))
	mu.Lock()
	defer mu.Unlock()
	took := reached.Sub(named)
	t.Logf("the new leader was reached %v after it was named (%d setups at the follower)", took, setups)
	if named.IsZero() || reached.IsZero() || took < 0 {
		t.Fatalf("named %v, reached %v", named, reached)
	}
	// Before: at least half the backoff (1 s); now a local dial and setup.
	if took >= backoff/4 {
		t.Fatalf("the client reached the new leader %v after a node named it (bound %v; a backoff is at least %v)", took, backoff/4, backoff/2)
	}
}
