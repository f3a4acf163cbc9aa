package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Backups: GET /v1/cluster/snapshot streams a consistent snapshot of the whole state, taken
// on the leader (a follower redirects there); POST /v1/cluster/snapshot:restore replaces the
// cluster's state with one (Raft's user restore: it is replicated to every member).

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if s.redirectToLeader(w, r) {
		return
	}
	if err := s.node.ReadBarrier(r.Context()); err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="octopusmq.snapshot"`)
	w.Header().Set("X-Octopusmq-Applied-Index", strconv.FormatUint(s.node.AppliedIndex(), 10))
	if err := s.node.Snapshot(w); err != nil {
		s.log.Error("writing snapshot", "err", err)
	}
}

func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	if s.redirectToLeader(w, r) {
		return
	}
	// raft.Restore needs the size up front: buffer the upload.
	data, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading snapshot: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.node.State().CheckSnapshot(data); err != nil {
		http.Error(w, "not an OctopusMQ snapshot: "+err.Error(), http.StatusBadRequest)
		return
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(data))}
	if err := s.node.Raft().Restore(meta, bytes.NewReader(data), time.Minute); err != nil {
		http.Error(w, "restore: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.node.State().Notifier().TouchAll()
	fmt.Fprintf(w, "restored %d bytes\n", len(data))
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
	http.Redirect(w, r, "http://"+addr+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	return true
}
