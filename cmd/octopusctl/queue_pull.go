package main

import (
	"context"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// pulled is a pulled item as -o json/yaml print it.
type pulled struct {
	ID            uint64 `json:"id" yaml:"id"`
	Priority      uint32 `json:"priority" yaml:"priority"`
	Key           string `json:"key,omitempty" yaml:"key,omitempty"`
	UniqueKey     string `json:"uniqueKey,omitempty" yaml:"uniqueKey,omitempty"`
	Value         string `json:"value" yaml:"value"`
	DeliveryCount uint32 `json:"deliveryCount" yaml:"deliveryCount"`
	EnqueuedAt    string `json:"enqueuedAt,omitempty" yaml:"enqueuedAt,omitempty"`
}

func fromClientItem(cd codec, it *client.Item) pulled {
	p := pulled{
		ID: it.Id, Priority: it.Priority, Key: cd.encode(it.Key), UniqueKey: cd.encode(it.UniqueKey),
		Value: cd.encode(it.Value), DeliveryCount: it.DeliveryCount,
	}
	if !it.EnqueuedAt.IsZero() {
		p.EnqueuedAt = it.EnqueuedAt.UTC().Format(time.RFC3339Nano)
	}
	return p
}

func fromProtoItem(cd codec, it *pb.Item) pulled {
	p := pulled{
		ID: it.GetId(), Priority: it.GetPriority(), Key: cd.encode(it.GetKey()),
		UniqueKey: cd.encode(it.GetUniqueKey()), Value: cd.encode(it.GetValue()),
		DeliveryCount: it.GetDeliveryCount(),
	}
	if ts := it.GetEnqueuedAt(); ts != nil {
		p.EnqueuedAt = ts.AsTime().UTC().Format(time.RFC3339Nano)
	}
	return p
}

// cell shows a value in a table cell: as it is when it is printable on one line, quoted
// otherwise.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

func pulledTable(items []pulled, header bool) *table {
	t := &table{}
	if header {
		t.header = []string{"ID", "PRIORITY", "DELIVERIES", "KEY", "VALUE"}
	}
	for _, it := range items {
		t.add(it.ID, it.Priority, it.DeliveryCount, cell(it.Key), cell(it.Value))
	}
	return t
}

// followPollWait is the long poll of each pull of --follow without --wait.
const followPollWait = 30 * time.Second

func queuePullCmd(g *globals) *cobra.Command {
	var (
		n                   int
		commit, follow, b64 bool
		wait                time.Duration
	)
	c := &cobra.Command{
		Use:   "pull QUEUE",
		Short: "Pull items (leased for the queue's lease), or pull and commit them with --commit",
		Long: `Pull up to -n items (default 1), waiting up to --wait for the first one, and print them.

Without --commit the items stay leased for the queue's lease (default 60s) after
octopusctl exits: settle them with 'queue commit', 'queue requeue', 'queue delete' or
'queue extend' by id before the lease runs out, or they become visible again.

With --commit the items are pulled on a stream and committed once printed; if octopusctl
is interrupted before the commit they return to the queue at once.

With --follow octopusctl keeps pulling (each pull waiting up to --wait, default 30s) and
prints items as they come until interrupted, or until -n items were pulled. With -o json
each item is then printed as one JSON object per line.`,
		Example: `  octopusctl queue pull jobs
  octopusctl queue pull jobs -n 10 --wait 5s -o json
  octopusctl queue pull jobs -n 100 --commit
  octopusctl queue pull jobs --follow --commit -o json | jq -r .value`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return usagef("-n must not be negative, not %d", n)
			}
			if wait < 0 {
				return usagef("--wait must not be negative, not %v", wait)
			}
			cd := codec{b64}
			limit := n // total to pull; 0 with --follow: until interrupted
			if !follow && limit == 0 {
				limit = 1
			}
			pollWait := wait
			if follow && pollWait == 0 {
				pollWait = followPollWait
			}
			pull, closeFn, err := g.puller(args[0], commit, pollWait, cd)
			if err != nil {
				return err
			}
			defer closeFn()
			w := cmd.OutOrStdout()
			total := 0
			for {
				batch := 1000
				if limit > 0 {
					batch = min(batch, limit-total)
				}
				ctx, cancel := g.ctxPlus(cmd, pollWait)
				items, settle, err := pull(ctx, batch)
				cancel()
				if err != nil {
					if follow && cmd.Context().Err() != nil {
						return nil // interrupted
					}
					if follow && errors.Is(err, client.ErrQueuePaused) {
						continue
					}
					return err
				}
				if items == nil {
					items = []pulled{}
				}
				total += len(items)
				switch {
				case !follow:
					if err := emit(w, g.output, items, pulledTable(items, true)); err != nil {
						return err
					}
				case g.output == formatJSON:
					if err := emitLines(w, items); err != nil {
						return err
					}
				case g.output == formatYAML:
					for _, it := range items {
						if err := emit(w, g.output, it, nil); err != nil {
							return err
						}
					}
				default:
					if err := emit(w, g.output, items, pulledTable(items, total == len(items) && len(items) > 0)); err != nil {
						return err
					}
				}
				if settle != nil {
					if err := settle(); err != nil {
						return err
					}
				}
				if !follow || (limit > 0 && total >= limit) {
					return nil
				}
				if cmd.Context().Err() != nil {
					return nil
				}
			}
		}),
	}
	f := c.Flags()
	f.IntVarP(&n, "n", "n", 0, "items to pull (default 1); with --follow stop after this many (0: until interrupted)")
	f.BoolVar(&commit, "commit", false, "commit the items once printed")
	f.BoolVar(&follow, "follow", false, "keep pulling until interrupted (or -n items)")
	f.DurationVar(&wait, "wait", 0, "wait this long for the first item (0: answer at once; --follow: 30s)")
	f.BoolVar(&b64, "base64", false, "print keys and values as standard base64")
	return c
}

// pullFunc pulls up to n items within ctx; settle (nil when there is nothing to do) is
// called once they are printed.
type pullFunc func(ctx context.Context, n int) (items []pulled, settle func() error, err error)

// puller returns the pull of `queue pull`: with commit, on a stream, committing what it
// printed; without, through the unary data service, leaving the items leased.
func (g *globals) puller(queue string, commit bool, wait time.Duration, cd codec) (pullFunc, func(), error) {
	if !commit {
		return func(ctx context.Context, n int) ([]pulled, func() error, error) {
			var resp *octopusmqv1.PullItemsResponse
			err := g.queueData(func(c octopusmqv1.QueueDataServiceClient) (err error) {
				resp, err = c.PullItems(ctx, &octopusmqv1.PullItemsRequest{QueueName: queue, BatchSize: int32(n), Timeout: dpb(wait)})
				return err
			})
			if err != nil {
				return nil, nil, err
			}
			out := make([]pulled, 0, len(resp.GetItems()))
			for _, it := range resp.GetItems() {
				out = append(out, fromProtoItem(cd, it))
			}
			return out, nil, nil
		}, func() {}, nil
	}
	q, err := client.NewQueueClient(g.addr, queue, append(g.opts(), client.WithPullTimeout(wait))...)
	if err != nil {
		return nil, nil, err
	}
	return func(ctx context.Context, n int) ([]pulled, func() error, error) {
		items, err := q.Pull(ctx, n)
		if err != nil || len(items) == 0 {
			return nil, nil, err
		}
		ids := make([]uint64, len(items))
		out := make([]pulled, len(items))
		for i, it := range items {
			ids[i] = it.Id
			out[i] = fromClientItem(cd, it)
		}
		return out, func() error {
			cctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			return q.Commit(cctx, ids)
		}, nil
	}, func() { q.Close() }, nil
}
