package state

import (
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// The cluster id names a cluster in its backups' headers. A leader that finds the state
// without one proposes a random id (the randomness is the proposer's, outside the state).
// Every replica applies the same proposals in the same order, so they agree on the id (the
// last applied). A restore keeps the restoring cluster's id.

// ClusterID returns the cluster's id ("" until one was applied).
func (s *State) ClusterID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clusterID
}

func (s *State) setClusterID(now int64, r *raftpb.SetClusterId) Result {
	id := r.GetId()
	if id == "" || len(id) > maxClusterIDBytes {
		return Result{Err: apierr.InvalidArgument("cluster id must be 1 to %d bytes", maxClusterIDBytes)}
	}
	s.clusterID = id
	return Result{}
}
