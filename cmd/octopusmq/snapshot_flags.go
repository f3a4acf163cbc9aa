package main

import (
	"fmt"
	"math"
)

// snapshotLogRatio checks --snapshot-log-ratio and maps it to the server's setting, where
// 0 means the default: the flag's 0 (entries only) becomes a negative ratio.
func snapshotLogRatio(v float64) (float64, error) {
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("--snapshot-log-ratio %v: want 0 (entries only) or a positive number", v)
	}
	if v == 0 {
		return -1, nil
	}
	return v, nil
}
