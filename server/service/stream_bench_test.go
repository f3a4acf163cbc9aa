package service

import (
	"context"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/state"
)

// countStream is an in-memory server stream for benchmarks: Recv hands out the queued
// requests, Send counts the answers and signals when want have arrived.
type countStream[Req, Resp any] struct {
	ctx  context.Context
	in   chan *Req
	got  atomic.Int64
	want int64
	all  chan struct{}
}

func (m *countStream[Req, Resp]) Context() context.Context { return m.ctx }

func (m *countStream[Req, Resp]) Recv() (*Req, error) {
	select {
	case r := <-m.in:
		return r, nil
	case <-m.ctx.Done():
		return nil, io.EOF
	}
}

func (m *countStream[Req, Resp]) Send(*Resp) error {
	if m.got.Add(1) == m.want {
		close(m.all)
	}
	return nil
}

// BenchmarkQueueStreamEnqueue measures the queue stream handler (serveStream with the
// queue session, a single-node Raft node behind it, no client network): b.N single-item
// enqueues of 128 B pipelined on one stream, timed until every one is answered.
//
//	go test -run '^$' -bench QueueStream -benchtime 20000x ./server/service
func BenchmarkQueueStreamEnqueue(b *testing.B) {
	s := fuzzService(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &countStream[pb.QueueRequest, pb.QueueResponse]{ctx: ctx, in: make(chan *pb.QueueRequest, 1024), want: int64(b.N) + 1, all: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- serveStream[pb.QueueRequest, pb.QueueResponse](m, &queueSession{s: s, id: s.newSession()}, s.draining)
	}()
	m.in <- &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "q"}}}
	value := make([]byte, 128)
	b.ResetTimer()
	cpu := processCPU()
	for i := range b.N {
		m.in <- &pb.QueueRequest{CorrelationId: uint64(i) + 2, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{Item: &pb.InputItem{Value: value}}}}
	}
	<-m.all
	b.StopTimer()
	// The process's CPU time (the handler, the proposer, Raft, the log store, the state
	// machine) per enqueue: less sensitive to a loaded machine than the time per op.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	cancel()
	<-done
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWaitingPullers: 64 consumers wait on an empty queue while b.N items are
// enqueued one at a time; reports the commands applied per item (1 enqueue + 1 pull is
// the floor; a wake of every waiter would be up to 65).
//
//	go test -run '^$' -bench WaitingPullers -benchtime 2000x ./server/service
func BenchmarkWaitingPullers(b *testing.B) {
	s := fuzzService(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 64
	var got atomic.Int64
	all := make(chan struct{})
	want := int64(b.N)
	for range n {
		go func() {
			sess := s.newSession()
			for ctx.Err() == nil {
				items, _, _ := s.pullOp("q", sess, 1, time.Minute)(ctx)
				if len(items) > 0 && got.Add(int64(len(items))) == want {
					close(all)
				}
			}
		}()
	}
	for s.node.Notifier().Waiters(state.QueueKey("q")) < n {
		time.Sleep(time.Millisecond)
	}
	cmds := s.node.AppliedCommands()
	item := []*pb.InputItem{{Value: make([]byte, 128)}}
	b.ResetTimer()
	for range b.N {
		if _, err := s.enqueueOp("q", item, 0)(ctx); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	b.StopTimer()
	b.ReportMetric(float64(s.node.AppliedCommands()-cmds)/float64(b.N), "cmds/item")
}
