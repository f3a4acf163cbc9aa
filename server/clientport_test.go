package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// A connection that sends nothing is closed once the first-bytes deadline passes.
func TestSilentConnectionIsClosed(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.FirstBytesTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent connection was still open after %v", time.Since(start))
	}
	if err == nil {
		t.Fatal("the server sent bytes to a silent connection")
	}
	t.Logf("silent connection closed after %v", time.Since(start))
	// The port still serves.
	if code, _ := servertest.HTTP(t, "GET", srv.URL+"/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
}

// With --max-connections reached, the next connection waits (unanswered) while the open
// ones keep working, and is served once one of them closes.
func TestMaxConnections(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.MaxConnections = 2 })
	http.DefaultClient.CloseIdleConnections() // WaitReady's keep-alive connection
	ctx := ctxT(t)
	health := healthpb.NewHealthClient(servertest.Dial(t, srv.Addr)) // connection 1
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	second := rawHTTP(t, srv.Addr) // connection 2: answered, kept alive
	if err := second.get(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	third := rawHTTP(t, srv.Addr) // past the limit
	if err := third.get(500 * time.Millisecond); err == nil {
		t.Fatal("a connection past --max-connections was served")
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("an open connection stopped working at the limit: %v", err)
	}
	second.conn.Close()
	if err := third.wait(10 * time.Second); err != nil {
		t.Fatalf("the waiting connection was not served once a slot freed: %v", err)
	}
}

type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func rawHTTP(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{conn: c, r: bufio.NewReader(c)}
}

// get sends GET /healthz and waits up to d for the answer.
func (c *rawConn) get(d time.Duration) error {
	if _, err := io.WriteString(c.conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	return c.wait(d)
}

// wait reads one response to a request already sent.
func (c *rawConn) wait(d time.Duration) error {
	c.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = errors.New(resp.Status)
	}
	return err
}

// At most MaxConcurrentStreams streams are open on one connection; the next waits.
func TestMaxConcurrentStreams(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.MaxConcurrentStreams = 1 })
	health := healthpb.NewHealthClient(servertest.Dial(t, srv.Addr))
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	first, err := health.Watch(ctx1, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if second, err := health.Watch(ctx2, &healthpb.HealthCheckRequest{}); err == nil {
		if _, err := second.Recv(); err == nil {
			t.Fatal("a second stream opened past MaxConcurrentStreams=1")
		}
	}
	cancel1()
	third, err := health.Watch(ctxT(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := third.Recv(); err != nil {
		t.Fatalf("a stream after the first closed: %v", err)
	}
}

// Every gRPC content type reaches the gRPC server: application/grpc, with a codec suffix
// (application/grpc+proto, as buf's connect-node gRPC transport sends) and with parameters.
func TestGRPCContentTypes(t *testing.T) {
	srv := servertest.Start(t)
	for _, ct := range []string{"application/grpc", "application/grpc+proto", "application/grpc;charset=utf-8", "application/grpc+proto; charset=utf-8"} {
		t.Run(ct, func(t *testing.T) { grpcContentType(t, srv.URL, ct) })
	}
}

// grpcContentType calls the gRPC health check with content type ct on a new connection (the
// port routes a connection by its first request) and checks gRPC answered it.
func grpcContentType(t *testing.T, url, ct string) {
	h2c := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}},
	}
	// An empty HealthCheckRequest: uncompressed, zero length.
	req, _ := http.NewRequest("POST", url+"/grpc.health.v1.Health/Check", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("TE", "trailers")
	resp, err := h2c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", ct, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	h2c.CloseIdleConnections()
	if err != nil {
		t.Fatalf("%s: %v", ct, err)
	}
	if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		t.Fatalf("%s: %d %v trailer %v", ct, resp.StatusCode, resp.Header, resp.Trailer)
	}
	// One message: SERVING (field 1 = 1).
	if !bytes.Equal(body, []byte{0, 0, 0, 0, 2, 0x08, 0x01}) {
		t.Fatalf("%s: body %x", ct, body)
	}
}

// A gRPC client that connects ahead of its first call and stays quiet longer than the
// first-bytes deadline keeps its connection, served by gRPC: the HTTP/2 preface counts as
// its first bytes (it used to be handed to HTTP/1 and fail its first call).
func TestIdleGRPCClientKeepsItsConnection(t *testing.T) {
	const deadline = 300 * time.Millisecond
	srv := servertest.Start(t, func(c *server.Config) { c.FirstBytesTimeout = deadline })
	conn := servertest.Dial(t, srv.Addr)
	ctx := ctxT(t)
	conn.Connect()
	for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			t.Fatalf("never connected: %v", s)
		}
	}
	// Idle for several deadlines: the connection must not change state meanwhile.
	idle, cancel := context.WithTimeout(ctx, 4*deadline)
	defer cancel()
	if conn.WaitForStateChange(idle, connectivity.Ready) {
		t.Fatalf("the idle connection went %v", conn.GetState())
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("first call after idling: %v", err)
	}
	if s := conn.GetState(); s != connectivity.Ready {
		t.Fatalf("the first call needed a new connection (state %v)", s)
	}
}
