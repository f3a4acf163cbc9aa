package main

import (
	"context"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// queueData calls the unary queue data service (QueueDataService, the one behind REST)
// through the admin client: the nodes of --addr in turn until one answers (followers
// forward it to the leader), with --token and --tls-ca like every other call.
//
// octopusctl pulls through it rather than through client.QueueClient because items pulled
// on a stream are returned to the queue when the stream closes — that is, when octopusctl
// exits — while items pulled here belong to no stream and stay leased for the queue's
// lease, so a later `octopusctl queue commit ID` finds them active.
func (g *globals) queueData(call func(octopusmqv1.QueueDataServiceClient) error) error {
	a, err := g.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	return a.QueueData(context.Background(), true, call)
}
