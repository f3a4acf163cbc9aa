package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/clbs-io/octopusmq/cmd/internal/backupfile"
)

// TestSnapshotExitCodes: the status of a refused backup or restore picks the exit code, as
// the help's list says: a restore a quorum did not confirm in time (504) is "unavailable"
// (retry or check the cluster), one refused because followers had not caught up (409) a
// conflict, a backup the server refuses (400, 413) a usage error.
func TestSnapshotExitCodes(t *testing.T) {
	for code, want := range map[int]int{
		http.StatusGatewayTimeout:        exitUnavailable,
		http.StatusServiceUnavailable:    exitUnavailable,
		http.StatusConflict:              exitConflict,
		http.StatusPreconditionFailed:    exitConflict,
		http.StatusBadRequest:            exitUsage,
		http.StatusRequestEntityTooLarge: exitUsage,
		http.StatusNotFound:              exitNotFound,
		http.StatusForbidden:             exitFailure,
		http.StatusInternalServerError:   exitFailure,
	} {
		err := &runError{fmt.Errorf("snapshot restore: %w", &backupfile.StatusError{Code: code, Status: http.StatusText(code), Body: "x"})}
		if got := exitCode(err); got != want {
			t.Errorf("%d: exit %d, want %d", code, got, want)
		}
	}
}
