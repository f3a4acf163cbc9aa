package service

import (
	"context"
	"time"

	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
)

// attempt is one try of a command that may have to wait: an enqueue into a full queue, a
// lock of a busy key. It is started in request order (startAttemptIn), then finished
// concurrently (finish), which retries after each wakeup of its queue or storage until it
// succeeds, fails for good, or its deadline passes.
type attempt[T any] struct {
	s        *Service
	key      string // notifier key
	submit   func() raftnode.Future[T]
	deadline time.Time
	// again says whether a refusal is worth waiting for another try.
	again func(*apierr.Error) bool
	// ready, when set, says whether another try may succeed now (see finish).
	ready func() bool
	// kind names the wait in metrics (waitBegin).
	kind string
	// line, when set, takes the attempt's place in a line (Notifier.HoldLock) instead of a
	// hold on key's channel: only the changes that let it proceed wake it, one waiter per
	// change. seq keeps the place of an earlier hold (0: a new place at the end). The
	// attempt is out of line while it tries (see sleepInLine).
	line func(seq uint64) *state.Hold
	seq  uint64
	// passOn, when set, says whether a wakeup this attempt cannot use (ready is false) may
	// be of use to those behind it in line: it then passes it on (Hold.PassOn) instead of
	// using it up (a batch enqueue too large for the room one freed slot makes leaves it to
	// a smaller one behind it).
	passOn func() bool

	wake    *state.Hold
	pending raftnode.Future[T]
}

// startAttemptIn submits the first try. The wakeup channel is taken before the submission,
// so a change applied after the try is never missed; with line set, the attempt waits in
// that line (see attempt.line) instead.
func startAttemptIn[T any](s *Service, kind, key string, line func(uint64) *state.Hold, submit func() raftnode.Future[T], timeout time.Duration, again func(*apierr.Error) bool) *attempt[T] {
	a := &attempt[T]{s: s, kind: kind, key: key, line: line, submit: submit, again: again}
	if timeout > 0 {
		// Without a timeout there is no retry, so nothing to be woken for.
		a.deadline = time.Now().Add(timeout)
		if line == nil {
			a.wake = s.node.Notifier().Hold(key)
		}
	}
	a.pending = submit()
	return a
}

// finish waits for the result, retrying while again says so and time remains. The last
// result is returned (still refused when the deadline passed). It releases the attempt's
// wait, so nothing is left in the notifier once it returns.
//
// With ready set, a wakeup leads to another try only when ready says it may succeed (the
// leader's own state shows a free key): waiting itself writes nothing to the log, however
// often the storage changes meanwhile.
func (a *attempt[T]) finish(ctx context.Context) (T, *apierr.Error, error) {
	defer func() { a.wake.Release() }()
	for {
		v, fault, err := a.pending.Wait(ctx)
		if err != nil || fault == nil || !a.again(fault) || a.deadline.IsZero() || !time.Now().Before(a.deadline) {
			return v, fault, err
		}
		sleep := a.sleep
		if a.line != nil {
			sleep = a.sleepInLine
		}
		if err := sleep(ctx); err != nil || !time.Now().Before(a.deadline) {
			return v, fault, err
		}
		a.pending = a.submit()
	}
}

// sleep waits until a wakeup says another try may succeed, the deadline passes (nil:
// finish sees the deadline) or ctx ends. The wait is counted in metrics while it lasts.
func (a *attempt[T]) sleep(ctx context.Context) error {
	defer waitBegin(a.kind)()
	timer := time.NewTimer(time.Until(a.deadline))
	defer timer.Stop()
	for {
		select {
		case <-a.wake.C():
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		// The wakeup is used: the waiter looks again, keeping its place in line (a try
		// that fails leaves it first, so a line is served in order).
		a.wake.Woke()
		seq := a.wake.Seq()
		a.wake.Release()
		a.wake = a.hold(seq)
		if a.ready == nil || !a.s.node.IsLeader() || a.ready() {
			return nil
		}
	}
}

// sleepInLine is sleep for an attempt in a line: it takes its place (the one it had, once
// it had one) before it looks at the state, and leaves the line to try, so a change
// during the try wakes the next waiter rather than this one again. A try that fails comes
// back to its place: no wakeup is lost (its place is taken before it looks) and the line
// is served in order.
func (a *attempt[T]) sleepInLine(ctx context.Context) error {
	defer waitBegin(a.kind)()
	timer := time.NewTimer(time.Until(a.deadline))
	defer timer.Stop()
	for {
		a.wake = a.line(a.seq)
		a.seq = a.wake.Seq()
		if !a.s.node.IsLeader() || a.ready() {
			a.wake.Release()
			a.wake = nil
			return nil
		}
		select {
		case <-a.wake.C():
			if a.passOn != nil && !a.ready() && a.passOn() {
				a.wake.PassOn() // to the next behind it; it looks again itself
			} else {
				a.wake.Woke() // used: it looks again
				a.wake.Release()
			}
			a.wake = nil
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hold takes the attempt's wait on its key's channel again, or its place in line (seq).
func (a *attempt[T]) hold(seq uint64) *state.Hold {
	if a.line != nil {
		return a.line(seq)
	}
	return a.s.node.Notifier().Hold(a.key)
}
