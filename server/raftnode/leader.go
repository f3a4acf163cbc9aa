package raftnode

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// leaderLoop follows leadership changes. On gaining leadership it waits for a barrier (the
// whole log applied), then records its client address in the state and runs the deadline
// ticker until leadership ends. A new leader therefore fires no deadline before it has
// applied every entry of its predecessor, and deadlines are absolute times in the state,
// so none is ever shortened by a leader change.
func (n *Node) leaderLoop() {
	defer n.wg.Done()
	obs := n.raft.LeaderCh()
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-obs:
			if !isLeader {
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				n.lead(ctx)
			}()
			// Wait for leadership to end (or shutdown).
			for isLeader {
				select {
				case <-n.stop:
					cancel()
					<-done
					return
				case isLeader = <-obs:
				}
			}
			cancel()
			<-done
			n.mu.Lock()
			n.leaderReady = make(chan struct{})
			n.mu.Unlock()
			n.state.Notifier().TouchAll() // waiters re-check and learn of the new leader
		}
	}
}

// lead runs while this node is the leader.
func (n *Node) lead(ctx context.Context) {
	// A bounded barrier, retried: an unbounded one can hang forever if Raft shuts down
	// while the barrier is queued.
	for {
		err := n.raft.Barrier(5 * time.Second).Error()
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, raft.ErrRaftShutdown) || errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			n.log.Debug("leader barrier abandoned", "err", err)
			return
		}
		n.log.Warn("leader barrier failed; retrying", "err", err)
	}
	// The configuration may have come from a snapshot rather than through the FSM.
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		n.fsm.setConfiguration(f.Configuration())
	}
	n.clock.settle()
	n.mu.Lock()
	close(n.leaderReady)
	n.mu.Unlock()
	n.log.Info("leading the cluster", "node", n.cfg.NodeID, "applied", n.AppliedIndex())
	// The record carries this binary's log format (log_format.go), so a leader upgraded
	// in place reports it too.
	if rec := n.state.MemberRecord(n.cfg.NodeID); n.cfg.ClientAddress != "" && (rec.GetClientAddress() != n.cfg.ClientAddress || rec.GetLogFormat() != LogFormat) {
		upd := &raftpb.SetMemberInfo{Id: n.cfg.NodeID, ClientAddress: n.cfg.ClientAddress, Promote: rec.GetPromote(), LogFormat: LogFormat}
		if _, err := n.prop.submit(raftpb.Type_TYPE_SET_MEMBER_INFO, upd).Wait(ctx); err != nil {
			n.log.Warn("recording client address", "err", err)
		}
	}
	n.ensureClusterID(ctx)
	n.tick(ctx)
}

// tick proposes a Tick entry whenever the state's earliest deadline has passed on the
// log's clock, so lease ends, expiries and delays fire even when no other command arrives,
// and after a heartbeat without any entry, so an idle log still records the time.
func (n *Node) tick(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ticked int64 // the deadline the last tick was for
	for {
		applied := n.fsm.waitApplied()
		now, since := n.clock.peek()
		wait := n.clock.heartbeat - since
		due := wait <= 0
		if d := n.state.NextDeadline(); d != 0 {
			switch {
			case d > now:
				wait = min(wait, realTimeTo(d-now))
			case d == ticked:
				// A tick stamped at or past d did not clear it: the wall clock stepped back
				// between reading and stamping, or an engine bug. Do not spin on it.
				n.log.Warn("a deadline survived its tick; ticking again in a second", "deadline", time.Unix(0, d))
				wait = min(wait, time.Second)
				ticked = 0
			default:
				ticked, due = d, true
			}
		}
		if due {
			_, err := n.prop.submit(raftpb.Type_TYPE_TICK, &raftpb.Tick{}).Wait(ctx)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				continue
			}
			n.log.Debug("tick", "err", err)
			wait, ticked = 50*time.Millisecond, 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-applied: // the earliest deadline may have changed
		case <-timer.C:
		}
	}
}
