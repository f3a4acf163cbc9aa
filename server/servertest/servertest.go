// Package servertest starts real OctopusMQ servers for end-to-end tests: a single-node
// cluster on 127.0.0.1 with random ports and a temporary data folder, serving gRPC and
// HTTP/JSON on one port exactly as the binary does.
package servertest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/service"
)

// Server is a running test server.
type Server struct {
	// Addr is the client address (host:port) serving gRPC and HTTP/JSON.
	Addr string
	// URL is "http://" + Addr ("https://" with TLS).
	URL string
	// DataDir is the server's data folder (kept across Restart).
	DataDir string

	cfg server.Config
	srv *server.Server
}

// Option changes the test server's configuration.
type Option func(*server.Config)

// WithMaxValueBytes sets the largest value the server accepts.
func WithMaxValueBytes(n int) Option {
	return func(c *server.Config) { c.Limits.MaxValueBytes = n }
}

// WithLimits sets the server's size limits (unset ones keep their defaults).
func WithLimits(l service.Limits) Option {
	return func(c *server.Config) { c.Limits = l }
}

// WithCaps caps the number of queues and storages.
func WithCaps(queues, storages int) Option {
	return func(c *server.Config) { c.Limits.MaxQueues, c.Limits.MaxStorages = queues, storages }
}

// WithClock makes the server take the time from c.
func WithClock(c raftnode.Clock) Option {
	return func(cfg *server.Config) { cfg.Clock = c }
}

// WithMaxBackupBytes sets the largest backup a restore accepts.
func WithMaxBackupBytes(n int64) Option {
	return func(c *server.Config) { c.MaxBackupBytes = n }
}

// WithAuth secures the client port (TLS, tokens file, client CA). Files are checked for
// changes on every use, so tests see a rewrite at once.
func WithAuth(a auth.Config) Option {
	return func(c *server.Config) {
		if a.ReloadInterval == 0 {
			a.ReloadInterval = time.Nanosecond
		}
		c.Auth = a
	}
}

// WithCORSOrigins lets browser pages of these origins call the HTTP API ("*": any).
func WithCORSOrigins(origins ...string) Option {
	return func(c *server.Config) { c.CORSOrigins = origins }
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	logOut, level := io.Writer(io.Discard), slog.LevelError
	if os.Getenv("OCTOPUSMQ_TEST_LOG") != "" {
		logOut, level = os.Stderr, slog.LevelDebug
	}
	cfg := server.Config{
		NodeID:        "test-node",
		DataDir:       dir,
		ClientAddr:    freeAddr(t),
		RaftBind:      freeAddr(t),
		Bootstrap:     true,
		ShutdownGrace: 2 * time.Second,
		Logger:        slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	scheme := "http://"
	if cfg.Auth.TLSCert != "" {
		scheme = "https://"
	}
	s := &Server{Addr: cfg.ClientAddr, URL: scheme + cfg.ClientAddr, DataDir: dir, cfg: cfg}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	srv, err := server.Start(s.cfg)
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	s.srv = srv
	if err := WaitReady(s.URL, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Server is the running server (nil while stopped).
func (s *Server) Server() *server.Server { return s.srv }

// Restart stops the server and starts it again on the same data folder and address.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Stop stops the server (idempotent).
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

// WaitReady polls url/readyz until it answers 200 or the timeout passes. Readiness is
// an external condition of another process, so polling is the only way to await it.
func WaitReady(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		resp, err := readyClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s not ready after %v (last error: %v)", url, timeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readyClient probes readiness; it does not verify a TLS server's certificate (tests that
// care about certificates check them themselves).
var readyClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// freeAddr reserves a free 127.0.0.1 port and releases it for the server to take.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
