// Package service implements OctopusMQ's gRPC services on top of the Raft node: the wire
// protocol's streams (QueuesService, StorageService), management, the cluster service and
// the unary data plane served over REST. Streams and unary calls share one set of
// operations (ops_queue.go, ops_storage.go), so both follow the same semantics.
package service

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clbs-io/octopusmq/server/raftnode"
)

// Service holds what every service implementation needs.
type Service struct {
	// node is the Raft node: the only way to the state (typed proposals in
	// raftnode/typed.go, reads in raftnode/reads.go).
	node   *raftnode.Node
	limits Limits
	log    *slog.Logger
	// leaderWait bounds waits for a leader (SetLeaderWait).
	leaderWait time.Duration
	// locateLeader asks the other members who leads (SetLeaderLocator).
	locateLeader func(context.Context) string

	sessionBase uint64
	sessionSeq  atomic.Uint64

	draining  chan struct{}
	drainOnce sync.Once
}

// Drain ends every open stream (shutdown): their in-flight commands are answered, their
// sessions closed, and clients told to reconnect.
func (s *Service) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// New returns the services of node. Unset limits take their defaults; the caller
// validates them (Limits.Validate).
func New(node *raftnode.Node, limits Limits, log *slog.Logger) *Service {
	limits = limits.WithDefaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Service{
		node: node, limits: limits, log: log, draining: make(chan struct{}),
		// Session ids must be unique across nodes and restarts: a random high half
		// (per process) and a counter.
		sessionBase: binary.LittleEndian.Uint64(b[:]) &^ 0xFFFFFFFF,
	}
}

// newSession returns a fresh stream session id (never 0).
func (s *Service) newSession() uint64 {
	return s.sessionBase | (s.sessionSeq.Add(1) & 0xFFFFFFFF)
}

// MaxMessageBytes is the largest gRPC message the server accepts (MaxRequestBytes).
func (s *Service) MaxMessageBytes() int { return s.limits.MaxRequestBytes }

// Limits are the service's limits, defaults filled in.
func (s *Service) Limits() Limits { return s.limits }
