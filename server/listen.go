package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/soheilhy/cmux"
	"golang.org/x/net/http2"
	"golang.org/x/net/netutil"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Defaults of the client port's connection limits.
const (
	// DefaultFirstBytesTimeout is how long a new connection may stay silent before the
	// port closes it.
	DefaultFirstBytesTimeout = 10 * time.Second
	// DefaultMaxConcurrentStreams bounds the gRPC streams (and unary calls) open at once on
	// one connection.
	DefaultMaxConcurrentStreams = 1024
)

// serveClientPort splits the client port between the gRPC server and the HTTP server and
// serves both. A connection's first bytes decide where it goes: HTTP/2 whose first request
// has a content-type starting with application/grpc (application/grpc,
// application/grpc+proto, application/grpc;charset=...) goes to gRPC's own transport,
// anything else to HTTP/1 for the gateway. A connection that sends nothing within
// FirstBytesTimeout is closed, and at most MaxConnections are served at once: the next
// ones wait in the listen backlog until one closes.
func (s *Server) serveClientPort(ln net.Listener) {
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	s.mux = cmux.New(s.auth.Listener(ln)) // TLS (when on) is terminated before the split
	s.mux.SetReadTimeout(s.cfg.FirstBytesTimeout)
	grpcL := s.mux.MatchWithWriters(
		cmux.HTTP2MatchHeaderFieldPrefixSendSettings("content-type", "application/grpc"),
		// An HTTP/2 client that connected but sent no request before the deadline is a
		// gRPC client that dials ahead of its first call (grpc-go, Python's
		// channel_ready_future): gRPC's transport serves it. Handing it to HTTP/1 would
		// fail its first call with "Trying to connect an http1.x server".
		idleHTTP2)
	// Not cmux.Any(): a connection whose first read failed (the first-bytes deadline
	// passed) matches nothing and is closed, instead of being handed to HTTP.
	httpL := s.mux.Match(sentSomething)
	go s.watchServe("gRPC server", func() error { return s.grpc.Serve(grpcL) })
	go s.watchServe("HTTP server", func() error { return s.http.Serve(httpL) })
	go s.watchServe("client port", s.mux.Serve)
}

// idleHTTP2 matches a connection that sent the HTTP/2 client preface and frames, but no
// request (HEADERS) before its first read failed. It runs after the content-type matcher,
// on the same sniffed bytes: a connection whose request arrived in time was decided there.
func idleHTTP2(_ io.Writer, r io.Reader) bool {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(r, preface); err != nil || string(preface) != http2.ClientPreface {
		return false
	}
	fr := http2.NewFramer(io.Discard, r)
	fr.SetMaxReadFrameSize(1 << 20)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			// The deadline passed (or the peer stopped) before any request: only a
			// timeout makes it an idle gRPC client; anything else is not a connection
			// worth serving.
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}
		if _, ok := f.(*http2.HeadersFrame); ok {
			return false // a request that is not gRPC: the HTTP side decides
		}
	}
}

// sentSomething matches a connection that sent at least one byte.
func sentSomething(r io.Reader) bool {
	var b [1]byte
	n, _ := r.Read(b[:])
	return n == 1
}

// watchServe runs serve and, if it returns while the server is not closing, reports the
// client port as failed: readiness and health turn off and Err delivers the error, so the
// process exits instead of running on without a client port.
func (s *Server) watchServe(what string, serve func() error) {
	err := serve()
	select {
	case <-s.closed:
		return
	default:
	}
	if err == nil {
		err = errors.New("stopped serving")
	}
	err = fmt.Errorf("%s: %w", what, err)
	s.failOnce.Do(func() {
		s.log.Error("the client port failed", "err", err)
		s.failed.Store(true)
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		s.serveErr <- err
	})
}

// Err delivers the error that stopped the client port while the server was not closing
// (at most one). A process serving a Server should watch it and exit.
func (s *Server) Err() <-chan error { return s.serveErr }
