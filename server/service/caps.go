package service

import (
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// Caps on the number of queues and storages (Limits.MaxQueues, Limits.MaxStorages).
//
// They are checked here, at the service edge of the node that runs the create (the leader:
// followers forward management calls), against the leader's applied state, not inside the
// replicated state: a cap there would have to travel in the log so that every replica
// enforced the same value, and a node restarted with another flag value would then replay
// the log differently. The cap is therefore soft by the creates in flight at once: N
// concurrent creates that all see room may all succeed. The creates themselves stay
// deterministic (the state applies whatever the log says).

func (s *Service) checkQueueCap() *apierr.Error {
	queues, _ := s.node.Sizes()
	if queues >= s.limits.MaxQueues {
		return capReached("queues", queues, "--max-queues", s.limits.MaxQueues)
	}
	return nil
}

func (s *Service) checkStorageCap() *apierr.Error {
	_, storages := s.node.Sizes()
	if storages >= s.limits.MaxStorages {
		return capReached("storages", storages, "--max-storages", s.limits.MaxStorages)
	}
	return nil
}

// capReached is RESOURCE_EXHAUSTED (HTTP 429) naming the cap and its flag.
func capReached(what string, have int, flag string, max int) *apierr.Error {
	return &apierr.Error{
		Status: pb.StatusCode_STATUS_CODE_ERROR, Code: codes.ResourceExhausted,
		Msg: fmt.Sprintf("%d %s exist, the cap (%s) is %d: delete some or raise the cap", have, what, flag, max),
	}
}
