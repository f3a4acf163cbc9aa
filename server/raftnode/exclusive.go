package raftnode

import "context"

// exclusiveOp is a function the proposer runs while no command of its own is in flight.
type exclusiveOp struct {
	ctx  context.Context
	fn   func() error
	done chan error
}

// runExclusive waits until every entry handed to Raft was answered (applied, or failed),
// then runs op. Commands submitted meanwhile wait and go into entries after op returns.
func (p *proposer) runExclusive(op exclusiveOp) {
	p.pending.Wait()
	if err := op.ctx.Err(); err != nil {
		op.done <- err
		return
	}
	op.done <- op.fn()
}

// exclusively runs fn on the proposer when every command proposed before has been applied
// (or failed) and before any later command is proposed. Every change to the state goes
// through the proposer, so on the leader fn sees the state that the next entry would meet.
func (p *proposer) exclusively(ctx context.Context, fn func() error) error {
	op := exclusiveOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case p.exclusive <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stop:
		return ErrShutdown
	}
	return <-op.done
}
