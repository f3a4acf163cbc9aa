package server

import (
	"context"
	"io"

	"github.com/clbs-io/octopusmq/server/state"
)

// SetRestoreForTest makes the restore endpoint call fn instead of the node's RestoreBackup,
// so a test can see how the endpoint answers the errors a cluster in trouble returns.
func (s *Server) SetRestoreForTest(fn func(context.Context, io.ReaderAt, *state.SnapshotInfo) (state.Counters, error)) {
	f := restoreFunc(fn)
	s.restoreHook.Store(&f)
}
