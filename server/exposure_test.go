package server_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestWarnsWhenExposed: a client port on every interface without TLS and authentication
// logs a warning at start, unless --insecure; a loopback one does not.
func TestWarnsWhenExposed(t *testing.T) {
	start := func(addr string, insecure bool) string {
		logs := &syncBuffer{}
		servertest.Start(t, func(c *server.Config) {
			if addr != "" {
				_, port, _ := net.SplitHostPort(c.ClientAddr)
				c.ClientAddr = net.JoinHostPort(addr, port)
			}
			c.Insecure = insecure
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		}).Stop()
		return logs.String()
	}
	const warning = "reachable from other hosts without TLS (--tls-cert, --tls-key) and authentication"
	if logs := start("0.0.0.0", false); !strings.Contains(logs, warning) {
		t.Fatalf("no warning for 0.0.0.0:\n%s", logs)
	}
	if logs := start("0.0.0.0", true); strings.Contains(logs, "reachable from other hosts") {
		t.Fatalf("a warning despite Insecure:\n%s", logs)
	}
	if logs := start("", false); strings.Contains(logs, "reachable from other hosts") {
		t.Fatalf("a warning for loopback:\n%s", logs)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
