package service

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bidi is the server side of a bidirectional stream (QueuesService/Connect,
// StorageService/StorageConnect). Send must not keep its message once it returns: the
// handler may reuse it for the next answer. grpc's encodes it before returning; only a
// stats handler or grpc.EnableTracing (the server installs neither) would see it later.
type bidi[Req, Resp any] interface {
	Send(*Resp) error
	Recv() (*Req, error)
	Context() context.Context
}

// session is the per-stream protocol both streams share: setup first, then commands
// started in arrival order and answered as each finishes (out of order), with the
// request's correlation id. Sends are serialised; a failing command never ends the stream.
type session[Req, Resp any] interface {
	// setup handles a first command; ok=false keeps waiting for a valid setup. A non-nil
	// end ends the stream with that error instead of answering (no leader in time).
	setup(ctx context.Context, req *Req) (resp *Resp, ok bool, end error)
	// start begins a command in order and returns what finishes it concurrently, and
	// its kind.
	start(ctx context.Context, req *Req) (finish func(context.Context) *Resp, kind opKind)
	// close runs once the stream ended and every command finished.
	close()
}

var errDraining = errors.New("draining")

// opKind classifies a stream command for ordering.
type opKind int

const (
	// opWrite only proposes: start submitted it in order and finish waits for its result,
	// which arrives in submission order. It runs on the stream's answer goroutine, no
	// goroutine of its own. Immediate answers (refusals, noop) are writes too.
	opWrite opKind = iota
	opRead         // a read: waits for the stream's earlier writes
	opWait         // may wait long (pull, lock): starts as a read; nothing waits for it
	// opSlowWrite is a write that may wait long (an enqueue with a timeout into a full
	// queue): its own goroutine, and reads after it wait for it.
	opSlowWrite
)

// answerQueueLen bounds the writes started and not yet answered on one stream; beyond it
// the stream stops receiving until answers catch up.
const answerQueueLen = 1024

// answer is one entry of a stream's in-order answer queue: a write to finish, or a read
// to start once the writes before it are answered.
type answer[Req, Resp any] struct {
	write command[Req, Resp]
	read  func()
}

// command is a started stream command: its request, when it arrived and what finishes it.
type command[Req, Resp any] struct {
	req    *Req
	began  time.Time
	finish func(context.Context) *Resp
}

// answer finishes c and counts its answer (ObserveCommand) wherever the handler sends it.
// It is a method on a value, not a wrapping closure, so counting costs no allocation.
func (c command[Req, Resp]) answer(ctx context.Context) *Resp {
	resp := c.finish(ctx)
	ObserveCommand(c.req, resp, c.began)
	return resp
}

// serveStream runs one stream until the client closes it or drain is closed (shutdown):
// then commands in flight are cancelled and answered, the session is closed, and the
// stream ends with UNAVAILABLE so the client reconnects elsewhere.
//
// Goroutines: one receives; the handler's starts commands in arrival order; one answers
// writes in that order (their results come in that order: the proposer applies them as
// submitted), sending each answer as it comes; reads, long waits and slow writes get one
// each. Every answer leaves through send, the one spot a command is answered.
func serveStream[Req, Resp any](stream bidi[Req, Resp], sess session[Req, Resp], drain <-chan struct{}) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	type received struct {
		req *Req
		err error
	}
	reqs := make(chan received, 64)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case reqs <- received{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var sendMu sync.Mutex
	var sendErr error
	send := func(r *Resp) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			if sendErr = stream.Send(r); sendErr != nil {
				cancel()
			}
		}
	}
	var inflight sync.WaitGroup
	defer func() {
		inflight.Wait()
		sess.close()
	}()

	// The answer goroutine: writes answered in start order, reads started behind them.
	answers := make(chan answer[Req, Resp], answerQueueLen)
	var queued, answered atomic.Uint64 // writes and reads put in answers / taken out
	answersOpen := false
	openAnswers := func() {
		answersOpen = true
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			for {
				var a answer[Req, Resp]
				var ok bool
				select {
				case a, ok = <-answers:
				case <-ctx.Done():
					return
				}
				if !ok {
					return
				}
				if a.read != nil {
					a.read()
				} else {
					send(a.write.answer(ctx))
				}
				answered.Add(1)
			}
		}()
	}
	defer func() {
		if answersOpen {
			close(answers)
		}
	}()

	ready := false
	var lastSlow <-chan struct{} // the last slow write, while it is the last write started
	draining := func() error {
		// Answer nothing more: commands in flight end unanswered, so the client sees
		// the stream end and treats them as lost (reads and pulls are re-sent, writes
		// have an unknown outcome), rather than as failures of their own.
		sendMu.Lock()
		sendErr = errDraining
		sendMu.Unlock()
		cancel()
		inflight.Wait()
		return status.Error(codes.Unavailable, "the server is shutting down; reconnect")
	}
	// enqueue puts a in the answer queue; false when the stream ends meanwhile.
	enqueue := func(a answer[Req, Resp]) (end error, ok bool) {
		if !answersOpen {
			openAnswers()
		}
		queued.Add(1)
		select {
		case answers <- a:
			return nil, true
		case <-drain:
			return draining(), false
		case <-ctx.Done():
			return nil, false
		}
	}
	for {
		var req *Req
		var err error
		select {
		case r := <-reqs:
			req, err = r.req, r.err
		case <-drain:
			return draining()
		case <-ctx.Done():
			// The client went away (or a send failed): nothing more can be answered.
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client closed its side: answer what is in flight, then end.
				if answersOpen {
					close(answers)
					answersOpen = false
				}
				inflight.Wait()
				return nil
			}
			cancel()
			if status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		began := time.Now()
		if !ready {
			resp, ok, end := sess.setup(ctx, req)
			if end != nil {
				cancel()
				return end
			}
			ready = ok
			send(resp)
			ObserveCommand(req, resp, began)
			continue
		}
		finish, kind := sess.start(ctx, req)
		cmd := command[Req, Resp]{req: req, began: began, finish: finish}
		switch kind {
		case opWrite:
			lastSlow = nil
			if end, ok := enqueue(answer[Req, Resp]{write: cmd}); !ok {
				return end
			}
		case opRead, opWait:
			// A read waits for the writes started before it on this stream, so a client
			// sees its own writes: behind them in the answer queue, or after the slow
			// write that was started last. A wait (pull, lock) starts there too, so it sees
			// them before it decides to wait; nothing waits for it. A wait does not wait for
			// a slow write (an enqueue waiting for room that this very pull may free).
			after := lastSlow
			if kind == opWait {
				after = nil
			}
			run := func() {
				inflight.Add(1)
				go func() {
					defer inflight.Done()
					if after != nil {
						select {
						case <-after:
						case <-ctx.Done():
						}
					}
					send(cmd.answer(ctx))
				}()
			}
			if after != nil || answered.Load() == queued.Load() {
				run() // nothing unanswered in the queue ahead of it
				continue
			}
			if end, ok := enqueue(answer[Req, Resp]{read: run}); !ok {
				return end
			}
		case opSlowWrite:
			done := make(chan struct{})
			lastSlow = done
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				resp := cmd.answer(ctx)
				close(done)
				send(resp)
			}()
		}
	}
}
