package client

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// The watchdog (watchdog.go) sees whole messages: an answer that takes longer than the
// silence timeout to arrive — a pull of several MiB over a slow link, a response near the
// server's 256 MiB limit, or any large answer on a very loaded machine — would look like
// silence while its bytes are flowing, fail the session and send the read again, forever
// on a link that slow. So the client dials its connections itself and counts what each
// receives: a connection that received at least readClockBytes since the watchdog last
// looked is not silent. The threshold keeps HTTP/2's own small frames (ping and its
// answer, window updates, settings: tens of bytes each) from passing for an answer:
// a server that sends only those is still silent. A connection carries the streams of
// every client object sharing it, so an answer arriving on any of them counts: a stopped
// or partitioned node sends nothing at all. A client given its own dialer
// (WithDialOptions) or behind an HTTPS proxy (gRPC's proxy support needs its own dialer)
// falls back to whole messages.

// readClockBytes is how much a connection must receive for its clock to advance.
const readClockBytes = 4 << 10

// readClock is when a connection last received readClockBytes.
type readClock struct {
	last    atomic.Int64 // unix nanoseconds; 0: never
	pending atomic.Int64 // bytes received since the last advance
}

func (c *readClock) read(n int) {
	if c.pending.Add(int64(n)) >= readClockBytes {
		c.pending.Store(0)
		c.last.Store(time.Now().UnixNano())
	}
}

// since is when the clock last advanced (the zero time if never, or c is nil).
func (c *readClock) since() time.Time {
	if c == nil {
		return time.Time{}
	}
	if ns := c.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// clockedConn is a net.Conn that advances its clock as it reads.
type clockedConn struct {
	net.Conn
	clock *readClock
}

func (c clockedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.clock.read(n)
	}
	return n, err
}

// readClocks holds the clock of each connection the client dialled itself.
var readClocks sync.Map // *grpc.ClientConn → *readClock

// clockOf is cc's read clock, nil when its connections are not dialled by the client.
func clockOf(cc *grpc.ClientConn) *readClock {
	if c, ok := readClocks.Load(cc); ok {
		return c.(*readClock)
	}
	return nil
}

// clockedDialer returns the dial option that gives a connection a read clock, or nil when
// the client must leave dialling to gRPC (a unix socket, an HTTPS proxy in the
// environment).
func clockedDialer(addr string, o *options) (grpc.DialOption, *readClock) {
	if strings.HasPrefix(addr, "unix:") || os.Getenv("HTTPS_PROXY") != "" || os.Getenv("https_proxy") != "" {
		return nil, nil
	}
	dialTCP := o.dialTCP
	if dialTCP == nil {
		dialTCP = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	clock := new(readClock)
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := dialTCP(ctx, addr)
		if err != nil {
			return nil, err
		}
		return clockedConn{Conn: c, clock: clock}, nil
	}), clock
}
