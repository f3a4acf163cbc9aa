package client

import (
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Client objects of one process share one gRPC connection per node: a QueueClient, a
// StorageClient and an AdminClient made with the same address and options multiplex their
// streams and calls over one HTTP/2 connection (streams are cheap, connections are not:
// each is its own TLS handshake, keepalive and server-side reader). A connection is closed
// when its last user closes it. Clients given WithDialOptions dial their own, since those
// options cannot be compared.

// connKey is what makes two clients' connections to a node interchangeable.
type connKey struct {
	addr       string
	creds      credentials.TransportCredentials
	minBackoff time.Duration
	maxBackoff time.Duration
}

type sharedConn struct {
	cc     *grpc.ClientConn
	key    connKey
	refs   int
	pooled bool // still handed to new users (false once dropped)
}

var conns = struct {
	sync.Mutex
	byKey map[connKey]*sharedConn
	byCC  map[*grpc.ClientConn]*sharedConn
}{byKey: map[connKey]*sharedConn{}, byCC: map[*grpc.ClientConn]*sharedConn{}}

// acquireConn returns a connection to addr for o: the process's shared one when o allows
// sharing, else a new one. Give it back with releaseConn (or dropConn).
func acquireConn(addr string, o *options) (*grpc.ClientConn, error) {
	if len(o.dialOptions) > 0 || o.dialTCP != nil || !canKey(o.creds) {
		return dial(addr, o)
	}
	key := connKey{addr: addr, creds: o.creds, minBackoff: o.minBackoff, maxBackoff: o.maxBackoff}
	conns.Lock()
	defer conns.Unlock()
	if sc := conns.byKey[key]; sc != nil {
		sc.refs++
		return sc.cc, nil
	}
	cc, err := dial(addr, o)
	if err != nil {
		return nil, err
	}
	sc := &sharedConn{cc: cc, key: key, refs: 1, pooled: true}
	conns.byKey[key] = sc
	conns.byCC[cc] = sc
	return cc, nil
}

// canKey reports whether creds can key the pool (credentials held by value or pointer
// are; anything else dials its own connection).
func canKey(creds credentials.TransportCredentials) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = map[any]bool{creds: true}
	return true
}

// releaseConn gives back one use of cc, closing it with its last user.
func releaseConn(cc *grpc.ClientConn) error {
	conns.Lock()
	sc := conns.byCC[cc]
	if sc == nil {
		conns.Unlock()
		readClocks.Delete(cc)
		return cc.Close()
	}
	sc.refs--
	last := sc.refs == 0
	if last {
		delete(conns.byCC, cc)
		if sc.pooled {
			delete(conns.byKey, sc.key)
		}
	}
	conns.Unlock()
	if last {
		readClocks.Delete(cc)
		return cc.Close()
	}
	return nil
}

// dropConn gives back one use of cc and stops handing it to new users (it went silent:
// the next user dials a fresh one); it closes when its remaining users let go.
func dropConn(cc *grpc.ClientConn) error {
	conns.Lock()
	if sc := conns.byCC[cc]; sc != nil && sc.pooled {
		sc.pooled = false
		delete(conns.byKey, sc.key)
	}
	conns.Unlock()
	return releaseConn(cc)
}

// sharedConns is the number of connections in the pool (for tests).
func sharedConns() int {
	conns.Lock()
	defer conns.Unlock()
	return len(conns.byKey)
}
