package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// queueJSON is a queue as -o json/yaml print it.
type queueJSON struct {
	Name            string `json:"name" yaml:"name"`
	Priorities      uint32 `json:"priorities" yaml:"priorities"`
	MaxSize         uint32 `json:"maxSize" yaml:"maxSize"`
	Count           uint32 `json:"count" yaml:"count"`
	Active          uint32 `json:"active" yaml:"active"`
	Paused          bool   `json:"paused" yaml:"paused"`
	Lease           string `json:"lease" yaml:"lease"`
	MaxDeliveries   uint32 `json:"maxDeliveries" yaml:"maxDeliveries"`
	DeadLetterQueue string `json:"deadLetterQueue,omitempty" yaml:"deadLetterQueue,omitempty"`
}

func toQueueJSON(q client.QueueDetails) queueJSON {
	return queueJSON{
		Name: q.Name, Priorities: q.Priorities, MaxSize: q.MaxSize, Count: q.Count,
		Active: q.Active, Paused: q.Paused, Lease: q.Lease.String(),
		MaxDeliveries: q.MaxDeliveries, DeadLetterQueue: q.DeadLetterQueue,
	}
}

func queueTable(qs []queueJSON) *table {
	t := &table{header: []string{"NAME", "COUNT", "ACTIVE", "MAX-SIZE", "PRIORITIES", "PAUSED", "LEASE", "MAX-DELIVERIES", "DLQ"}}
	for _, q := range qs {
		dlq := q.DeadLetterQueue
		if dlq == "" {
			dlq = "-"
		}
		t.add(q.Name, q.Count, q.Active, q.MaxSize, q.Priorities, q.Paused, q.Lease, q.MaxDeliveries, dlq)
	}
	return t
}

// done is the result of a command that changes something and has nothing else to say.
type done struct {
	Kind   string `json:"kind" yaml:"kind"`
	Name   string `json:"name" yaml:"name"`
	Action string `json:"action" yaml:"action"`
}

func (g *globals) printDone(cmd *cobra.Command, kind, name, action string) error {
	t := &table{}
	t.add(fmt.Sprintf("%s %q %s", kind, name, action))
	return emit(cmd.OutOrStdout(), g.output, done{Kind: kind, Name: name, Action: action}, t)
}

func newQueueCmd(g *globals) *cobra.Command {
	return newGroup("queue", "Manage queues and their items",
		`  octopusctl queue list
  octopusctl queue create jobs
  printf 'a\nb\n' | octopusctl queue enqueue jobs --lines
  octopusctl queue pull jobs -n 10 --commit`,
		queueListCmd(g), queueGetCmd(g), queueCreateCmd(g), queueDeleteCmd(g),
		queuePauseCmd(g, true), queuePauseCmd(g, false), queueResizeCmd(g),
		queueEnqueueCmd(g), queuePullCmd(g),
		queueIDsCmd(g, "commit"), queueIDsCmd(g, "delete-items"), queueRequeueCmd(g), queueExtendCmd(g),
		queuePeekCmd(g), queuePurgeCmd(g), queueDLQCmd(g), queueStatsCmd(g),
	)
}

// completeQueues completes the first argument with the cluster's queue names.
func (g *globals) completeQueues(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return g.completeNames(cmd, args, func(ctx context.Context, a *client.AdminClient) ([]string, error) {
		qs, err := a.ListQueues(ctx)
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = q.Name
		}
		return names, err
	})
}

func queueListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the queues with their counters",
		Example: `  octopusctl queue list
  octopusctl queue list -o json | jq '.[] | select(.count > 0) | .name'`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				qs, err := a.ListQueues(ctx)
				if err != nil {
					return err
				}
				out := make([]queueJSON, len(qs))
				for i, q := range qs {
					out[i] = toQueueJSON(q)
				}
				return emit(cmd.OutOrStdout(), g.output, out, queueTable(out))
			})
		}),
	}
}

func queueGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "get QUEUE",
		Short:             "Show one queue's settings and counters",
		Example:           `  octopusctl queue get jobs -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				qs, err := a.ListQueues(ctx)
				if err != nil {
					return err
				}
				for _, q := range qs {
					if q.Name == args[0] {
						j := toQueueJSON(q)
						return emit(cmd.OutOrStdout(), g.output, j, queueTable([]queueJSON{j}))
					}
				}
				return fmt.Errorf("%w: queue %q", client.ErrQueueNotFound, args[0])
			})
		}),
	}
}

func queueCreateCmd(g *globals) *cobra.Command {
	var cfg client.QueueConfig
	var ensure bool
	c := &cobra.Command{
		Use:   "create QUEUE",
		Short: "Create a queue",
		Example: `  octopusctl queue create jobs
  octopusctl queue create orders --max-size 10000 --lease 30s --max-deliveries 5 --dead-letter-queue jobs
  octopusctl queue create jobs --if-not-exists`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) (err error) {
				cfg.Name = args[0]
				if ensure {
					err = a.EnsureQueue(ctx, cfg)
				} else {
					err = a.CreateQueue(ctx, cfg)
				}
				if err != nil {
					return err
				}
				return g.printDone(cmd, "queue", cfg.Name, "created")
			})
		}),
	}
	f := c.Flags()
	f.Uint32Var(&cfg.Priorities, "priorities", 0, "priority levels 1-32 (0: 32)")
	f.Uint32Var(&cfg.MaxSize, "max-size", 0, "most waiting + active items (0: unlimited)")
	f.DurationVar(&cfg.Lease, "lease", 0, "how long a pulled item stays leased (0: 60s)")
	f.Uint32Var(&cfg.MaxDeliveries, "max-deliveries", 0, "deliveries after which an item is dead-lettered (0: unlimited)")
	f.StringVar(&cfg.DeadLetterQueue, "dead-letter-queue", "", "existing queue receiving dead-lettered and expired items")
	f.BoolVar(&ensure, "if-not-exists", false, "succeed when the queue exists already (its settings are left as they are)")
	return c
}

func queueDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete QUEUE",
		Aliases:           []string{"rm"},
		Short:             "Delete a queue and its items (items alone: delete-items)",
		Example:           `  octopusctl queue delete jobs`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.DeleteQueue(ctx, args[0]); err != nil {
					return err
				}
				return g.printDone(cmd, "queue", args[0], "deleted")
			})
		}),
	}
}

func queuePauseCmd(g *globals, pause bool) *cobra.Command {
	use, short, action := "resume", "Resume deliveries of a paused queue", "resumed"
	if pause {
		use, short, action = "pause", "Stop deliveries (pulls wait, then fail as paused); enqueues go on", "paused"
	}
	return &cobra.Command{
		Use:               use + " QUEUE",
		Short:             short,
		Example:           "  octopusctl queue " + use + " jobs",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) (err error) {
				if pause {
					err = a.PauseQueue(ctx, args[0])
				} else {
					err = a.ResumeQueue(ctx, args[0])
				}
				if err != nil {
					return err
				}
				return g.printDone(cmd, "queue", args[0], action)
			})
		}),
	}
}

func queueResizeCmd(g *globals) *cobra.Command {
	var maxSize uint32
	c := &cobra.Command{
		Use:   "resize QUEUE --max-size N",
		Short: "Change a queue's max size (not below its current count; 0: unlimited)",
		Example: `  octopusctl queue resize jobs --max-size 500
  octopusctl queue resize jobs --max-size 0   # unlimited`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.ResizeQueue(ctx, args[0], maxSize); err != nil {
					return err
				}
				return g.printDone(cmd, "queue", args[0], fmt.Sprintf("resized to max size %d", maxSize))
			})
		}),
	}
	c.Flags().Uint32Var(&maxSize, "max-size", 0, "new max size (0: unlimited)")
	_ = c.MarkFlagRequired("max-size")
	return c
}
