package raftnode

import (
	"context"
	"crypto/rand"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// ensureClusterID gives the cluster an id when its state has none (a new cluster, or a state
// from a server before cluster ids): a random one, through the log, so every replica has
// the same.
func (n *Node) ensureClusterID(ctx context.Context) {
	if n.state.ClusterID() != "" {
		return
	}
	if _, err := n.prop.submit(raftpb.Type_TYPE_SET_CLUSTER_ID, &raftpb.SetClusterId{Id: rand.Text()}).Wait(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("recording the cluster id", "err", err)
	}
}
