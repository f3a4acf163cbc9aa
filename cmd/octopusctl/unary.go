package main

import (
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
)

// queueData calls the unary queue data service (QueueDataService, the one behind REST) on
// the nodes of --addr in turn until one answers; followers forward it to the leader.
//
// octopusctl pulls through it rather than through client.QueueClient because items pulled
// on a stream are returned to the queue when the stream closes — that is, when octopusctl
// exits — while items pulled here belong to no stream and stay leased for the queue's
// lease, so a later `octopusctl queue commit ID` finds them active.
func (g *globals) queueData(call func(octopusmqv1.QueueDataServiceClient) error) error {
	var errs []error
	for _, addr := range strings.Split(g.addr, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		cc, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(client.MaxReceiveBytes)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = call(octopusmqv1.NewQueueDataServiceClient(cc))
		cc.Close()
		if status.Code(err) != codes.Unavailable {
			return err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return usagef("--addr names no address")
	}
	return errors.Join(errs...)
}
