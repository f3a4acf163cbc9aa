package service

import (
	"context"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// pullOp activates up to batchSize items for session, waiting up to timeout for the first.
// paused reports a paused queue (the caller answers QUEUE_PAUSED where it has no items).
// At most MaxBatch items are pulled, and only as many as fit in MaxResponseBytes: the state
// stops leasing there, so every leased item is delivered.
//
// The leader serves a pull that would lease nothing from its own state, without a log
// entry: it waits in the queue's line (Notifier.HoldOne), and proposes a pull only when
// its state shows an item for the session. A change wakes only as many waiters as it made
// items ready (state.wakePullers), each of which leaves the line to try and, when another
// pull was first, comes back to its place; one woken that gives up passes the wakeup on
// (Hold.Release). An empty
// answer (timeout 0, or the wait ran out) is given after a read barrier, so a deposed
// leader does not answer it. Unlike the proposing pull it replaces, the waiting starts when
// finish runs: the stream starts waits behind its earlier writes, as reads.
func (s *Service) pullOp(queue string, session uint64, batchSize int32, timeout time.Duration) func(context.Context) ([]*pb.Item, bool, *apierr.Error) {
	n := min(max(batchSize, 1), int32(s.limits.MaxBatch))
	cmd := &raftpb.QueuePull{Queue: queue, Session: session, Max: uint32(n), MaxBytes: uint64(s.limits.MaxResponseBytes - itemOverhead)}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	return func(ctx context.Context) ([]*pb.Item, bool, *apierr.Error) {
		pr, err := s.pullWait(ctx, cmd, deadline)
		if err != nil {
			return nil, false, err
		}
		items := make([]*pb.Item, len(pr.Items))
		for i, d := range pr.Items {
			items[i] = d.Item
			if d.Compressed {
				v, derr := decompress(d.Item.GetValue())
				if derr != nil {
					return nil, false, apierr.From(derr)
				}
				items[i].Value = v
			}
		}
		return items, pr.Paused, nil
	}
}

// pullWait runs one pull: proposals only when the leader's state shows an item for the
// session (or this node does not lead, so the proposal answers where to go).
func (s *Service) pullWait(ctx context.Context, cmd *raftpb.QueuePull, deadline time.Time) (*state.PullResult, *apierr.Error) {
	key := state.QueueKey(cmd.GetQueue())
	notify := s.node.Notifier()
	var seq uint64 // this waiter's place in line, kept when it looks again
	for {
		hold := notify.HoldOneAt(key, seq)
		seq = hold.Seq()
		ready, _, qerr := s.node.PullReady(cmd.GetQueue(), cmd.GetSession())
		if ready || qerr != nil || !s.node.IsLeader() {
			// Try, out of line. A wakeup that came since the place was taken is passed on,
			// not used: it may be for an item this pull will not take (the check may have
			// seen another), and waking one too many only costs a look.
			hold.Release()
			pr, fault := wait(ctx, s, s.node.Pull(cmd))
			if fault != nil {
				return nil, fault
			}
			if len(pr.Items) > 0 {
				return pr, nil
			}
			// Another pull leased the item first: wait for the next one, if time is left.
			if deadline.IsZero() || !time.Now().Before(deadline) {
				return pr, nil
			}
			continue
		}
		if deadline.IsZero() || !time.Now().Before(deadline) {
			hold.Release()
			return s.emptyPull(ctx, cmd.GetQueue())
		}
		timer := time.NewTimer(time.Until(deadline))
		endWait := waitBegin("pull")
		select {
		case <-hold.C():
			timer.Stop()
			hold.Woke()
			hold.Release()
			endWait()
		case <-timer.C:
			hold.Release()
			endWait()
			return s.emptyPull(ctx, cmd.GetQueue())
		case <-ctx.Done():
			timer.Stop()
			hold.Release()
			endWait()
			return nil, s.toFault(ctx.Err())
		}
	}
}

// emptyPull answers a pull that leased nothing, from the leader's state once a read
// barrier confirmed it still leads (a deposed leader answers LEADER_SWITCH instead).
func (s *Service) emptyPull(ctx context.Context, queue string) (*state.PullResult, *apierr.Error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	_, paused, err := s.node.PullReady(queue, 0)
	if err != nil {
		return nil, err
	}
	return &state.PullResult{Paused: paused}, nil
}
