package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// Operator commands on queues: peek, purge, dlq redrive and stats (--watch).

// peeked is a peeked item as -o json/yaml print it.
type peeked struct {
	pulled           `yaml:",inline"`
	VisibleAt        string `json:"visibleAt,omitempty" yaml:"visibleAt,omitempty"`
	ExpiresAt        string `json:"expiresAt,omitempty" yaml:"expiresAt,omitempty"`
	DeadLetterSource string `json:"deadLetterSource,omitempty" yaml:"deadLetterSource,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func queuePeekCmd(g *globals) *cobra.Command {
	var (
		n            int
		delayed, b64 bool
	)
	c := &cobra.Command{
		Use:   "peek QUEUE",
		Short: "Show waiting items without leasing them (nothing changes)",
		Long: `peek shows up to -n waiting items of a queue in the order pulls would take them
(priority, then age), without leasing or changing them: a read, no log entry. --delayed also
shows items whose delay has not passed, after the visible ones. On a dead-letter queue the
SOURCE column names the queue each item came from.`,
		Example: `  octopusctl queue peek jobs
  octopusctl queue peek jobs -n 50 --delayed -o json | jq -r .[].value
  octopusctl queue peek jobs-dlq   # what was dead-lettered, and from where`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return usagef("-n must be at least 1, not %d", n)
			}
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				items, more, err := a.PeekItems(ctx, args[0], n, delayed)
				if err != nil {
					return err
				}
				cd := codec{b64}
				out := make([]peeked, len(items))
				t := &table{header: []string{"ID", "PRIORITY", "DELIVERIES", "AGE", "VISIBLE-IN", "SOURCE", "KEY", "VALUE"}}
				now := time.Now()
				for i, it := range items {
					out[i] = peeked{pulled: fromClientItem(cd, &it.Item), VisibleAt: rfc3339(it.VisibleAt),
						ExpiresAt: rfc3339(it.ExpiresAt), DeadLetterSource: it.DeadLetterSource}
					visible := "-"
					if !it.VisibleAt.IsZero() {
						visible = it.VisibleAt.Sub(now).Round(time.Second).String()
					}
					t.add(it.Id, it.Priority, it.DeliveryCount, age(now, it.EnqueuedAt), visible,
						cell(it.DeadLetterSource), cell(out[i].Key), cell(out[i].Value))
				}
				if more && g.output == formatTable {
					defer fmt.Fprintf(cmd.ErrOrStderr(), "(more items wait; -n shows more)\n")
				}
				return emit(cmd.OutOrStdout(), g.output, out, t)
			})
		}),
	}
	f := c.Flags()
	f.IntVarP(&n, "n", "n", 10, "items to show (at most the server's batch limit)")
	f.BoolVar(&delayed, "delayed", false, "also show delayed items (after the visible ones)")
	f.BoolVar(&b64, "base64", false, "print keys and values as standard base64")
	return c
}

// age is how long ago t was, rounded for a table ("-" when unknown).
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// counted is the result of purge and redrive as -o json/yaml print it.
type counted struct {
	Queue     string `json:"queue" yaml:"queue"`
	Action    string `json:"action" yaml:"action"`
	Count     int    `json:"count" yaml:"count"`
	Remaining *int   `json:"remaining,omitempty" yaml:"remaining,omitempty"`
}

func queuePurgeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "purge QUEUE",
		Short: "Remove every waiting item (visible and delayed); leased items stay",
		Long: `purge removes all waiting items of a queue, visible and delayed, in one log entry
(all or nothing). Items consumers hold (leased, in flight) stay: they can still be committed,
and return to the queue if their lease runs out. Purged items are not dead-lettered.`,
		Example: `  octopusctl queue purge jobs
  octopusctl queue purge jobs -o json   # {"queue":"jobs","action":"purged","count":42}`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				n, err := a.PurgeQueue(ctx, args[0])
				if err != nil {
					return err
				}
				t := &table{}
				t.add(fmt.Sprintf("queue %q purged: %d waiting items removed", args[0], n))
				return emit(cmd.OutOrStdout(), g.output, counted{Queue: args[0], Action: "purged", Count: n}, t)
			})
		}),
	}
}

func queueDLQCmd(g *globals) *cobra.Command {
	return newGroup("dlq", "Work with a queue's dead-letter queue",
		`  octopusctl queue dlq redrive jobs`,
		queueRedriveCmd(g))
}

func queueRedriveCmd(g *globals) *cobra.Command {
	var maxItems uint32
	c := &cobra.Command{
		Use:   "redrive QUEUE",
		Short: "Move the items QUEUE dead-lettered back into it",
		Long: `redrive moves the items a queue dead-lettered (after max deliveries, or expired)
from its dead-letter queue back into it, in one log entry: visible at once, delivery count
reset to 0, keeping id, value, key and priority. Items of other source queues sharing the
dead-letter queue, and items a consumer of the dead-letter queue holds, stay. At most
--max items move, and only as many as fit under the queue's max size; the rest is reported
as remaining.`,
		Example: `  octopusctl queue dlq redrive jobs
  octopusctl queue dlq redrive jobs --max 100 -o json   # {"queue":"jobs","action":"redriven","count":100,"remaining":7}`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				moved, remaining, err := a.RedriveQueue(ctx, args[0], maxItems)
				if err != nil {
					return err
				}
				t := &table{}
				t.add(fmt.Sprintf("queue %q: %d dead-lettered items moved back, %d remain in the dead-letter queue", args[0], moved, remaining))
				return emit(cmd.OutOrStdout(), g.output, counted{Queue: args[0], Action: "redriven", Count: moved, Remaining: &remaining}, t)
			})
		}),
	}
	c.Flags().Uint32Var(&maxItems, "max", 0, "move at most this many items (0: all that fit)")
	return c
}

// statsSample is one stats reading as -o json/yaml print it (with --watch, one JSON
// object per line).
type statsSample struct {
	Queue             string   `json:"queue" yaml:"queue"`
	Time              string   `json:"time" yaml:"time"`
	Waiting           uint32   `json:"waiting" yaml:"waiting"`
	VisibleByPriority []uint32 `json:"visibleByPriority" yaml:"visibleByPriority"`
	Delayed           uint32   `json:"delayed" yaml:"delayed"`
	Active            uint32   `json:"active" yaml:"active"`
	DeadLettered      uint32   `json:"deadLettered" yaml:"deadLettered"`
	OldestAgeSeconds  float64  `json:"oldestAgeSeconds" yaml:"oldestAgeSeconds"`
	Paused            bool     `json:"paused" yaml:"paused"`
	EnqueuedTotal     uint64   `json:"enqueuedTotal" yaml:"enqueuedTotal"`
	CommittedTotal    uint64   `json:"committedTotal" yaml:"committedTotal"`
	// Rates per second since the previous sample (--watch, from the second sample on).
	EnqueueRate *float64 `json:"enqueueRate,omitempty" yaml:"enqueueRate,omitempty"`
	CommitRate  *float64 `json:"commitRate,omitempty" yaml:"commitRate,omitempty"`
}

func sampleOf(queue string, st *client.QueueStats) statsSample {
	s := statsSample{
		Queue: queue, Time: rfc3339(st.Time), Waiting: st.Visible() + st.Delayed,
		VisibleByPriority: st.VisibleByPriority, Delayed: st.Delayed, Active: st.Active,
		DeadLettered: st.DeadLettered, Paused: st.Paused,
		EnqueuedTotal: st.EnqueuedTotal, CommittedTotal: st.CommittedTotal,
	}
	if !st.OldestEnqueuedAt.IsZero() {
		s.OldestAgeSeconds = st.Time.Sub(st.OldestEnqueuedAt).Seconds()
	}
	return s
}

// rate is the per-second increase of a counter between two samples (a decrease is a
// reset: the counter restarted from 0 on another leader or after a restart).
func rate(prev, cur uint64, dt time.Duration) float64 {
	if dt <= 0 {
		return 0
	}
	if cur < prev {
		prev = 0
	}
	return float64(cur-prev) / dt.Seconds()
}

// byPriority shows the non-empty priorities, highest first: "31:5 0:2" ("-" when none).
func byPriority(v []uint32) string {
	var parts []string
	for p := len(v) - 1; p >= 0; p-- {
		if v[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d:%d", p, v[p]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func statsHeader() []string {
	return []string{"TIME", "WAITING", "DELAYED", "ACTIVE", "DEAD-LETTERED", "OLDEST", "ENQ/S", "COMMIT/S", "BY-PRIORITY"}
}

func (s statsSample) row(t *table) {
	r := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *p)
	}
	oldest := "-"
	if s.OldestAgeSeconds > 0 {
		oldest = (time.Duration(s.OldestAgeSeconds * float64(time.Second))).Round(time.Second).String()
	}
	ts := s.Time
	if tm, err := time.Parse(time.RFC3339Nano, s.Time); err == nil {
		ts = tm.Local().Format("15:04:05")
	}
	t.add(ts, s.Waiting, s.Delayed, s.Active, s.DeadLettered, oldest, r(s.EnqueueRate), r(s.CommitRate), byPriority(s.VisibleByPriority))
}

func queueStatsCmd(g *globals) *cobra.Command {
	var (
		watch    bool
		interval time.Duration
		count    int
	)
	c := &cobra.Command{
		Use:   "stats QUEUE",
		Short: "Show a queue's depth per priority, delayed, in-flight and dead-lettered items (live with --watch)",
		Long: `stats reads a queue's statistics from the leader: waiting items per priority, delayed
and active (leased, in flight) items, the items it dead-lettered, the age of the oldest waiting
item, and enqueue and commit totals. With --watch it prints one line every --interval with
the enqueue and commit rates since the previous line, until interrupted (or --count lines);
-o json prints one object per line.`,
		Example: `  octopusctl queue stats jobs
  octopusctl queue stats jobs --watch --interval 1s
  octopusctl queue stats jobs --watch --count 10 -o json | jq .enqueueRate`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeQueues,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return usagef("--interval must be positive, not %v", interval)
			}
			if count < 0 {
				return usagef("--count must not be negative, not %d", count)
			}
			a, err := g.admin()
			if err != nil {
				return err
			}
			defer a.Close()
			read := func() (*client.QueueStats, error) {
				ctx, cancel := g.ctx(cmd)
				defer cancel()
				return a.QueueStats(ctx, args[0])
			}
			if !watch {
				st, err := read()
				if err != nil {
					return err
				}
				s := sampleOf(args[0], st)
				t := &table{header: statsHeader()}
				s.row(t)
				return emit(cmd.OutOrStdout(), g.output, s, t)
			}
			return g.watchStats(cmd, read, args[0], interval, count)
		}),
	}
	f := c.Flags()
	f.BoolVarP(&watch, "watch", "w", false, "keep printing a line every --interval, with rates")
	f.DurationVar(&interval, "interval", 2*time.Second, "time between lines of --watch")
	f.IntVar(&count, "count", 0, "with --watch, stop after this many lines (0: until interrupted)")
	return c
}

// watchStats prints a stats line every interval (the table's header once).
func (g *globals) watchStats(cmd *cobra.Command, read func() (*client.QueueStats, error), queue string, interval time.Duration, count int) error {
	w := cmd.OutOrStdout()
	var prev *statsSample
	var prevAt time.Time
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-cmd.Context().Done():
				return nil
			case <-tick.C:
			}
		}
		st, err := read()
		if err != nil {
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		}
		at := time.Now()
		s := sampleOf(queue, st)
		if prev != nil {
			dt := at.Sub(prevAt)
			er, cr := rate(prev.EnqueuedTotal, s.EnqueuedTotal, dt), rate(prev.CommittedTotal, s.CommittedTotal, dt)
			s.EnqueueRate, s.CommitRate = &er, &cr
		}
		prev, prevAt = &s, at
		switch g.output {
		case formatJSON:
			err = emitLines(w, []statsSample{s})
		case formatYAML:
			err = emit(w, formatYAML, []statsSample{s}, nil)
		default:
			t := &table{}
			if n == 0 {
				t.header = statsHeader()
			}
			s.row(t)
			err = emitAligned(w, t, n == 0)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// emitAligned prints stats lines with fixed column widths, so lines printed one at a
// time line up under the header.
func emitAligned(w interface{ Write([]byte) (int, error) }, t *table, header bool) error {
	widths := []int{8, 8, 8, 8, 13, 8, 9, 9, 0}
	line := func(cells []string) error {
		var b strings.Builder
		for i, c := range cells {
			if i < len(widths) && widths[i] > 0 {
				fmt.Fprintf(&b, "%-*s  ", widths[i], c)
			} else {
				b.WriteString(c)
			}
		}
		_, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		return err
	}
	if header {
		if err := line(t.header); err != nil {
			return err
		}
	}
	for _, r := range t.rows {
		if err := line(r); err != nil {
			return err
		}
	}
	return nil
}
