package service

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// chanStream is an in-memory server stream driven by a test: Recv returns what the test
// sends on in (io.EOF once in is closed: the client closed its side), Send delivers to out.
type chanStream[Req, Resp any] struct {
	ctx context.Context
	in  chan *Req
	out chan *Resp
}

func (c *chanStream[Req, Resp]) Context() context.Context { return c.ctx }

func (c *chanStream[Req, Resp]) Recv() (*Req, error) {
	select {
	case r, ok := <-c.in:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-c.ctx.Done():
		return nil, status.Error(codes.Canceled, "client gone")
	}
}

func (c *chanStream[Req, Resp]) Send(r *Resp) error {
	r = sentCopy(r) // as grpc, keep nothing of r: the handler may reuse it
	select {
	case c.out <- r:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// sentCopy is a deep copy of a sent answer, what a client receives: a test stream keeps
// that, never the handler's message, which Send's contract lets the handler reuse.
func sentCopy[Resp any](r *Resp) *Resp {
	return proto.Clone(any(r).(proto.Message)).(any).(*Resp)
}

// queueStream serves a queue stream of s in the background; end receives its result.
func queueStream(t *testing.T, s *Service) (st *chanStream[pb.QueueRequest, pb.QueueResponse], end chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st = &chanStream[pb.QueueRequest, pb.QueueResponse]{ctx: ctx, in: make(chan *pb.QueueRequest, 1024), out: make(chan *pb.QueueResponse, 1024)}
	end = make(chan error, 1)
	go func() {
		end <- serveStream[pb.QueueRequest, pb.QueueResponse](st, &queueSession{s: s, id: s.newSession()}, s.draining)
	}()
	return st, end
}

func recvAnswer[Resp any](t *testing.T, out chan *Resp) *Resp {
	t.Helper()
	select {
	case r := <-out:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no answer within 20 s")
		return nil
	}
}

func setupQueue(t *testing.T, st *chanStream[pb.QueueRequest, pb.QueueResponse]) {
	t.Helper()
	st.in <- &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}}
	if r := recvAnswer(t, st.out); r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("setup: %v", r)
	}
}

func enqueueReq(corr uint64, v string) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{Item: &pb.InputItem{Value: []byte(v)}}}}
}

// Setup comes first and must name an existing queue; a refused setup leaves the stream
// waiting for a valid one, and a second setup is refused.
func TestStreamSetupRules(t *testing.T) {
	s := fuzzService(t)
	st, _ := queueStream(t, s)
	cases := []struct {
		req  *pb.QueueRequest
		code pb.StatusCode
	}{
		{enqueueReq(1, "early"), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT},
		{&pb.QueueRequest{CorrelationId: 2, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "bad/name"}}}, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT},
		{&pb.QueueRequest{CorrelationId: 3, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "missing"}}}, pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND},
		{&pb.QueueRequest{CorrelationId: 4, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}}, pb.StatusCode_STATUS_CODE_OK},
		{&pb.QueueRequest{CorrelationId: 5, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}}, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT},
	}
	for _, c := range cases {
		st.in <- c.req
		r := recvAnswer(t, st.out)
		if r.GetCorrelationId() != c.req.GetCorrelationId() || r.GetStatus().GetCode() != c.code {
			t.Fatalf("%v: answered %v, want %v", c.req, r, c.code)
		}
		if c.code != pb.StatusCode_STATUS_CODE_OK && r.GetStatus().GetMessage() == "" {
			t.Fatalf("%v: refused without a message", c.req)
		}
	}
}

// Pipelined writes are answered in the order they were sent (and applied in it: ids
// grow), and a read sent right behind them sees them all.
func TestStreamWritesInOrderAndReadYourWrites(t *testing.T) {
	s := fuzzService(t)
	st, _ := queueStream(t, s)
	setupQueue(t, st)
	const n = 200
	for i := range n {
		st.in <- enqueueReq(uint64(10+i), "v")
	}
	st.in <- &pb.QueueRequest{CorrelationId: 5, Command: &pb.QueueRequest_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoRequest{}}}
	var lastID uint64
	for i := range n {
		r := recvAnswer(t, st.out)
		if r.GetCorrelationId() != uint64(10+i) {
			t.Fatalf("answer %d has correlation id %d, want %d (writes answered out of order)", i, r.GetCorrelationId(), 10+i)
		}
		id := r.GetEnqueue().GetId()
		if id <= lastID {
			t.Fatalf("enqueue %d got id %d after %d", i, id, lastID)
		}
		lastID = id
	}
	info := recvAnswer(t, st.out)
	if info.GetCorrelationId() != 5 || info.GetGetQueueInfo().GetLength() != n {
		t.Fatalf("info after %d enqueues = %v, want length %d", n, info, n)
	}
}

// A long pull does not hold up later commands on the stream, and it is answered (out of
// order, by correlation id) when an item arrives.
func TestStreamLongPullDoesNotBlock(t *testing.T) {
	s := fuzzService(t)
	st, _ := queueStream(t, s)
	setupQueue(t, st)
	st.in <- &pb.QueueRequest{CorrelationId: 7, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 1, Timeout: durationpb.New(time.Minute)}}}
	st.in <- &pb.QueueRequest{CorrelationId: 8, Command: &pb.QueueRequest_Noop{Noop: &pb.NoopRequest{}}}
	if r := recvAnswer(t, st.out); r.GetCorrelationId() != 8 {
		t.Fatalf("first answer %v, want the noop's (8) while the pull waits", r)
	}
	st.in <- enqueueReq(9, "x")
	got := map[uint64]*pb.QueueResponse{}
	for range 2 {
		r := recvAnswer(t, st.out)
		got[r.GetCorrelationId()] = r
	}
	if got[9].GetEnqueue() == nil || len(got[7].GetPull().GetItems()) != 1 {
		t.Fatalf("enqueue %v, pull %v: want the pull to get the enqueued item", got[9], got[7])
	}
}

// When the client closes its side, what is in flight is answered before the stream ends.
func TestStreamClientCloseAnswersInFlight(t *testing.T) {
	s := fuzzService(t)
	st, end := queueStream(t, s)
	setupQueue(t, st)
	const n = 50
	for i := range n {
		st.in <- enqueueReq(uint64(100+i), "v")
	}
	close(st.in)
	select {
	case err := <-end:
		if err != nil {
			t.Fatalf("stream ended with %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not end after the client closed its side")
	}
	if len(st.out) != n {
		t.Fatalf("%d of %d writes answered before the stream ended", len(st.out), n)
	}
}

// Drain (shutdown) ends a stream with UNAVAILABLE, a waiting pull unanswered and its
// wait released.
func TestStreamDrain(t *testing.T) {
	s := fuzzService(t)
	st, end := queueStream(t, s)
	setupQueue(t, st)
	st.in <- &pb.QueueRequest{CorrelationId: 7, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 1, Timeout: durationpb.New(time.Minute)}}}
	waitFor(t, "the pull to wait", func() bool { return s.node.Notifier().Len() > 0 })
	s.Drain()
	select {
	case err := <-end:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("drained stream ended with %v, want UNAVAILABLE", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("drain did not end the stream")
	}
	select {
	case r := <-st.out:
		t.Fatalf("answered %v after drain", r)
	default:
	}
	if s.node.Notifier().Len() != 0 {
		t.Fatal("the drained pull left a waiter behind")
	}
}

// A pull is not held up by a slow enqueue before it on the stream (one waiting for room in
// a full queue): the pull and a commit free the room, and the enqueue goes through.
func TestStreamPullNotBehindSlowEnqueue(t *testing.T) {
	s := fuzzService(t)
	if _, err := (ManagementServer{Service: s}).CreateQueue(context.Background(), &pb.CreateQueueRequest{QueueName: "small", MaxSize: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := queueStream(t, s)
	st.in <- &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "small"}}}
	if r := recvAnswer(t, st.out); r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("setup: %v", r)
	}
	st.in <- enqueueReq(2, "first")
	if r := recvAnswer(t, st.out); r.GetEnqueue() == nil {
		t.Fatalf("first enqueue: %v", r)
	}
	st.in <- &pb.QueueRequest{CorrelationId: 3, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{
		Item: &pb.InputItem{Value: []byte("second")}, Timeout: durationpb.New(time.Minute)}}}
	st.in <- &pb.QueueRequest{CorrelationId: 4, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 1, Timeout: durationpb.New(time.Minute)}}}
	r := recvAnswer(t, st.out)
	if r.GetCorrelationId() != 4 || len(r.GetPull().GetItems()) != 1 {
		t.Fatalf("first answer %v, want the pull's item while the enqueue waits for room", r)
	}
	st.in <- &pb.QueueRequest{CorrelationId: 5, Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: r.GetPull().GetItems()[0].GetId()}}}
	got := map[uint64]*pb.QueueResponse{}
	for range 2 {
		r := recvAnswer(t, st.out)
		got[r.GetCorrelationId()] = r
	}
	if !got[5].GetCommitSingle().GetCommitted() || got[3].GetEnqueue() == nil {
		t.Fatalf("commit %v, waiting enqueue %v: want both done", got[5], got[3])
	}
}
