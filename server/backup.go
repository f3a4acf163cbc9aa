package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
)

// Backups: GET /v1/cluster/snapshot streams a consistent snapshot of the whole state, taken
// on the leader (a follower redirects there); POST /v1/cluster/snapshot:restore replaces the
// cluster's state with one (Raft's user restore: it is replicated to every member).
//
// A restore is checked completely before anything changes: the upload is spooled to a
// private temporary file in the data folder (Raft needs the size up front) while it is
// decoded the way the state machine will decode it, up to Config.MaxBackupBytes. Only a
// file that checked out (header, every record, trailer count and checksum) is handed to
// Raft, with its counters raised to the cluster's (raftnode.Node.RestoreBackup).

// DefaultMaxBackupBytes is the largest backup a restore accepts when Config.MaxBackupBytes
// is 0.
const DefaultMaxBackupBytes int64 = 4 << 30

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if s.redirectToLeader(w, r) {
		return
	}
	if err := s.node.ReadBarrier(r.Context()); err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	e, index, err := s.node.Backup()
	if err != nil {
		s.log.Error("encoding snapshot", "err", err)
		http.Error(w, "snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="octopusmq.snapshot"`)
	w.Header().Set("Content-Length", strconv.FormatInt(e.Len(), 10))
	w.Header().Set("X-Octopusmq-Applied-Index", strconv.FormatUint(index, 10))
	if _, err := e.WriteTo(w); err != nil {
		s.log.Warn("writing snapshot", "err", err)
	}
}

// RestoreResult is the answer of a successful restore (state.RestoreResult).
type RestoreResult = state.RestoreResult

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	if s.redirectToLeader(w, r) {
		return
	}
	limit := s.cfg.MaxBackupBytes
	if limit <= 0 {
		limit = DefaultMaxBackupBytes
	}
	if r.ContentLength > limit {
		http.Error(w, fmt.Sprintf("restore: the backup (%d bytes) is larger than the limit of %d bytes (--max-backup-bytes)", r.ContentLength, limit), http.StatusRequestEntityTooLarge)
		return
	}
	f, err := os.CreateTemp(s.cfg.DataDir, "restore-*.snap") // mode 0600
	if err != nil {
		http.Error(w, "restore: spool file: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	body := http.MaxBytesReader(w, r.Body, limit)
	info, err := state.CheckSnapshot(io.TeeReader(body, spool{f}))
	if err != nil {
		var snap *state.SnapshotError
		var tooBig *http.MaxBytesError
		var disk spoolError
		switch {
		case errors.As(err, &disk):
			http.Error(w, "restore: spooling the upload, nothing changed: "+err.Error(), http.StatusInternalServerError)
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("restore: the backup is larger than the limit of %d bytes (--max-backup-bytes)", limit), http.StatusRequestEntityTooLarge)
		case errors.As(err, &snap):
			http.Error(w, "restore: not a valid backup, nothing changed: "+err.Error(), http.StatusBadRequest)
		default:
			http.Error(w, "restore: reading the upload, nothing changed: "+err.Error(), http.StatusBadRequest)
		}
		return
	}
	c, err := s.restoreBackup(r.Context(), f, info)
	if err != nil {
		http.Error(w, "restore: "+err.Error(), restoreErrorStatus(err))
		return
	}
	s.log.Info("restored a backup", "bytes", info.Size, "records", info.Records, "from_cluster", info.ClusterID, "from_index", info.AppliedIndex)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(RestoreResult{
		Bytes: info.Size, Records: info.Records, FromClusterID: info.ClusterID, FromIndex: info.AppliedIndex,
		NextID: c.NextID, LastLockToken: c.LastToken, ClockUnixNano: c.Clock,
	})
}

// restoreFunc is the signature of raftnode.Node.RestoreBackup.
type restoreFunc func(context.Context, io.ReaderAt, *state.SnapshotInfo) (state.Counters, error)

// restoreBackup is s.node.RestoreBackup, unless a test set s.restoreHook.
func (s *Server) restoreBackup(ctx context.Context, f io.ReaderAt, info *state.SnapshotInfo) (state.Counters, error) {
	if h := s.restoreHook.Load(); h != nil {
		return (*h)(ctx, f, info)
	}
	return s.node.RestoreBackup(ctx, f, info)
}

// restoreErrorStatus is the HTTP status of a restore that RestoreBackup failed.
func restoreErrorStatus(err error) int {
	var behind *raftnode.BehindError
	switch {
	case errors.As(err, &behind):
		return http.StatusConflict // a precondition: retry once the followers caught up
	case errors.Is(err, raftnode.ErrRestoreUnconfirmed):
		return http.StatusGatewayTimeout // outcome unknown, like a write that timed out
	case errors.Is(err, raftnode.ErrNotLeader) || errors.Is(err, raftnode.ErrShutdown) ||
		errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrEnqueueTimeout):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// spool writes the upload to the spool file; its errors are the server's, not the upload's.
type spool struct{ f *os.File }

type spoolError struct{ error }

func (s spool) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	if err != nil {
		err = spoolError{err}
	}
	return n, err
}

// redirectToLeader answers 307 to the leader's client address when this node is not the
// leader, and reports whether it did.
func (s *Server) redirectToLeader(w http.ResponseWriter, r *http.Request) bool {
	if s.node.IsLeader() {
		return false
	}
	id, _, err := s.node.WaitLeader(r.Context())
	if err == nil && id == s.node.ID() {
		return false
	}
	addr := ""
	if err == nil {
		addr = s.node.State().MemberAddress(id)
	}
	if addr == "" {
		http.Error(w, "no leader known", http.StatusServiceUnavailable)
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	http.Redirect(w, r, scheme+"://"+addr+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	return true
}
