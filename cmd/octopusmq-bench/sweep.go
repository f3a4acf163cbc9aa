package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// sweepable are the workloads -sweep can run at several -producers counts.
var sweepable = map[string]bool{"queue": true, "enqueue": true, "pipelined": true, "kv": true}

// parseSweep reads -sweep: comma-separated producer (stream) counts, each at least 1.
func parseSweep(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-sweep: %q is not a count of at least 1 (want e.g. 16,64,256)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runSweep runs the workload once per -sweep count of producers (streams), one after the
// other in one invocation, and reports one line per step: its first result, named for the
// step, with the servers' CPU and memory over that step alone.
func runSweep(ctx context.Context, c config, errw io.Writer, sc *scraper) (outcome, error) {
	o := outcome{title: fmt.Sprintf("%s workload on %s swept over %v producers (one stream each) x %d in flight, %s each, %d B payload, batch %d",
		c.workload, c.addr, c.sweep, c.inflight, amount(c), c.size, c.batch)}
	for _, n := range c.sweep {
		step := c
		step.producers = n
		step.sweep = nil
		var before serverStats
		var mErr error
		if len(sc.urls) > 0 {
			before, mErr = sc.scrape(ctx)
		}
		rescrape := func() { before, mErr = rescrape(ctx, sc, before, mErr) }
		fmt.Fprintf(errw, "sweep: %d producers\n", n)
		var so outcome
		var err error
		if step.workload == "kv" {
			so, err = runKV(ctx, step, errw, rescrape)
		} else {
			so, err = runQueue(ctx, step, errw, rescrape)
		}
		if err != nil {
			return outcome{}, fmt.Errorf("sweep step of %d producers: %w", n, err)
		}
		r := so.results[0]
		r.name = fmt.Sprintf("%s x%d", r.name, n)
		r.streams = n
		if len(sc.urls) > 0 {
			var after serverStats
			if mErr == nil {
				after, mErr = sc.scrape(ctx)
			}
			if mErr != nil {
				fmt.Fprintln(errw, "warning: no server metrics:", mErr)
			} else {
				r.server = newServerReport(before, after, r.items)
			}
		}
		o.results = append(o.results, r)
		o.note = so.note
		if ctx.Err() != nil {
			break
		}
	}
	return o, nil
}
