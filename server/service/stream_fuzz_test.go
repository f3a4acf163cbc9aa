package service

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
)

// The stream fuzz targets feed arbitrary bytes, decoded as the stream's request message
// the way gRPC decodes it, to the real stream handler (serveStream with the queue or
// storage session) over an in-memory stream, backed by a single-node Raft node: no client
// network. Every request must be answered, refusals must say why, and the stream must keep
// serving: a known-good read sent after the fuzzed commands is answered.

// memStream is an in-memory server stream: Recv returns the queued requests, then blocks
// until the context ends; Send records the responses.
type memStream[Req, Resp any] struct {
	ctx  context.Context
	in   chan *Req
	mu   sync.Mutex
	out  []*Resp
	sent chan struct{}
}

func (m *memStream[Req, Resp]) Context() context.Context { return m.ctx }

func (m *memStream[Req, Resp]) Recv() (*Req, error) {
	select {
	case r := <-m.in:
		return r, nil
	case <-m.ctx.Done():
		return nil, io.EOF
	}
}

func (m *memStream[Req, Resp]) Send(r *Resp) error {
	r = sentCopy(r) // as grpc, keep nothing of r: the handler may reuse it
	m.mu.Lock()
	m.out = append(m.out, r)
	m.mu.Unlock()
	select {
	case m.sent <- struct{}{}:
	default:
	}
	return nil
}

// fuzzService starts a single-node Raft node with queue "q" and storage "s".
func fuzzService(f testing.TB) *Service {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := raftnode.Start(raftnode.Config{NodeID: "n1", DataDir: f.TempDir(), RaftBind: addr, Bootstrap: true,
		Logger: log}, state.New(nil))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { node.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := node.WaitLeaderReady(ctx); err != nil {
		f.Fatal(err)
	}
	// A new leader's own writes (the cluster id, last of them) land after it is ready:
	// wait for them, so tests that count log entries count only their own.
	for {
		applied := node.AppliedChanged()
		if node.State().ClusterID() != "" {
			break
		}
		select {
		case <-applied:
		case <-ctx.Done():
			f.Fatal("the cluster id was never recorded")
		}
	}
	s := New(node, Limits{MaxValueBytes: 1 << 16}, log)
	if _, err := (ManagementServer{Service: s}).CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		f.Fatal(err)
	}
	if _, err := (StorageManagementServer{Service: s}).CreateStorage(ctx, &pb.CreateStorageRequest{StorageName: "s"}); err != nil {
		f.Fatal(err)
	}
	return s
}

// probeCorr is the correlation id of the known-good read that ends every fuzzed stream.
const probeCorr = 1<<63 + 12345

// runStream serves reqs on one in-memory stream until the probe is answered (or 10 s pass)
// and returns the responses.
func runStream[Req, Resp any](t *testing.T, serve func(bidi[Req, Resp]) error, reqs []*Req, answered func([]*Resp) bool) []*Resp {
	ctx, cancel := context.WithCancel(context.Background())
	m := &memStream[Req, Resp]{ctx: ctx, in: make(chan *Req, len(reqs)), sent: make(chan struct{}, 1)}
	for _, r := range reqs {
		m.in <- r
	}
	done := make(chan error, 1)
	go func() { done <- serve(m) }()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		ok := answered(m.out)
		m.mu.Unlock()
		if ok {
			break
		}
		select {
		case <-m.sent:
			continue
		case <-deadline.C:
		}
		break
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream handler did not end after its context was cancelled")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Resp(nil), m.out...)
}

// checkStatus fails on a refusal that does not say why.
func checkStatus(t *testing.T, st *pb.StatusResponse) {
	if st != nil && st.GetCode() != pb.StatusCode_STATUS_CODE_OK && st.GetMessage() == "" {
		t.Fatalf("status %v without a message", st.GetCode())
	}
}

func queueSeeds() [][]byte {
	msgs := []*pb.QueueRequest{
		{CorrelationId: 1, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}},
		{CorrelationId: 2, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "bad name/"}}},
		{CorrelationId: 3, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{Item: &pb.InputItem{Value: []byte("v"), Priority: 40}}}},
		{CorrelationId: 4, Command: &pb.QueueRequest_BatchEnqueue{BatchEnqueue: &pb.BatchEnqueueRequest{Items: []*pb.InputItem{{Value: []byte("a"), UniqueKey: []byte("u")}, nil}}}},
		{CorrelationId: 5, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: -1, Timeout: durationpb.New(50 * time.Millisecond)}}},
		{CorrelationId: 6, Command: &pb.QueueRequest_Commit{Commit: &pb.CommitRequest{Ids: []uint64{0, 1, 1 << 60}}}},
		{CorrelationId: 7, Command: &pb.QueueRequest_Extend{Extend: &pb.ExtendRequest{Ids: []uint64{1}, Lease: &durationpb.Duration{Seconds: -1}}}},
		{CorrelationId: 8, Command: &pb.QueueRequest_Requeue{Requeue: &pb.RequeueRequest{Items: []*pb.RequeueItem{{Id: 1, Priority: proto.Uint32(99)}}}}},
		{CorrelationId: 9},
	}
	var out [][]byte
	for _, m := range msgs {
		b, _ := proto.Marshal(m)
		out = append(out, b)
	}
	return append(out, []byte{0xff, 0x01}, nil)
}

// FuzzQueueStream: go test -run=^$ -fuzz=FuzzQueueStream -fuzztime=10s ./server/service
func FuzzQueueStream(f *testing.F) {
	s := fuzzService(f)
	seeds := queueSeeds()
	for i, a := range seeds {
		f.Add(a, seeds[(i+2)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		// Bytes gRPC would not decode never reach the handler.
		var a, b pb.QueueRequest
		if proto.Unmarshal(first, &a) != nil || proto.Unmarshal(second, &b) != nil {
			return
		}
		if a.GetCorrelationId() == probeCorr || b.GetCorrelationId() == probeCorr {
			return
		}
		setup := &pb.QueueRequest{CorrelationId: 77, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}}
		probe := &pb.QueueRequest{CorrelationId: probeCorr, Command: &pb.QueueRequest_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoRequest{}}}
		serve := func(st bidi[pb.QueueRequest, pb.QueueResponse]) error {
			return serveStream[pb.QueueRequest, pb.QueueResponse](st, &queueSession{s: s, id: s.newSession()}, s.draining)
		}
		out := runStream(t, serve, []*pb.QueueRequest{&a, setup, &b, probe}, func(out []*pb.QueueResponse) bool {
			for _, r := range out {
				if r.GetCorrelationId() == probeCorr {
					return true
				}
			}
			return false
		})
		probed := false
		for _, r := range out {
			checkStatus(t, r.GetStatus())
			if r.GetCorrelationId() == probeCorr && r.GetGetQueueInfo() != nil {
				probed = true
			}
		}
		if !probed {
			t.Fatalf("the stream stopped serving after %v then %v: %v", &a, &b, out)
		}
	})
}

func storageSeeds() [][]byte {
	msgs := []*pb.StorageRequest{
		{CorrelationId: 1, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: "s"}}},
		{CorrelationId: 2, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: ""}}},
		{CorrelationId: 3, Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: []byte("k"), Value: []byte("v"), Ttl: durationpb.New(time.Minute)}}},
		{CorrelationId: 4, Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: nil, Value: []byte("v"), LockToken: 5}}},
		{CorrelationId: 5, Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{Key: []byte("k"), LockTtl: &durationpb.Duration{Nanos: -5}}}},
		{CorrelationId: 6, Command: &pb.StorageRequest_LockAnyWithId{LockAnyWithId: &pb.StorageLockAnyWithIdRequest{Timeout: durationpb.New(20 * time.Millisecond)}}},
		{CorrelationId: 7, Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{Id: 1, Delete: true, LockToken: 1}}},
		{CorrelationId: 8, Command: &pb.StorageRequest_GetKeysNext{GetKeysNext: &pb.StorageGetKeysNextRequest{}}},
		{CorrelationId: 9, Command: &pb.StorageRequest_GetByIds{GetByIds: &pb.StorageGetByIdsRequest{Ids: []uint64{0, 1}}}},
		{CorrelationId: 10},
	}
	var out [][]byte
	for _, m := range msgs {
		b, _ := proto.Marshal(m)
		out = append(out, b)
	}
	return append(out, []byte{0x0a, 0xff}, nil)
}

// FuzzStorageStream: go test -run=^$ -fuzz=FuzzStorageStream -fuzztime=10s ./server/service
func FuzzStorageStream(f *testing.F) {
	s := fuzzService(f)
	seeds := storageSeeds()
	for i, a := range seeds {
		f.Add(a, seeds[(i+3)%len(seeds)])
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var a, b pb.StorageRequest
		if proto.Unmarshal(first, &a) != nil || proto.Unmarshal(second, &b) != nil {
			return
		}
		if a.GetCorrelationId() == probeCorr || b.GetCorrelationId() == probeCorr {
			return
		}
		setup := &pb.StorageRequest{CorrelationId: 77, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: "s"}}}
		probe := &pb.StorageRequest{CorrelationId: probeCorr, Command: &pb.StorageRequest_GetInfo{GetInfo: &pb.StorageGetInfoRequest{}}}
		serve := func(st bidi[pb.StorageRequest, pb.StorageResponse]) error {
			return serveStream[pb.StorageRequest, pb.StorageResponse](st, &storageSession{s: s, id: s.newSession(), listings: map[uint64]*listing{}}, s.draining)
		}
		out := runStream(t, serve, []*pb.StorageRequest{&a, setup, &b, probe}, func(out []*pb.StorageResponse) bool {
			for _, r := range out {
				if r.GetCorrelationId() == probeCorr {
					return true
				}
			}
			return false
		})
		probed := false
		for _, r := range out {
			checkStatus(t, r.GetStatus())
			if r.GetCorrelationId() == probeCorr && r.GetGetInfoResponse() != nil {
				probed = true
			}
		}
		if !probed {
			t.Fatalf("the stream stopped serving after %v then %v: %v", &a, &b, out)
		}
	})
}
