package client

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// directHeader asks the node a stream reaches to serve it only if it leads: a follower
// then answers LEADER_SWITCH with the leader's address (which the client follows) instead
// of relaying the stream to the leader.
const directHeader = "x-octopusmq-direct"

// WithRelay lets a follower relay the client's streams to the leader instead of the
// client following LEADER_SWITCH to the leader itself (the default). Each command then
// crosses one more hop; it exists to measure that cost and for setups where only some
// nodes are reachable.
func WithRelay() Option {
	return func(o *options) { o.relayed = true }
}

// streamContext is the context a stream is opened with: it carries directHeader unless
// WithRelay was given.
func streamContext(ctx context.Context, o *options) context.Context {
	if o.relayed {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, directHeader, "1")
}
