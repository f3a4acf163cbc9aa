package client

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults of the options.
const (
	// DefaultConnectTimeout bounds how long New* waits for the first connection.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultPullTimeout is how long Pull and PullSingle wait for an item.
	DefaultPullTimeout = 30 * time.Second
	// DefaultEnqueueTimeout is how long an enqueue waits for room in a full queue:
	// 0 answers ErrQueueFull at once.
	DefaultEnqueueTimeout = 0
	// DefaultLockTimeout is how long LockKey waits while the key is locked by another
	// holder: 0 answers ErrItemBusy at once (a try-lock).
	DefaultLockTimeout = 0
	// DefaultLockAnyTimeout is how long LockAny waits for an unlocked key before ErrTimeout.
	DefaultLockAnyTimeout = 30 * time.Second
	// DefaultKeepAlive is the idle interval between keep-alive noops on a stream.
	DefaultKeepAlive = 30 * time.Second
	// DefaultSilenceTimeout is how long a stream with requests in flight may receive
	// nothing before it is considered dead and reconnected (see WithSilenceTimeout).
	DefaultSilenceTimeout = 2 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the reconnect backoff.
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// attemptTimeout bounds one connection attempt (open the stream, send setup, read the answer).
const attemptTimeout = 5 * time.Second

// MaxReceiveBytes is the largest message the client receives: above the largest response
// limit a server can be configured with (--max-response-bytes, at most 256 MiB). Pass
// grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n)) in WithDialOptions to lower it.
const MaxReceiveBytes = 257 << 20

// maxLeaderHops bounds how many LEADER_SWITCH answers one request follows.
const maxLeaderHops = 16

// Option configures a QueueClient, StorageClient or AdminClient. Options that do not apply
// to a client are ignored by it.
type Option func(*options)

type options struct {
	dialOptions    []grpc.DialOption
	creds          credentials.TransportCredentials
	connectTimeout time.Duration
	lazy           bool
	minBackoff     time.Duration
	maxBackoff     time.Duration
	keepAlive      time.Duration
	silenceTimeout time.Duration
	pullTimeout    time.Duration
	enqueueTimeout time.Duration
	lockTimeout    time.Duration
	lockAnyTimeout time.Duration
	relayed        bool // WithRelay: do not ask for the leader itself
	// dialTCP replaces the TCP dial under the read clock (tests: a slow link).
	dialTCP func(ctx context.Context, addr string) (net.Conn, error)
}

func buildOptions(opts []Option) *options {
	o := &options{
		creds:          insecure.NewCredentials(),
		connectTimeout: DefaultConnectTimeout,
		minBackoff:     DefaultMinBackoff,
		maxBackoff:     DefaultMaxBackoff,
		keepAlive:      DefaultKeepAlive,
		silenceTimeout: DefaultSilenceTimeout,
		pullTimeout:    DefaultPullTimeout,
		enqueueTimeout: DefaultEnqueueTimeout,
		lockTimeout:    DefaultLockTimeout,
		lockAnyTimeout: DefaultLockAnyTimeout,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	if o.minBackoff <= 0 {
		o.minBackoff = DefaultMinBackoff
	}
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
	return o
}

// WithDialOptions adds gRPC dial options (interceptors, keepalive, message sizes, …) to
// every connection the client opens. They are applied after the client's own defaults.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// WithTransportCredentials sets the transport credentials. The default is insecure
// (plaintext), as the server serves without --tls-cert; see WithTLS.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(o *options) { o.creds = creds }
}

// WithTLS connects with TLS configured by cfg (RootCAs to trust the server's certificate,
// Certificates for a client certificate); nil uses the system roots. Use it when the server
// runs with --tls-cert.
func WithTLS(cfg *tls.Config) Option {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	return WithTransportCredentials(credentials.NewTLS(cfg))
}

// WithToken sends token as "authorization: Bearer <token>" on every stream and call, for a
// server with --auth-tokens-file. Combine it with WithTLS: without TLS the token crosses the
// network in the clear.
func WithToken(token string) Option {
	return WithDialOptions(grpc.WithPerRPCCredentials(bearer(token)))
}

// bearer is a token as gRPC per-call credentials.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that a token also works over plaintext on loopback.
func (bearer) RequireTransportSecurity() bool { return false }

// WithConnectTimeout bounds how long NewQueueClient / NewStorageClient wait for the first
// connection and setup (default DefaultConnectTimeout).
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithLazyConnect makes NewQueueClient / NewStorageClient return without connecting: the
// first operation connects (and reports ErrQueueNotFound / ErrStorageNotFound).
func WithLazyConnect() Option {
	return func(o *options) { o.lazy = true }
}

// WithBackoff sets the reconnect backoff: the delay starts at first and doubles up to
// limit, with jitter (defaults DefaultMinBackoff, DefaultMaxBackoff).
func WithBackoff(first, limit time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = first, limit }
}

// WithKeepAlive sets the interval of keep-alive noops on a stream; a noop unanswered within
// the interval breaks the stream, which is then reconnected. 0 disables keep-alives.
func WithKeepAlive(d time.Duration) Option {
	return func(o *options) { o.keepAlive = d }
}

// WithSilenceTimeout sets how long a stream with requests in flight may receive nothing
// before the client considers it dead (a stopped or partitioned server), fails its
// in-flight requests with ErrConnectionLost (reads are re-sent) and reconnects, asking the
// other nodes who leads (default DefaultSilenceTimeout). After half of it the client sends
// a noop, which a live server answers at once, so long polls are not mistaken for
// silence. 0 disables the check.
func WithSilenceTimeout(d time.Duration) Option {
	return func(o *options) { o.silenceTimeout = d }
}

// WithPullTimeout sets how long Pull and PullSingle wait (server-side long poll) for an item
// (default DefaultPullTimeout). A sooner ctx deadline shortens the wait.
func WithPullTimeout(d time.Duration) Option {
	return func(o *options) { o.pullTimeout = d }
}

// WithEnqueueTimeout sets how long Enqueue and BatchEnqueue wait for room in a queue that is
// at max_size before ErrQueueFull (default 0: fail at once). A sooner ctx deadline
// shortens the wait.
func WithEnqueueTimeout(d time.Duration) Option {
	return func(o *options) { o.enqueueTimeout = d }
}

// WithLockTimeout sets how long LockKey waits while the key is locked by another holder
// before ErrItemBusy (default 0: a try-lock).
func WithLockTimeout(d time.Duration) Option {
	return func(o *options) { o.lockTimeout = d }
}

// WithLockAnyTimeout sets how long LockAny waits for an unlocked key before ErrTimeout
// (default DefaultLockAnyTimeout).
func WithLockAnyTimeout(d time.Duration) Option {
	return func(o *options) { o.lockAnyTimeout = d }
}
