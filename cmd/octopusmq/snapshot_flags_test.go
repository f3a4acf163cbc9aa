package main

import (
	"math"
	"strings"
	"testing"
)

func TestSnapshotLogRatioFlag(t *testing.T) {
	for _, c := range []struct {
		in, want float64
	}{{1, 1}, {0.5, 0.5}, {4, 4}, {0, -1}} {
		got, err := snapshotLogRatio(c.in)
		if err != nil || got != c.want {
			t.Errorf("snapshotLogRatio(%v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := snapshotLogRatio(bad); err == nil || !strings.Contains(err.Error(), "--snapshot-log-ratio") {
			t.Errorf("snapshotLogRatio(%v): %v, want an error naming the flag", bad, err)
		}
	}
	err := run([]string{"--snapshot-log-ratio", "-2", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--snapshot-log-ratio") {
		t.Fatalf("run with a negative ratio: %v", err)
	}
}
