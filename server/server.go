// Package server assembles an OctopusMQ node: the Raft core (raftnode), the services
// (service) and one client port split by a connection mux between native gRPC (served by
// grpc.Server.Serve on its own HTTP/2 transport) and HTTP/1 JSON (grpc-gateway, the
// OpenAPI document, health, readiness and metrics).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/service"
	"github.com/clbs-io/octopusmq/server/state"
)

// Config configures a server.
type Config struct {
	NodeID string
	// DataDir holds the Raft log, stable store and snapshots.
	DataDir string
	// ClientAddr is the listen address of the client port (gRPC + HTTP/JSON).
	ClientAddr string
	// AdvertiseClientAddr is the client address other nodes hand to clients
	// (LEADER_SWITCH); defaults to ClientAddr with an unspecified host replaced by the
	// Raft advertise host.
	AdvertiseClientAddr string
	RaftBind            string
	RaftAdvertise       string
	// PeerTLS secures the Raft port with mutual TLS (all three files, or none).
	PeerTLS raftnode.PeerTLS
	// Bootstrap forms a new cluster on first start: of Peers, or of this node alone.
	Bootstrap         bool
	Peers             []raft.Server
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// ReplicationRetry: see raftnode.Config.ReplicationRetry.
	ReplicationRetry time.Duration
	// SnapshotLogRatio: see raftnode.Config.SnapshotLogRatio.
	SnapshotLogRatio float64
	// RaftLogStore is the Raft log store asked for (see raftnode.Config.LogStore): empty
	// keeps an existing folder's store and gives a new folder raftnode.LogStoreWAL.
	RaftLogStore string
	Limits       service.Limits
	// LeaderWait bounds how long a request waits for a leader during an election.
	LeaderWait time.Duration
	// Join lists client addresses of running members; a node with no Raft state asks them
	// to add it to their cluster.
	Join []string
	// MaxBackupBytes bounds the size of a backup a restore accepts (0: DefaultMaxBackupBytes).
	MaxBackupBytes int64
	// ShutdownGrace bounds how long Close waits for streams to drain.
	ShutdownGrace time.Duration
	// Auth secures the client port (TLS, tokens, client certificates); zero is open.
	Auth auth.Config
	// Insecure silences the warning about a non-loopback client port without TLS or auth.
	Insecure bool
	// FirstBytesTimeout closes a client connection that sends nothing for this long
	// (default DefaultFirstBytesTimeout).
	FirstBytesTimeout time.Duration
	// MaxConnections bounds the client connections served at once (0: unbounded).
	MaxConnections int
	// MaxConcurrentStreams bounds the gRPC streams open at once on one connection
	// (default DefaultMaxConcurrentStreams).
	MaxConcurrentStreams uint32
	Logger               *slog.Logger
	// Clock is the time source of log entries (nil: the system's; tests inject one).
	Clock raftnode.Clock
	// MetricsTop is how many queues and storages (the largest) get /metrics series of
	// their own; 0 means DefaultMetricsTop, negative none (totals only).
	MetricsTop int
	// Pprof serves net/http/pprof under /debug/pprof/ on the client port (admins only).
	Pprof bool
	// CORSOrigins are the origins allowed to call the HTTP API from a browser ("*": any);
	// empty: no CORS headers.
	CORSOrigins []string
}

// Server is a running node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	node   *raftnode.Node
	ln     net.Listener
	mux    cmux.CMux
	grpc   *grpc.Server
	http   *http.Server
	health *health.Server
	gwConn *grpc.ClientConn
	auth   *auth.Auth
	// internal is the in-process listener of the gateway and the node's own calls.
	internal *auth.InternalListener
	fwd      *forwarder
	svc      *service.Service
	// restoreHook, when set (tests: export_test.go), stands in for node.RestoreBackup.
	restoreHook atomic.Pointer[restoreFunc]

	serveErr  chan error // the client port's failure (see Err)
	failOnce  sync.Once
	failed    atomic.Bool
	closed    chan struct{}
	closedCtx context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// Start opens the data folder, joins Raft and serves the client port.
func Start(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LeaderWait == 0 {
		cfg.LeaderWait = 10 * time.Second
	}
	if cfg.MetricsTop == 0 {
		cfg.MetricsTop = DefaultMetricsTop
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	if cfg.FirstBytesTimeout == 0 {
		cfg.FirstBytesTimeout = DefaultFirstBytesTimeout
	}
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if cfg.DataDir == "" {
		return nil, errors.New("a data dir is required")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "node1"
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	if cfg.Auth.Logger == nil {
		cfg.Auth.Logger = cfg.Logger
	}
	sec, err := auth.New(cfg.Auth)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("client listener: %w", err)
	}
	advertise := cfg.AdvertiseClientAddr
	if advertise == "" {
		advertise = advertisable(ln.Addr().String(), cfg.RaftAdvertise, cfg.RaftBind)
	}
	st := state.New(nil)
	node, err := raftnode.Start(raftnode.Config{
		NodeID: cfg.NodeID, DataDir: filepath.Clean(cfg.DataDir),
		RaftBind: cfg.RaftBind, RaftAdvertise: cfg.RaftAdvertise, ClientAddress: advertise, PeerTLS: cfg.PeerTLS,
		Bootstrap: cfg.Bootstrap, Peers: cfg.Peers,
		SnapshotThreshold: cfg.SnapshotThreshold, SnapshotInterval: cfg.SnapshotInterval, TrailingLogs: cfg.TrailingLogs,
		ReplicationRetry: cfg.ReplicationRetry,
		SnapshotLogRatio: cfg.SnapshotLogRatio,
		Logger:           cfg.Logger, Clock: cfg.Clock,
		LogStore: cfg.RaftLogStore,
	}, st)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, node: node, ln: ln, auth: sec, internal: auth.NewInternalListener(), serveErr: make(chan error, 1), closed: make(chan struct{})}
	s.closedCtx, s.cancel = context.WithCancel(context.Background())
	s.fwd = newForwarder(node, st, advertise, cfg.LeaderWait)
	s.fwd.auth = sec
	s.fwd.done = s.closed
	svc := service.New(node, cfg.Limits, cfg.Logger)
	svc.SetLeaderWait(cfg.LeaderWait)
	svc.SetLeaderLocator(s.fwd.leaderFromPeers)
	s.svc = svc

	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(svc.MaxMessageBytes()),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.Creds(auth.ServerCredentials()),
		// Authorisation runs before forwarding: a follower checks the caller itself.
		grpc.ChainUnaryInterceptor(unaryMetrics, sec.Unary, s.fwd.unary),
		// A follower relays streams to the leader after checking the caller itself.
		grpc.ChainStreamInterceptor(streamMetrics, sec.Stream, s.fwd.stream),
	)
	grpcpb.RegisterQueuesServiceServer(s.grpc, service.QueuesServer{Service: svc})
	grpcpb.RegisterStorageServiceServer(s.grpc, service.StorageServer{Service: svc})
	managementpb.RegisterManagementServiceServer(s.grpc, service.ManagementServer{Service: svc})
	managementpb.RegisterStorageManagementServiceServer(s.grpc, service.StorageManagementServer{Service: svc})
	octopusmqv1.RegisterClusterServiceServer(s.grpc, service.ClusterServer{Service: svc})
	octopusmqv1.RegisterQueueDataServiceServer(s.grpc, service.QueueDataServer{Service: svc})
	octopusmqv1.RegisterStorageDataServiceServer(s.grpc, service.StorageDataServer{Service: svc})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	handler, conn, err := newHTTPHandler(node, s)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.gwConn = conn
	// An idle keep-alive HTTP/1 connection is closed too, not held forever.
	s.http = &http.Server{Handler: auth.WithTLSState(handler), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ConnContext: auth.ConnContext}

	s.serveClientPort(ln)
	go s.watchServe("internal gRPC server", func() error { return s.grpc.Serve(s.internal) })
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if len(cfg.Join) > 0 && node.Fresh() {
		go s.join(advertise)
	}
	go s.publishAddress(advertise)
	node.StartMembership(s.probeMember)
	s.log.Info("serving", "node", cfg.NodeID, "client", ln.Addr().String(), "advertise", advertise, "raft", cfg.RaftBind, "data", cfg.DataDir,
		"tls", sec.TLS(), "auth", sec.Enabled())
	s.warnExposed()
	return s, nil
}

// Addr is the client port's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Node is the Raft node.
func (s *Server) Node() *raftnode.Node { return s.node }

// Close shuts down gracefully: stop accepting, let streams drain up to ShutdownGrace (then
// cut them), and leave Raft cleanly.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.cancel()
		if s.health != nil {
			s.health.Shutdown()
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		defer cancel()
		if s.http != nil {
			_ = s.http.Shutdown(ctx)
		}
		if s.grpc != nil {
			done := make(chan struct{})
			go func() { s.grpc.GracefulStop(); close(done) }()
			if s.svc != nil {
				// GracefulStop refuses new streams; end the open ones now instead of
				// waiting out the grace period for clients to close them.
				s.svc.Drain()
			}
			select {
			case <-done:
			case <-ctx.Done():
				s.grpc.Stop()
				<-done
			}
		}
		if s.gwConn != nil {
			s.gwConn.Close()
		}
		if s.fwd != nil {
			s.fwd.close()
		}
		if s.mux != nil {
			s.mux.Close()
		}
		s.ln.Close()
		err = s.node.Shutdown()
	})
	return err
}

// loopback is the address this process dials to reach its own listener.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// advertisable makes a listen address dialable by peers: an unspecified host becomes the
// Raft advertise host (or loopback).
func advertisable(listen string, raftAddrs ...string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return listen
	}
	for _, a := range raftAddrs {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
				return net.JoinHostPort(h, port)
			}
		}
	}
	return net.JoinHostPort("127.0.0.1", port)
}
