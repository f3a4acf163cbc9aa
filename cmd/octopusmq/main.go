// Command octopusmq runs an OctopusMQ server node.
//
//	octopusmq [flags]                                  serve (default: a single-node cluster in ./data on 127.0.0.1:4123)
//	octopusmq snapshot save [--addr host:port] FILE    download a consistent snapshot (backup)
//	octopusmq snapshot restore [--addr host:port] FILE replace the cluster's state with a snapshot
//	octopusmq recover [--data-dir DIR] [--node-id ID] [--members id,...]
//	                                                   on a stopped node: make the surviving members the whole cluster (lost quorum)
//	octopusmq certs [--dir DIR] [--nodes ...] [--clients ...] [--hosts ...]  create a CA and TLS certificates
//
// Every flag can also be set through the environment: --data-dir is OCTOPUSMQ_DATA_DIR, and
// so on (upper case, dashes as underscores). Flags given on the command line win.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/raftnode"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "snapshot" {
		return runSnapshot(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "recover" {
		return runRecover(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "certs" {
		return runCerts(args[1:], os.Stdout)
	}
	fs := flag.NewFlagSet("octopusmq", flag.ContinueOnError)
	var (
		nodeID        = fs.String("node-id", "node1", "unique id of this node in the cluster (keep it stable across restarts)")
		dataDir       = fs.String("data-dir", "./data", "folder for the Raft log, stable store and snapshots")
		listen        = fs.String("listen", "127.0.0.1:4123", "client address: gRPC and HTTP/JSON on one port (loopback by default; e.g. :4123 for every interface)")
		advertise     = fs.String("advertise", "", "client address other nodes give to clients (default: derived from --listen and --raft-advertise)")
		raftBind      = fs.String("raft-bind", "127.0.0.1:4124", "Raft transport listen address")
		raftAdvertise = fs.String("raft-advertise", "", "Raft address peers dial (default: --raft-bind)")
		snapThreshold = fs.Uint64("snapshot-threshold", 8192, "log entries since the last snapshot before an automatic one, at least")
		replRetry     = fs.Duration("raft-replication-retry", raftnode.DefaultReplicationRetry, "how long the leader retries a replication RPC to an unreachable follower before Raft counts a failure and backs off (negative: off)")
		snapInterval  = fs.Duration("snapshot-interval", 2*time.Minute, "how often to check whether a snapshot is due (a random time between one and two intervals)")
		snapRatio     = fs.Float64("snapshot-log-ratio", raftnode.DefaultSnapshotLogRatio, "an automatic snapshot also waits until the log since the last one is this many times that snapshot's size, so snapshot work per item stays flat as the state grows; 0: entries only")
		trailingLogs  = fs.Uint64("trailing-logs", 10240, "log entries kept after a snapshot so followers can catch up without one")
		raftLogStore  = fs.String("raft-log-store", "", "Raft log store of a new data folder: wal (raft-wal, one fsync per batch; the default) or bolt (raft-boltdb, two); a folder keeps the store it was created with, and naming the other refuses it")
		initial       = fs.String("initial-cluster", "", "static initial cluster, the same on every member: id=raft-host:port,... (a fresh node bootstraps it; default: a single-node cluster of this node)")
		join          = fs.String("join", "", "client addresses (host:port,...) of running members to join through, for a new node added to a running cluster")
		peerCert      = fs.String("peer-tls-cert", "", "PEM certificate of this node for mutual TLS on the Raft port (with --peer-tls-key and --peer-tls-ca; reloaded when the file changes)")
		peerKey       = fs.String("peer-tls-key", "", "PEM private key of --peer-tls-cert")
		peerCA        = fs.String("peer-tls-ca", "", "PEM CA bundle: only peers with a node certificate it signed may connect to the Raft port")
		leaderWait    = fs.Duration("leader-wait", 10*time.Second, "how long a request waits for a leader during an election")
		metricsTop    = fs.Int("metrics-top", server.DefaultMetricsTop, "how many queues and storages (those with the most items or keys) get /metrics series of their own; the others count only in the totals (-1: none)")
		pprofOn       = fs.Bool("pprof", false, "serve Go profiles (net/http/pprof) under /debug/pprof/ on the client port; admins only when --auth-tokens-file or client certificates are on")
		maxBackup     = fs.Int64("max-backup-bytes", server.DefaultMaxBackupBytes, "largest backup a restore accepts, in bytes (413 beyond)")
		corsOrigins   = fs.String("cors-origins", "", "origins (comma-separated, or *) whose browser pages may call the HTTP API: CORS headers and preflight answers (default: none, same origin only, as /ui)")
		grace         = fs.Duration("shutdown-grace", 10*time.Second, "how long shutdown waits for streams to drain")
		firstBytes    = fs.Duration("first-bytes-timeout", server.DefaultFirstBytesTimeout, "a client connection that sends nothing for this long is closed")
		maxConns      = fs.Int("max-connections", 4096, "client connections served at once; more wait until one closes (0: unbounded)")
		maxStreams    = fs.Uint("max-concurrent-streams", server.DefaultMaxConcurrentStreams, "gRPC streams and calls open at once on one client connection")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn or error")
		sec           = securityFlags(fs)
		logFormat     = fs.String("log-format", "text", "log format: text or json")
	)
	limits := limitFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: octopusmq [flags]\n       octopusmq snapshot save|restore [--addr host:port] FILE\n       octopusmq recover [--data-dir DIR] [--node-id ID] [--members id[=raft-host:port],...] [--dry-run]\n       octopusmq certs [--dir DIR] [--nodes n1,...] [--clients c1,...] [--hosts h1,...]\n\nRuns an OctopusMQ node. With no cluster flags it bootstraps a single-node cluster in --data-dir on first start and restarts from it later.\nEvery flag may be set as OCTOPUSMQ_<FLAG> in the environment (e.g. OCTOPUSMQ_DATA_DIR).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	logger, err := newLogger(*logLevel, *logFormat)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	restrictFileModes()
	authCfg, err := sec.config(logger)
	if err != nil {
		return err
	}
	if *maxConns < 0 {
		return fmt.Errorf("--max-connections %d: want 0 (unbounded) or more", *maxConns)
	}
	if *firstBytes < 0 {
		return fmt.Errorf("--first-bytes-timeout %v: want a positive duration", *firstBytes)
	}
	if *raftLogStore != "" && !slices.Contains(raftnode.LogStores, *raftLogStore) {
		return fmt.Errorf("--raft-log-store %q: want one of %s", *raftLogStore, strings.Join(raftnode.LogStores, ", "))
	}
	ratio, err := snapshotLogRatio(*snapRatio)
	if err != nil {
		return err
	}
	peers, err := parseInitialCluster(*initial)
	if err != nil {
		return err
	}
	var joinAddrs []string
	if *join != "" {
		joinAddrs = strings.Split(*join, ",")
	}
	// A node listed in --initial-cluster forms it; one that is not (a StatefulSet scaled past
	// its initial size, say) waits to be added, through --join or an AddMember call.
	bootstrap := len(joinAddrs) == 0
	if len(peers) > 0 {
		listed := false
		for _, p := range peers {
			listed = listed || string(p.ID) == *nodeID
		}
		if listed && len(joinAddrs) > 0 {
			return fmt.Errorf("--join is for nodes outside --initial-cluster; %q is listed in it", *nodeID)
		}
		if !listed {
			bootstrap, peers = false, nil
		}
	}
	if *raftAdvertise == "" {
		adv, err := defaultRaftAdvertise(*raftBind, bootstrap && len(peers) == 0)
		if err != nil {
			return err
		}
		*raftAdvertise = adv
	}
	origins, err := parseCORSOrigins(*corsOrigins)
	if err != nil {
		return err
	}
	srv, err := server.Start(server.Config{
		NodeID: *nodeID, DataDir: *dataDir, ClientAddr: *listen, AdvertiseClientAddr: *advertise,
		RaftBind: *raftBind, RaftAdvertise: *raftAdvertise,
		PeerTLS:   raftnode.PeerTLS{CertFile: *peerCert, KeyFile: *peerKey, CAFile: *peerCA},
		Bootstrap: bootstrap, Peers: peers, Join: joinAddrs, LeaderWait: *leaderWait,
		SnapshotThreshold: *snapThreshold, SnapshotInterval: *snapInterval, TrailingLogs: *trailingLogs, RaftLogStore: *raftLogStore,
		SnapshotLogRatio: ratio, ReplicationRetry: *replRetry,
		Limits: *limits, ShutdownGrace: *grace, MetricsTop: *metricsTop, Pprof: *pprofOn, MaxBackupBytes: *maxBackup,
		Auth: authCfg, Insecure: *sec.insecure, CORSOrigins: origins,
		FirstBytesTimeout: *firstBytes, MaxConnections: *maxConns, MaxConcurrentStreams: uint32(min(*maxStreams, math.MaxUint32)),
		Logger: logger,
	})
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String())
		return srv.Close()
	case err := <-srv.Err():
		// Without a client port the node is useless: exit (non-zero) so a supervisor
		// restarts it, rather than run on unreachable.
		_ = srv.Close()
		return err
	}
}

// applyEnv sets each flag from OCTOPUSMQ_<NAME> when present; the command line overrides.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "OCTOPUSMQ_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// parseInitialCluster reads "id=host:port,id=host:port".
func parseInitialCluster(v string) ([]raft.Server, error) {
	if v == "" {
		return nil, nil
	}
	var out []raft.Server
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--initial-cluster entry %q: want id=host:port", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("--initial-cluster names %q twice", id)
		}
		seen[id] = true
		out = append(out, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
	}
	return out, nil
}

// defaultRaftAdvertise is --raft-bind, unless its host is unspecified (0.0.0.0): a single
// node then advertises loopback (it has no peers to reach it), while a cluster member must
// say which address its peers dial.
func defaultRaftAdvertise(bind string, single bool) (string, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("--raft-bind %q: %w", bind, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return bind, nil
	}
	if single {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	return "", fmt.Errorf("--raft-bind %q listens on every interface: set --raft-advertise to the address peers dial", bind)
}
