package main

import (
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	// 1..1000 ms spread over three workers, out of order.
	parts := []*samples{{}, {}, {}}
	for i := 1000; i >= 1; i-- {
		parts[i%3].add(time.Duration(i) * time.Millisecond)
	}
	m := merge(parts...)
	cases := []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
		{0.01, 1 * time.Millisecond}, // the smallest sample, never below
	}
	for _, c := range cases {
		if got := m.percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if m.count() != 1000 || m.max() != time.Second {
		t.Errorf("count %d max %v", m.count(), m.max())
	}
	// Few samples: p999 of 3 samples is the largest; no samples answer 0.
	small := merge(&samples{d: []time.Duration{3, 1, 2}})
	if small.percentile(50) != 2 || small.percentile(99.9) != 3 {
		t.Errorf("small: p50 %v p999 %v", small.percentile(50), small.percentile(99.9))
	}
	if empty := merge(); empty.percentile(50) != 0 || empty.max() != 0 {
		t.Errorf("empty percentiles not 0")
	}
}

func TestReport(t *testing.T) {
	lat := merge(&samples{d: []time.Duration{time.Millisecond, 2 * time.Millisecond, 40 * time.Millisecond}})
	out := report([]result{
		{name: "enqueue", items: 5000, elapsed: 2 * time.Second, lat: lat},
		{name: "pull+commit", items: 0, elapsed: 0, lat: merge()},
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("report has %d lines:\n%s", len(lines), out)
	}
	for _, want := range []string{"operation", "items/s", "p50", "p99", "p999"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	f := strings.Fields(lines[1])
	// enqueue 5000 2500 3 2.00ms 40.0ms 40.0ms 40.0ms
	if strings.Join(f, " ") != "enqueue 5000 2500 3 2.00ms 40.0ms 40.0ms 40.0ms" {
		t.Errorf("enqueue line %q", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "pull+commit" || f[2] != "0" || f[4] != "0" {
		t.Errorf("empty line %q", lines[2])
	}
}

func TestFmtDurAndShare(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 250 * time.Microsecond: "250µs", 1500 * time.Microsecond: "1.50ms",
		25 * time.Millisecond: "25.0ms", 1500 * time.Millisecond: "1.50s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
	var sum int64
	for i := range 3 {
		sum += share(100, i, 3)
	}
	if sum != 100 || share(100, 0, 3) != 34 || share(100, 2, 3) != 33 {
		t.Errorf("share splits 100 over 3 as %d %d %d", share(100, 0, 3), share(100, 1, 3), share(100, 2, 3))
	}
}
