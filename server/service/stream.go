package service

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bidi is the server side of a bidirectional stream (QueuesService/Connect,
// StorageService/StorageConnect).
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
	opWrite opKind = iota // a change answered once applied
	opRead                // a read: waits for the stream's earlier writes
	opWait                // may wait long (pull, lock): nothing waits for it
)

// serveStream runs one stream until the client closes it or drain is closed (shutdown):
// then commands in flight are cancelled and answered, the session is closed, and the
// stream ends with UNAVAILABLE so the client reconnects elsewhere.
func serveStream[Req, Resp any](stream bidi[Req, Resp], sess session[Req, Resp], drain <-chan struct{}) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	type received struct {
		req *Req
		err error
	}
	reqs := make(chan received)
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

	ready := false
	var lastWrite <-chan struct{}
	for {
		var req *Req
		var err error
		select {
		case r := <-reqs:
			req, err = r.req, r.err
		case <-drain:
			// Answer nothing more: commands in flight end unanswered, so the client sees
			// the stream end and treats them as lost (reads and pulls are re-sent, writes
			// have an unknown outcome), rather than as failures of their own.
			sendMu.Lock()
			sendErr = errDraining
			sendMu.Unlock()
			cancel()
			inflight.Wait()
			return status.Error(codes.Unavailable, "the server is shutting down; reconnect")
		case <-ctx.Done():
			// The client went away (or a send failed): nothing more can be answered.
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The client closed its side: answer what is in flight, then end.
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
		// A read waits for the writes started before it on this stream, so a client sees
		// its own writes; writes never wait for each other (their order is fixed at start).
		var after <-chan struct{}
		var done chan struct{}
		switch kind {
		case opRead:
			after = lastWrite
		case opWrite:
			done = make(chan struct{})
			lastWrite = done
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			if after != nil {
				select {
				case <-after:
				case <-ctx.Done():
				}
			}
			resp := finish(ctx)
			if done != nil {
				close(done)
			}
			send(resp)
			ObserveCommand(req, resp, began)
		}()
	}
}
