package service

import (
	"context"
	"errors"
	"strconv"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/raftnode"
)

// toFault turns any error of an operation into the error a client gets. ErrNotLeader
// becomes LEADER_SWITCH carrying the leader's client address (the request did not run),
// waiting up to the leader wait for one (see leaderSwitch).
func (s *Service) toFault(err error) *apierr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftnode.ErrNotLeader):
		return s.leaderSwitch()
	case errors.Is(err, raftnode.ErrOutcomeUnknown):
		return apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return apierr.New(pb.StatusCode_STATUS_CODE_TIMEOUT, "deadline exceeded before the outcome was known")
	case errors.Is(err, context.Canceled):
		return apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "request cancelled")
	}
	return apierr.From(err)
}

func parseUint(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}
