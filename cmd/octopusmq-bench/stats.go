package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// samples collects latencies of one operation. Each worker records into its own samples
// (no locking on the hot path); merge combines them at the end.
type samples struct {
	d []time.Duration
}

func (s *samples) add(d time.Duration) { s.d = append(s.d, d) }

// merged is the sorted union of several workers' samples.
type merged struct {
	sorted []time.Duration
}

func merge(parts ...*samples) merged {
	n := 0
	for _, p := range parts {
		n += len(p.d)
	}
	all := make([]time.Duration, 0, n)
	for _, p := range parts {
		all = append(all, p.d...)
	}
	slices.Sort(all)
	return merged{sorted: all}
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100): the smallest sample
// with at least p% of the samples at or below it. 0 when there are no samples.
func (m merged) percentile(p float64) time.Duration {
	n := len(m.sorted)
	if n == 0 {
		return 0
	}
	// p*n first, then /100: exact for the usual p (99.9*1000/100 is 999, not 999.0000001).
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	rank = min(max(rank, 1), n)
	return m.sorted[rank-1]
}

func (m merged) count() int { return len(m.sorted) }

func (m merged) max() time.Duration {
	if len(m.sorted) == 0 {
		return 0
	}
	return m.sorted[len(m.sorted)-1]
}

// result is one line of the report: an operation's throughput and latencies.
type result struct {
	name    string
	items   int64         // items (or operations) done
	elapsed time.Duration // the time they took
	lat     merged        // one sample per call
	streams int           // -sweep: the step's producers (streams)
	server  *serverReport // -sweep: the servers' costs over the step alone
}

// rate is items per second (0 for no time).
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.items) / r.elapsed.Seconds()
}

// fmtDur prints a latency with three significant digits in a unit that fits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// report renders the results as an aligned table.
func report(results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %10s %12s %8s %9s %9s %9s %9s\n", "operation", "items", "items/s", "calls", "p50", "p99", "p999", "max")
	for _, r := range results {
		fmt.Fprintf(&b, "%-16s %10d %12.0f %8d %9s %9s %9s %9s\n", r.name, r.items, r.rate(), r.lat.count(),
			fmtDur(r.lat.percentile(50)), fmtDur(r.lat.percentile(99)), fmtDur(r.lat.percentile(99.9)), fmtDur(r.lat.max()))
	}
	for _, r := range results {
		if r.server != nil {
			fmt.Fprintf(&b, "%s: %s", r.name, r.server.text(false))
		}
	}
	return b.String()
}
