package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
)

// enqueued is one enqueued item as -o json/yaml print it.
type enqueued struct {
	ID        uint64 `json:"id" yaml:"id"`
	Duplicate bool   `json:"duplicate" yaml:"duplicate"`
}

func queueEnqueueCmd(g *globals) *cobra.Command {
	var (
		file, key, uniqueKey string
		lines, compress, b64 bool
		priority             uint32
		ttl, delay, wait     time.Duration
		batch                int
	)
	c := &cobra.Command{
		Use:   "enqueue QUEUE [VALUE]",
		Short: "Enqueue an item (VALUE, -f FILE or stdin), or one item per line with --lines",
		Long: `Enqueue an item whose value is VALUE, the content of -f FILE ("-": stdin) or, without
either, stdin — byte for byte. With --lines every non-empty line is an item (without its
line ending), sent in batches of --batch items: each batch is all or nothing. The ids are
printed in input order; with --unique-key an item whose key is already queued is not added
again and its existing id is printed as a duplicate.`,
		Example: `  octopusctl queue enqueue jobs 'hello'
  octopusctl queue enqueue jobs -f payload.json --priority 5 --ttl 10m
  printf 'a\nb\nc\n' | octopusctl queue enqueue jobs --lines
  octopusctl queue enqueue orders '{"id":123}' --unique-key order-123 --delay 30s`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 && file != "" {
				return usagef("give the value as an argument or with -f, not both")
			}
			if lines && uniqueKey != "" {
				return usagef("--unique-key applies to one item: it cannot be used with --lines")
			}
			if batch < 1 {
				return usagef("--batch must be at least 1, not %d", batch)
			}
			cd := codec{b64}
			var data []byte
			switch {
			case len(args) == 2:
				data = []byte(args[1])
			case file != "" && file != "-":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				data = b
			default:
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				data = b
			}
			tmpl := client.InputItem{Priority: priority, TTL: dpb(ttl), Delay: dpb(delay), Compress: compress}
			var err error
			if key != "" {
				if tmpl.Key, err = cd.decode("--key", key); err != nil {
					return err
				}
			}
			if uniqueKey != "" {
				if tmpl.UniqueKey, err = cd.decode("--unique-key", uniqueKey); err != nil {
					return err
				}
			}
			var values [][]byte
			if lines {
				sc := bufio.NewScanner(bytes.NewReader(data))
				sc.Buffer(nil, len(data)+1)
				for sc.Scan() {
					if l := bytes.TrimSuffix(sc.Bytes(), []byte("\r")); len(l) > 0 {
						values = append(values, l)
					}
				}
				if len(values) == 0 {
					return usagef("--lines: the input has no non-empty line")
				}
			} else {
				values = [][]byte{data}
			}
			for i, v := range values {
				if values[i], err = cd.decode("the value", string(v)); err != nil {
					return err
				}
			}
			q, err := client.NewQueueClient(g.addr, args[0], append(g.opts(), client.WithEnqueueTimeout(wait))...)
			if err != nil {
				return err
			}
			defer q.Close()
			var out []enqueued
			for start := 0; start < len(values); start += batch {
				end := min(start+batch, len(values))
				ctx, cancel := g.ctxPlus(cmd, wait)
				if end-start == 1 && !lines {
					it := tmpl
					it.Value = values[start]
					var r client.EnqueueResult
					r, err = q.EnqueueWithResult(ctx, &it)
					out = append(out, enqueued{ID: r.Id, Duplicate: r.Duplicate})
				} else {
					items := make([]*client.InputItem, 0, end-start)
					for _, v := range values[start:end] {
						it := tmpl
						it.Value = v
						items = append(items, &it)
					}
					var ids []uint64
					ids, err = q.BatchEnqueue(ctx, items)
					for _, id := range ids {
						out = append(out, enqueued{ID: id})
					}
				}
				cancel()
				if err != nil {
					if len(out) > 0 {
						_ = printEnqueued(cmd, g, out)
					}
					return err
				}
			}
			return printEnqueued(cmd, g, out)
		}),
	}
	f := c.Flags()
	f.StringVarP(&file, "file", "f", "", `read the value from FILE ("-": stdin)`)
	f.BoolVar(&lines, "lines", false, "enqueue every non-empty line as an item")
	f.IntVar(&batch, "batch", 500, "items per request with --lines (each request is all or nothing)")
	f.Uint32Var(&priority, "priority", 0, "priority (a higher value is pulled first)")
	f.DurationVar(&ttl, "ttl", 0, "a waiting item older than this is never delivered (0: never expires)")
	f.DurationVar(&delay, "delay", 0, "the item becomes visible this long after it was enqueued")
	f.DurationVar(&wait, "wait", 0, "how long to wait for room in a full queue (0: fail at once)")
	f.StringVar(&key, "key", "", "group key: a group's items go to one consumer at a time")
	f.StringVar(&uniqueKey, "unique-key", "", "deduplication key: while an item with it is queued, enqueueing again adds nothing")
	f.BoolVar(&compress, "compress", false, "store the value compressed")
	f.BoolVar(&b64, "base64", false, "the value (each line with --lines) and keys are standard base64")
	return c
}

func printEnqueued(cmd *cobra.Command, g *globals, out []enqueued) error {
	t := &table{header: []string{"ID", "DUPLICATE"}}
	for _, e := range out {
		t.add(e.ID, e.Duplicate)
	}
	return emit(cmd.OutOrStdout(), g.output, out, t)
}

// dpb is d as an optional protobuf duration: nil when 0.
func dpb(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
