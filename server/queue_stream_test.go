package server_test

// The raw QueuesService/Connect stream: setup rules, exact statuses of bad commands, the
// stream surviving each error, correlation ids, and long polls not holding up later commands.

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// rawQueue is one raw Connect stream.
type rawQueue struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[pb.QueueRequest, pb.QueueResponse]
	resps  chan *pb.QueueResponse
}

func rawConnect(t *testing.T, addr string) *rawQueue {
	t.Helper()
	conn := servertest.Dial(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := grpcpb.NewQueuesServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawQueue{t: t, stream: st, resps: make(chan *pb.QueueResponse, 64)}
	go func() {
		for {
			resp, err := st.Recv()
			if err != nil {
				close(r.resps)
				return
			}
			r.resps <- resp
		}
	}()
	return r
}

func (r *rawQueue) send(req *pb.QueueRequest) {
	r.t.Helper()
	if err := r.stream.Send(req); err != nil {
		r.t.Fatalf("send %v: %v", req, err)
	}
}

// next returns the next response, failing after 5 s or when the stream ended.
func (r *rawQueue) next() *pb.QueueResponse {
	r.t.Helper()
	select {
	case resp, ok := <-r.resps:
		if !ok {
			r.t.Fatal("the stream ended")
		}
		return resp
	case <-time.After(5 * time.Second):
		r.t.Fatal("no response within 5s")
	}
	return nil
}

// call sends req and returns its response, checking the correlation id is echoed.
func (r *rawQueue) call(req *pb.QueueRequest) *pb.QueueResponse {
	r.t.Helper()
	r.send(req)
	resp := r.next()
	if resp.GetCorrelationId() != req.GetCorrelationId() {
		r.t.Fatalf("response %v carries correlation id %d, want %d", resp, resp.GetCorrelationId(), req.GetCorrelationId())
	}
	return resp
}

// wantStatus checks resp is a status with code whose message contains msgPart.
func wantStatus(t *testing.T, what string, resp *pb.QueueResponse, code pb.StatusCode, msgPart string) {
	t.Helper()
	st := resp.GetStatus()
	if st == nil || st.GetCode() != code || !strings.Contains(st.GetMessage(), msgPart) {
		t.Fatalf("%s: got %v, want status %v naming %q", what, resp, code, msgPart)
	}
}

// alive checks the stream still answers a noop.
func (r *rawQueue) alive(corr uint64) {
	r.t.Helper()
	wantStatus(r.t, "noop", r.call(qNoop(corr)), pb.StatusCode_STATUS_CODE_OK, "")
}

func qNoop(corr uint64) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Noop{Noop: &pb.NoopRequest{}}}
}

func qSetup(corr uint64, name string) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: name}}}
}

func qEnqueue(corr uint64, it *pb.InputItem) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{Item: it}}}
}

func TestQueueStreamBadInput(t *testing.T) {
	srv := servertest.Start(t, servertest.WithMaxValueBytes(1024))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := servertest.Dial(t, srv.Addr)
	if _, err := managementpb.NewManagementServiceClient(conn).CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "jobs", Priorities: 8}); err != nil {
		t.Fatal(err)
	}

	// Setup: an unknown queue answers QUEUE_NOT_FOUND and the stream waits for a valid setup.
	r := rawConnect(t, srv.Addr)
	wantStatus(t, "setup of an unknown queue", r.call(qSetup(7, "nope")), pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND, "nope")
	wantStatus(t, "setup with a bad name", r.call(qSetup(8, "bad name")), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "")
	// Any other first command: INVALID_ARGUMENT, still waiting for setup.
	wantStatus(t, "noop before setup", r.call(qNoop(9)), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "setup")
	wantStatus(t, "enqueue before setup", r.call(qEnqueue(10, &pb.InputItem{Value: []byte("x")})), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "setup")
	wantStatus(t, "setup", r.call(qSetup(11, "jobs")), pb.StatusCode_STATUS_CODE_OK, "")
	wantStatus(t, "second setup", r.call(qSetup(12, "jobs")), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "set up")
	r.alive(13)

	steps := []struct {
		what string
		req  *pb.QueueRequest
		code pb.StatusCode
		msg  string
	}{
		{"priority out of range", qEnqueue(0, &pb.InputItem{Priority: 8, Value: []byte("x")}),
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "priority"},
		{"oversized value", qEnqueue(0, &pb.InputItem{Value: make([]byte, 1025)}),
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "1024"},
		{"oversized value in a batch", &pb.QueueRequest{Command: &pb.QueueRequest_BatchEnqueue{BatchEnqueue: &pb.BatchEnqueueRequest{
			Items: []*pb.InputItem{{Value: []byte("ok")}, {Value: make([]byte, 2000)}}}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "items[1].value"},
		{"empty batch", &pb.QueueRequest{Command: &pb.QueueRequest_BatchEnqueue{BatchEnqueue: &pb.BatchEnqueueRequest{}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "items"},
		{"negative ttl", qEnqueue(0, &pb.InputItem{Value: []byte("x"), Ttl: &durationpb.Duration{Seconds: -1}}),
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "ttl"},
		{"commit of an unknown id", &pb.QueueRequest{Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: 999999}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "999999"},
		{"requeue of an unknown id", &pb.QueueRequest{Command: &pb.QueueRequest_RequeueSingle{RequeueSingle: &pb.RequeueSingleRequest{Item: &pb.RequeueItem{Id: 999998}}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "999998"},
		{"delete of an unknown id", &pb.QueueRequest{Command: &pb.QueueRequest_DeleteSingle{DeleteSingle: &pb.DeleteSingleRequest{Id: 999997}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "999997"},
		{"no command", &pb.QueueRequest{}, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "command"},
		{"pull_single of an empty queue", &pb.QueueRequest{Command: &pb.QueueRequest_PullSingle{PullSingle: &pb.PullSingleRequest{Timeout: durationpb.New(50 * time.Millisecond)}}},
			pb.StatusCode_STATUS_CODE_TIMEOUT, ""},
	}
	corr := uint64(100)
	for _, st := range steps {
		corr++
		st.req.CorrelationId = corr
		wantStatus(t, st.what, r.call(st.req), st.code, st.msg)
		corr++
		r.alive(corr) // one bad command never ends the stream
	}

	// Batch forms of unknown ids answer how many succeeded: none.
	resp := r.call(&pb.QueueRequest{CorrelationId: 200, Command: &pb.QueueRequest_Commit{Commit: &pb.CommitRequest{Ids: []uint64{999999, 999998}}}})
	if resp.GetCommit() == nil || resp.GetCommit().GetRet() != 0 {
		t.Fatalf("commit of unknown ids: %v", resp)
	}
	resp = r.call(&pb.QueueRequest{CorrelationId: 201, Command: &pb.QueueRequest_Requeue{Requeue: &pb.RequeueRequest{Items: []*pb.RequeueItem{{Id: 999999}}}}})
	if resp.GetRequeue() == nil || resp.GetRequeue().GetRet() != 0 {
		t.Fatalf("requeue of unknown ids: %v", resp)
	}
	resp = r.call(&pb.QueueRequest{CorrelationId: 202, Command: &pb.QueueRequest_Extend{Extend: &pb.ExtendRequest{Ids: []uint64{999999}}}})
	if resp.GetExtend() == nil || resp.GetExtend().GetRet() != 0 {
		t.Fatalf("extend of unknown ids: %v", resp)
	}

	// A value of exactly the limit is accepted; a waiting item answers ITEM_NOT_BUSY to
	// commit, requeue and extend-by-one, and can be deleted.
	resp = r.call(qEnqueue(300, &pb.InputItem{Value: make([]byte, 1024), Priority: 7}))
	id := resp.GetEnqueue().GetId()
	if id == 0 {
		t.Fatalf("enqueue of a 1024-byte value: %v", resp)
	}
	wantStatus(t, "commit of a waiting id", r.call(&pb.QueueRequest{CorrelationId: 301, Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: id}}}),
		pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "")
	r.alive(302)
	wantStatus(t, "requeue of a waiting id", r.call(&pb.QueueRequest{CorrelationId: 303, Command: &pb.QueueRequest_RequeueSingle{RequeueSingle: &pb.RequeueSingleRequest{Item: &pb.RequeueItem{Id: id}}}}),
		pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "")
	resp = r.call(&pb.QueueRequest{CorrelationId: 304, Command: &pb.QueueRequest_Extend{Extend: &pb.ExtendRequest{Ids: []uint64{id}}}})
	if resp.GetExtend() == nil || resp.GetExtend().GetRet() != 0 {
		t.Fatalf("extend of a waiting id: %v", resp)
	}
	// Requeue of an active item with a priority out of range: INVALID_ARGUMENT naming it.
	resp = r.call(&pb.QueueRequest{CorrelationId: 305, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 5}}})
	if items := resp.GetPull().GetItems(); len(items) != 1 || items[0].GetId() != id || len(items[0].GetValue()) != 1024 {
		t.Fatalf("pull: %v", resp)
	}
	bad := uint32(8)
	wantStatus(t, "requeue with priority 8", r.call(&pb.QueueRequest{CorrelationId: 306, Command: &pb.QueueRequest_RequeueSingle{RequeueSingle: &pb.RequeueSingleRequest{Item: &pb.RequeueItem{Id: id, Priority: &bad}}}}),
		pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "priority")
	resp = r.call(&pb.QueueRequest{CorrelationId: 307, Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: id}}})
	if !resp.GetCommitSingle().GetCommitted() {
		t.Fatalf("commit of the active item after a failed requeue: %v", resp)
	}
	// Ids may be reused and start at 0.
	r.alive(0)
	r.alive(0)
}

// A long-polling pull does not hold up the commands behind it on the same stream; an
// enqueue on that stream then answers the pull. Responses carry their requests' ids.
func TestQueueStreamLongPollDoesNotBlock(t *testing.T) {
	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := servertest.Dial(t, srv.Addr)
	if _, err := managementpb.NewManagementServiceClient(conn).CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "lp"}); err != nil {
		t.Fatal(err)
	}
	r := rawConnect(t, srv.Addr)
	wantStatus(t, "setup", r.call(qSetup(1, "lp")), pb.StatusCode_STATUS_CODE_OK, "")

	start := time.Now()
	r.send(&pb.QueueRequest{CorrelationId: 10, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 3, Timeout: durationpb.New(20 * time.Second)}}})
	r.send(&pb.QueueRequest{CorrelationId: 11, Command: &pb.QueueRequest_PullSingle{PullSingle: &pb.PullSingleRequest{Timeout: durationpb.New(20 * time.Second)}}})
	r.send(qNoop(12))
	r.send(&pb.QueueRequest{CorrelationId: 13, Command: &pb.QueueRequest_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoRequest{}}})
	resp := r.next()
	wantStatus(t, "noop behind two long polls", resp, pb.StatusCode_STATUS_CODE_OK, "")
	if resp.GetCorrelationId() != 12 {
		t.Fatalf("first answer %v, want the noop (12)", resp)
	}
	resp = r.next()
	if resp.GetCorrelationId() != 13 || resp.GetGetQueueInfo() == nil || resp.GetGetQueueInfo().GetPriorities() != 32 {
		t.Fatalf("second answer %v, want queue info (13)", resp)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("commands behind long polls took %v", d)
	}
	// One enqueue answers one of the waiting pulls; a second the other.
	got := map[uint64]*pb.QueueResponse{}
	collect := func(n int) {
		t.Helper()
		for want := len(got) + n; len(got) < want; {
			resp := r.next()
			if _, dup := got[resp.GetCorrelationId()]; dup {
				t.Fatalf("two answers for correlation id %d", resp.GetCorrelationId())
			}
			got[resp.GetCorrelationId()] = resp
		}
	}
	r.send(qEnqueue(20, &pb.InputItem{Value: []byte("one")}))
	collect(2)
	r.send(qEnqueue(21, &pb.InputItem{Value: []byte("two")}))
	collect(2)
	var values []string
	for _, it := range got[10].GetPull().GetItems() {
		values = append(values, string(it.GetValue()))
	}
	if it := got[11].GetPullSingle().GetItem(); it != nil {
		values = append(values, string(it.GetValue()))
	}
	if got[20].GetEnqueue() == nil || got[21].GetEnqueue() == nil || len(values) != 2 {
		t.Fatalf("answers %v", got)
	}
}
