// Package servertest starts real OctopusMQ servers for end-to-end tests: a single-node
// cluster on 127.0.0.1 with random ports and a temporary data folder, serving gRPC and
// HTTP/JSON on one port exactly as the binary does.
package servertest

import "testing"

// Server is a running test server.
type Server struct {
	// Addr is the client address (host:port) serving gRPC and HTTP/JSON.
	Addr string
	// URL is "http://" + Addr.
	URL string
	// DataDir is the server's data folder (kept across Restart).
	DataDir string
}

// Option changes the test server's configuration.
type Option func(*options)

type options struct{}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server { panic("TODO") }

// Restart stops the server and starts it again on the same data folder and address.
func (s *Server) Restart(t testing.TB) { panic("TODO") }

// Stop stops the server (idempotent).
func (s *Server) Stop() { panic("TODO") }
