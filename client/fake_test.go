package client

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// fakeQueues is an in-process QueuesService whose behaviour each test scripts.
type fakeQueues struct {
	grpcpb.UnimplementedQueuesServiceServer
	addr string
	srv  *grpc.Server

	// setup answers the setup request; nil answers OK.
	setup func(name string) *pb.StatusResponse
	// handle answers one request (each in its own goroutine); nil uses defaultQueueAnswer.
	handle func(fs *fakeQueueStream, req *pb.QueueRequest)

	streams atomic.Int32 // streams set up
	mu      sync.Mutex
	reqs    []*pb.QueueRequest // requests after setup, in arrival order
}

// fakeQueueStream is one stream on the fake server.
type fakeQueueStream struct {
	st   grpcpb.QueuesService_ConnectServer
	mu   sync.Mutex
	drop chan error
}

func (fs *fakeQueueStream) reply(resp *pb.QueueResponse) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_ = fs.st.Send(resp)
}

func (fs *fakeQueueStream) status(id uint64, code pb.StatusCode, msg string) {
	fs.reply(&pb.QueueResponse{CorrelationId: id, Response: &pb.QueueResponse_Status{
		Status: &pb.StatusResponse{Code: code, Message: msg},
	}})
}

// kill ends the stream with err (nil: a clean end).
func (fs *fakeQueueStream) kill(err error) {
	select {
	case fs.drop <- err:
	default:
	}
}

func (f *fakeQueues) Connect(st grpcpb.QueuesService_ConnectServer) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	fs := &fakeQueueStream{st: st, drop: make(chan error, 1)}
	if first.GetSetup() == nil {
		fs.status(first.GetCorrelationId(), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "setup first")
		return nil
	}
	ans := &pb.StatusResponse{}
	if f.setup != nil {
		ans = f.setup(first.GetSetup().GetQueueName())
	}
	fs.reply(&pb.QueueResponse{CorrelationId: first.GetCorrelationId(), Response: &pb.QueueResponse_Status{Status: ans}})
	if ans.GetCode() != pb.StatusCode_STATUS_CODE_OK {
		return nil
	}
	f.streams.Add(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			req, err := st.Recv()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.reqs = append(f.reqs, req)
			f.mu.Unlock()
			h := f.handle
			if h == nil {
				h = defaultQueueAnswer
			}
			go h(fs, req)
		}
	}()
	select {
	case err := <-fs.drop:
		return err
	case <-done:
		return nil
	}
}

// requests returns the requests received so far.
func (f *fakeQueues) requests() []*pb.QueueRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.QueueRequest(nil), f.reqs...)
}

// defaultQueueAnswer answers like a happy server: enqueue gets id 1000+correlation id,
// pulls get one item, info and noop are answered.
func defaultQueueAnswer(fs *fakeQueueStream, req *pb.QueueRequest) {
	id := req.GetCorrelationId()
	resp := &pb.QueueResponse{CorrelationId: id}
	switch req.GetCommand().(type) {
	case *pb.QueueRequest_Enqueue:
		resp.Response = &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: 1000 + id}}
	case *pb.QueueRequest_Pull:
		resp.Response = &pb.QueueResponse_Pull{Pull: &pb.PullResponse{Items: []*pb.Item{{Id: 7, Value: []byte("v")}}}}
	case *pb.QueueRequest_PullSingle:
		resp.Response = &pb.QueueResponse_PullSingle{PullSingle: &pb.PullSingleResponse{Item: &pb.Item{Id: 7, Value: []byte("v")}}}
	case *pb.QueueRequest_GetQueueInfo:
		resp.Response = &pb.QueueResponse_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoResponse{Length: 3, Priorities: 5}}
	case *pb.QueueRequest_CommitSingle:
		resp.Response = &pb.QueueResponse_CommitSingle{CommitSingle: &pb.CommitSingleResponse{Committed: true}}
	case *pb.QueueRequest_Commit:
		resp.Response = &pb.QueueResponse_Commit{Commit: &pb.CommitResponse{Ret: int32(len(req.GetCommit().GetIds()))}}
	default:
		resp.Response = &pb.QueueResponse_Status{Status: &pb.StatusResponse{}}
	}
	fs.reply(resp)
}

// serve starts a gRPC server on 127.0.0.1:0 (or addr) with register applied; it stops when
// the test ends.
func serve(t *testing.T, addr string, register func(*grpc.Server)) (string, *grpc.Server) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), srv
}

// startFakeQueues serves f and returns it.
func startFakeQueues(t *testing.T, f *fakeQueues) *fakeQueues {
	t.Helper()
	f.addr, f.srv = serve(t, "", func(s *grpc.Server) { grpcpb.RegisterQueuesServiceServer(s, f) })
	return f
}

// fakeStorage is an in-process StorageService answering from a script.
type fakeStorage struct {
	grpcpb.UnimplementedStorageServiceServer
	handle func(send func(*pb.StorageResponse), req *pb.StorageRequest)
}

func (f *fakeStorage) StorageConnect(st grpcpb.StorageService_StorageConnectServer) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	send := func(r *pb.StorageResponse) {
		mu.Lock()
		defer mu.Unlock()
		_ = st.Send(r)
	}
	send(&pb.StorageResponse{CorrelationId: first.GetCorrelationId(), Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{}}})
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		f.handle(send, req)
	}
}
