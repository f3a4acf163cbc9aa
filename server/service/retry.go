package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
)

// attempt is one try of a command that may have to wait: a pull with nothing visible, an
// enqueue into a full queue, a lock of a busy key. It is started in request order (start),
// then finished concurrently (finish), which retries after each wakeup of its queue or
// storage until it succeeds, fails for good, or its deadline passes.
type attempt struct {
	s        *Service
	key      string // notifier key
	typ      raftpb.Type
	payload  proto.Message
	deadline time.Time
	// again says whether a result is worth waiting for another try.
	again func(state.Result) bool

	wake    *state.Hold
	pending *raftnode.Pending
}

// start submits the first try. The wakeup channel is taken before the submission, so a
// change applied after the try is never missed.
func (s *Service) start(key string, typ raftpb.Type, payload proto.Message, timeout time.Duration, again func(state.Result) bool) *attempt {
	a := &attempt{s: s, key: key, typ: typ, payload: payload, again: again}
	if timeout > 0 {
		a.deadline = time.Now().Add(timeout)
	}
	a.wake = s.state.Notifier().Hold(key)
	a.pending = s.node.Submit(typ, payload)
	return a
}

// finish waits for the result, retrying while again says so and time remains. The last
// result is returned (still failing when the deadline passed). It releases the attempt's
// wait, so nothing is left in the notifier once it returns.
func (a *attempt) finish(ctx context.Context) (state.Result, error) {
	defer func() { a.wake.Release() }()
	for {
		res, err := a.pending.Wait(ctx)
		if err != nil || !a.again(res) || a.deadline.IsZero() || !time.Now().Before(a.deadline) {
			return res, err
		}
		timer := time.NewTimer(time.Until(a.deadline))
		endWait := waitBegin(a.typ)
		select {
		case <-a.wake.C():
			timer.Stop()
		case <-timer.C:
			endWait()
			return res, nil
		case <-ctx.Done():
			timer.Stop()
			endWait()
			return res, ctx.Err()
		}
		endWait()
		a.wake.Release()
		a.wake = a.s.state.Notifier().Hold(a.key)
		a.pending = a.s.node.Submit(a.typ, a.payload)
	}
}
