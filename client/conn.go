package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
)

// splitTarget parses "host1:4123,host2:4123" into its addresses. A DNS name with several
// records (a Kubernetes headless Service, say) also contributes each of its addresses, so
// the client can reach every member through one name.
func splitTarget(target string) ([]string, error) {
	var addrs []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for _, a := range strings.Split(target, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		add(a)
		for _, r := range resolveAll(a) {
			add(r)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: empty target address", ErrInvalidArgument)
	}
	return addrs, nil
}

// resolveAll returns ip:port for each record of a DNS name with more than one record.
func resolveAll(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || host == "localhost" || net.ParseIP(host) != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(ips) < 2 {
		return nil
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, port)
	}
	return out
}

// dial creates the gRPC connection to one address. grpc.NewClient does not connect: the
// connection is made by the first stream or call.
func dial(addr string, o *options) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(o.creds),
		// gRPC's own reconnect backoff (1 s … 120 s by default) would dominate ours after a
		// server restart: align it with the client's backoff.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  o.minBackoff,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   o.maxBackoff,
			},
			MinConnectTimeout: attemptTimeout,
		}),
		// gRPC's default 4 MiB receive limit is below what a server answers (a pull of
		// several large items, one item at the server's value limit): accept up to
		// MaxReceiveBytes.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveBytes)),
		// HTTP/2 pings notice a dead peer on an idle connection too (gRPC allows no
		// interval under ten seconds; the stream watchdog is faster while calls wait).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
	}
	var clock *readClock
	if len(o.dialOptions) == 0 { // options of the caller's may carry a dialer of their own
		var d grpc.DialOption
		if d, clock = clockedDialer(addr, o); d != nil {
			opts = append(opts, d)
		}
	}
	opts = append(opts, o.dialOptions...)
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, &permanentError{fmt.Errorf("octopusmq: address %q: %w", addr, err)}
	}
	if clock != nil {
		readClocks.Store(cc, clock)
	}
	return cc, nil
}

// permanentError marks a connection failure that retrying does not cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// backoffDelay is the delay before reconnect attempt n (n >= 1): min·2^(n-1) capped at max,
// with "equal jitter" (a random value between half the delay and the delay).
func backoffDelay(o *options, n int) time.Duration {
	d := o.maxBackoff
	if n < 32 {
		if e := o.minBackoff << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepCtx sleeps for d or until ctx is done; it reports whether the full delay passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// budget shortens a server-side wait d so that the server answers before ctx's deadline
// (keeping a margin for the round trip).
func budget(ctx context.Context, d time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return d
	}
	rem := time.Until(dl)
	margin := min(rem/10, time.Second)
	rem -= margin
	if rem < 0 {
		rem = 0
	}
	return min(d, rem)
}
