package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/raftnode"
)

// DefaultLeaderWait bounds how long a request waits for a leader (and its address) when
// none is set with SetLeaderWait.
const DefaultLeaderWait = 10 * time.Second

// SetLeaderWait sets how long a request waits for a leader during an election
// (--leader-wait). Call it before serving.
func (s *Service) SetLeaderWait(d time.Duration) {
	if d > 0 {
		s.leaderWait = d
	}
}

func (s *Service) leaderWaitOrDefault() time.Duration {
	if s.leaderWait > 0 {
		return s.leaderWait
	}
	return DefaultLeaderWait
}

// leaderSwitch answers a request this node did not run because it does not lead: with
// LEADER_SWITCH and the leader's client address once both are known (waiting up to the
// leader wait; never an empty address). When no leader is known here within
// noLeaderGrace, the other members are asked; when none names one within the leader wait
// (or the wait is cut short: shutdown), the answer is "unavailable".
func (s *Service) leaderSwitch() *apierr.Error {
	wait := s.leaderWaitOrDefault()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	go func() { // shutdown ends the wait
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		changed := s.node.LeaderChanged()
		if id, _ := s.node.Leader(); id == "" {
			// No leader known here (an election, or this node is cut off): wait for one,
			// asking the other members after a few election timeouts, since they may know
			// it while this node does not. LEADER_SWITCH never carries an empty address:
			// with no leader anywhere within the leader wait, the answer is "unavailable".
			if addr := s.waitAnyLeader(ctx); addr != "" {
				return apierr.New(pb.StatusCode_STATUS_CODE_LEADER_SWITCH, "%s", addr)
			}
			if ctx.Err() != nil {
				return noLeader(wait)
			}
		}
		id, addr, err := s.waitLeaderAddress(ctx)
		if err != nil {
			if ctx.Err() == nil {
				return behind(err)
			}
			return noLeader(wait)
		}
		if id != s.node.ID() {
			return apierr.New(pb.StatusCode_STATUS_CODE_LEADER_SWITCH, "%s", addr)
		}
		// This node still leads while refusing the command: a leadership transfer is in
		// progress. Give it the transfer's time to finish, then point at whoever leads.
		t := time.NewTimer(selfLeaderGrace)
		select {
		case <-changed:
			t.Stop()
			continue
		case <-ctx.Done():
		case <-t.C:
		}
		return apierr.New(pb.StatusCode_STATUS_CODE_LEADER_SWITCH, "%s", addr)
	}
}

// waitLeaderAddress waits (bounded by ctx) for the leader's client address. When a leader
// is known but its address is not applied here within addressGrace, this node is behind
// the log (restarted after an outage: Raft backs off replicating to a peer it could not
// reach, up to about 10 s): it asks the other members and, failing that, returns an error
// at once, so the client tries another node instead of waiting here.
func (s *Service) waitLeaderAddress(ctx context.Context) (id, addr string, err error) {
	gctx, cancel := context.WithTimeout(ctx, addressGrace)
	id, addr, err = s.node.WaitLeaderAddress(gctx)
	cancel()
	if err == nil || ctx.Err() != nil {
		return id, addr, err
	}
	leader, _ := s.node.Leader()
	if leader == "" {
		// The leader was lost meanwhile: wait for the next one as before.
		return s.node.WaitLeaderAddress(ctx)
	}
	if s.locateLeader != nil {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		addr := s.locateLeader(lctx)
		cancel()
		if addr != "" {
			return leader, addr, nil
		}
	}
	return "", "", fmt.Errorf("this node has not caught up with the log yet: the client address of the leader %q is not known here; retry (another node can serve it)", leader)
}

// addressGrace bounds the wait for a known leader's client address to be applied here
// before asking the other members: a node that is up to date has it within milliseconds.
const addressGrace = 2 * time.Second

// behind is the answer of a node that knows the leader but not its client address
// (waitLeaderAddress): UNAVAILABLE, so the client retries elsewhere.
func behind(err error) *apierr.Error {
	return &apierr.Error{Status: pb.StatusCode_STATUS_CODE_ERROR, Code: codes.Unavailable, Msg: "unavailable: " + err.Error()}
}

// noLeaderGrace is how long a command refused for want of a leader waits for one to be
// known here before asking the other members: four election timeouts (500 ms), about one
// election.
const noLeaderGrace = 2 * time.Second

// SetLeaderLocator sets how a node that knows no leader asks the other members for the
// leader's client address ("" when none knows one). Call it before serving.
func (s *Service) SetLeaderLocator(locate func(context.Context) string) { s.locateLeader = locate }

// waitAnyLeader waits, bounded by ctx, until this node knows a leader (it returns "") or,
// after noLeaderGrace and then every second, another member names one (its address).
func (s *Service) waitAnyLeader(ctx context.Context) string {
	step := noLeaderGrace
	for {
		wctx, cancel := context.WithTimeout(ctx, step)
		_, _, err := s.node.WaitLeader(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ""
		}
		if s.locateLeader != nil {
			lctx, cancel := context.WithTimeout(ctx, time.Second)
			addr := s.locateLeader(lctx)
			cancel()
			if addr != "" {
				return addr
			}
		}
		step = time.Second
	}
}

// selfLeaderGrace is how long a leader that refused a command (transferring leadership)
// waits for the new leader before naming itself: Raft's transfer timeout is one election
// timeout (500 ms).
const selfLeaderGrace = time.Second

// noLeader is the answer when no leader (with a known client address) appeared within the
// leader wait: gRPC UNAVAILABLE (HTTP 503); on a stream, ERROR with the same message.
func noLeader(wait time.Duration) *apierr.Error {
	return &apierr.Error{Status: pb.StatusCode_STATUS_CODE_ERROR, Code: codes.Unavailable,
		Msg: "unavailable: no leader elected (or its client address unknown) within " + wait.String() + "; retry"}
}

// setupBarrier makes a stream's setup linearizable. It waits at most the leader wait: when
// another node leads it answers LEADER_SWITCH with that node's address; when no leader
// appears in time it ends the stream with gRPC UNAVAILABLE (end != nil), so the client
// reconnects, rather than leaving the setup unanswered.
func (s *Service) setupBarrier(ctx context.Context) (fault *apierr.Error, end error) {
	wait := s.leaderWaitOrDefault()
	bctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := s.node.ReadBarrier(bctx)
	switch {
	case err == nil:
		return nil, nil
	case ctx.Err() != nil:
		return s.toFault(ctx.Err()), nil
	case errors.Is(err, context.DeadlineExceeded):
		return nil, status.Error(codes.Unavailable, noLeader(wait).Msg)
	case errors.Is(err, raftnode.ErrShutdown):
		return nil, status.Error(codes.Unavailable, "the server is shutting down; reconnect")
	}
	f := s.toFault(err)
	if f.Status != pb.StatusCode_STATUS_CODE_LEADER_SWITCH && f.Code == codes.Unavailable {
		return nil, status.Error(codes.Unavailable, f.Msg)
	}
	return f, nil
}
