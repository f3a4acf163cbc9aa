package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// settled is the outcome of commit, delete, requeue or extend as -o json/yaml print it.
type settled struct {
	Op    string `json:"op" yaml:"op"`
	Count int    `json:"count" yaml:"count"`
	Total int    `json:"total" yaml:"total"`
}

func parseIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, len(args))
	for i, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil || id == 0 {
			return nil, usagef("item id %q is not a positive integer", a)
		}
		ids[i] = id
	}
	return ids, nil
}

// withItems runs fn with the unary queue data service and the parsed ids, then prints how
// many of them fn settled. One id answers its own error; with several, fewer than all
// settled is an error (exit 1) naming the count.
func (g *globals) withItems(cmd *cobra.Command, op string, args []string, fn func(ctx context.Context, c octopusmqv1.QueueDataServiceClient, ids []uint64) (int32, error)) error {
	ids, err := parseIDs(args[1:])
	if err != nil {
		return err
	}
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	var n int32
	err = g.queueData(func(c octopusmqv1.QueueDataServiceClient) (err error) {
		n, err = fn(ctx, c, ids)
		return err
	})
	if err != nil {
		if len(ids) == 1 {
			return fmt.Errorf("%s of item %d: %w", op, ids[0], err)
		}
		return err
	}
	t := &table{}
	t.add(fmt.Sprintf("%s: %d of %d items", op, n, len(ids)))
	if err := emit(cmd.OutOrStdout(), g.output, settled{Op: op, Count: int(n), Total: len(ids)}, t); err != nil {
		return err
	}
	if int(n) < len(ids) {
		return fmt.Errorf("%s: %d of %d ids succeeded (the others were not found or not active)", op, n, len(ids))
	}
	return nil
}

const idsHelp = `

An active item can be settled by id whoever pulled it: items pulled by 'octopusctl queue
pull' (without --commit) or over REST stay leased for the queue's lease; items pulled on
a client's stream are leased until that stream closes (then they return to the queue).
With one id the exit code tells why it failed (3: no such item, 4: the item is not
active); with several, the number settled is printed and fewer than all exits 1.`

func queueIDsCmd(g *globals, op string) *cobra.Command {
	short := "Commit active items: remove them for good"
	if op == "delete-items" {
		short = "Delete waiting or active items"
	}
	return &cobra.Command{
		Use:               op + " QUEUE ID...",
		Short:             short,
		Long:              short + "." + idsHelp,
		Example:           fmt.Sprintf("  octopusctl queue %s jobs 17\n  octopusctl queue %s jobs 17 18 19", op, op),
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withItems(cmd, op, args, func(ctx context.Context, c octopusmqv1.QueueDataServiceClient, ids []uint64) (int32, error) {
				if op == "commit" {
					r, err := c.CommitItems(ctx, &octopusmqv1.CommitItemsRequest{QueueName: args[0], Ids: ids})
					return r.GetCount(), err
				}
				r, err := c.DeleteItems(ctx, &octopusmqv1.DeleteItemsRequest{QueueName: args[0], Ids: ids})
				return r.GetCount(), err
			})
		}),
	}
}

func queueRequeueCmd(g *globals) *cobra.Command {
	var (
		priority   uint32
		ttl, delay time.Duration
	)
	c := &cobra.Command{
		Use:   "requeue QUEUE ID...",
		Short: "Return active items to waiting (delivery count + 1)",
		Long:  "Return active items to waiting (delivery count + 1), optionally with a new priority, ttl or delay." + idsHelp,
		Example: `  octopusctl queue requeue jobs 17
  octopusctl queue requeue jobs 17 18 --priority 3 --delay 10s`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withItems(cmd, "requeue", args, func(ctx context.Context, c octopusmqv1.QueueDataServiceClient, ids []uint64) (int32, error) {
				items := make([]*pb.RequeueItem, len(ids))
				for i, id := range ids {
					items[i] = &pb.RequeueItem{Id: id, Ttl: dpb(ttl), Delay: dpb(delay)}
					if cmd.Flags().Changed("priority") {
						p := priority
						items[i].Priority = &p
					}
				}
				r, err := c.RequeueItems(ctx, &octopusmqv1.RequeueItemsRequest{QueueName: args[0], Items: items})
				return r.GetCount(), err
			})
		}),
	}
	f := c.Flags()
	f.Uint32Var(&priority, "priority", 0, "new priority (default: keep the item's)")
	f.DurationVar(&ttl, "ttl", 0, "new time to live from now (0: never expires)")
	f.DurationVar(&delay, "delay", 0, "visible again only after this long")
	return c
}

func queueExtendCmd(g *globals) *cobra.Command {
	var lease time.Duration
	c := &cobra.Command{
		Use:   "extend QUEUE ID...",
		Short: "Renew the lease of active items",
		Long:  "Renew the lease of active items to --lease from now (0: the queue's lease)." + idsHelp,
		Example: `  octopusctl queue extend jobs 17 --lease 5m
  octopusctl queue extend jobs 17 18`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withItems(cmd, "extend", args, func(ctx context.Context, c octopusmqv1.QueueDataServiceClient, ids []uint64) (int32, error) {
				r, err := c.ExtendItems(ctx, &octopusmqv1.ExtendItemsRequest{QueueName: args[0], Ids: ids, Lease: dpb(lease)})
				return r.GetCount(), err
			})
		}),
	}
	c.Flags().DurationVar(&lease, "lease", 0, "new lease from now (0: the queue's lease)")
	return c
}
