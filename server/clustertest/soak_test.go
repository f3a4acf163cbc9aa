//go:build soak

package clustertest_test

import "testing"

// TestSoakRepeatedFailover kills the leader ten times under load (go test -tags soak).
func TestSoakRepeatedFailover(t *testing.T) {
	failoverWorkload(t, 10, 1000)
}
