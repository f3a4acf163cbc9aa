package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
)

// forwardedKey marks a request one node forwarded to another, so it is never forwarded
// twice (no loops while leadership moves).
const forwardedKey = "x-octopusmq-forwarded"

// forwarder is the one place where unary requests (and so every REST request) reach the
// leader. A follower forwards them over a pooled connection; during an election it waits
// (up to LeaderWait) for a leader. A request is re-sent only when it provably did not
// execute: the node it reached was not the leader (LEADER_SWITCH / ErrNotLeader).
type forwarder struct {
	node  *raftnode.Node
	state *state.State
	self  string // this node's advertised client address
	wait  time.Duration
	// auth gives the credentials of calls to other members (TLS; the node's identity).
	auth *auth.Auth

	// done is closed when the server shuts down (relayed streams end).
	done <-chan struct{}

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// local lists the unary methods every node answers itself.
var local = map[string]bool{
	"/io.clbs.octopusmq.v1.ClusterService/GetCluster": true,
}

func newForwarder(node *raftnode.Node, st *state.State, self string, wait time.Duration) *forwarder {
	return &forwarder{node: node, state: st, self: self, wait: wait, conns: map[string]*grpc.ClientConn{}}
}

func (f *forwarder) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if local[info.FullMethod] || !strings.HasPrefix(info.FullMethod, "/io.clbs.octopusmq.") {
		return handler(ctx, req)
	}
	forwarded := len(metadata.ValueFromIncomingContext(ctx, forwardedKey)) > 0
	waitCtx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()
	retries := 0
	for {
		if f.node.IsLeader() || forwarded {
			resp, err := handler(ctx, req)
			if forwarded || !notExecuted(err) || waitCtx.Err() != nil {
				return resp, err
			}
			// Leadership moved before the request ran: send it to the new leader.
		}
		id, addr, err := f.waitLeader(waitCtx)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "no leader elected within %v", f.wait)
		}
		if id == f.node.ID() {
			continue
		}
		if addr == "" {
			if addr, err = f.leaderAddress(waitCtx, id); err != nil {
				return nil, err
			}
		}
		changed := f.node.LeaderChanged()
		var resp any
		if id == "" {
			resp, err = f.forward(ctx, addr, info.FullMethod, req) // named by the others
		} else {
			resp, err = f.forwardWhileLeads(ctx, id, addr, info.FullMethod, req)
		}
		if (notExecuted(err) || errors.Is(err, errNotSent)) && waitCtx.Err() == nil {
			// The request provably did not run: the target no longer leads, or the
			// connection to it failed before the request was sent (the old leader is
			// down and this node has not noticed yet). Wait for the next leader
			// observation (or a short backoff: the leader may come back) and try again.
			retries++
			t := time.NewTimer(min(50*time.Millisecond<<min(retries, 4), 500*time.Millisecond))
			select {
			case <-waitCtx.Done():
			case <-changed:
			case <-t.C:
			}
			t.Stop()
			if waitCtx.Err() == nil || ctx.Err() != nil {
				continue
			}
		}
		if errors.Is(err, errNotSent) || notExecuted(err) && waitCtx.Err() != nil {
			return nil, status.Errorf(codes.Unavailable, "no reachable leader within %v: %v", f.wait, err)
		}
		return resp, err
	}
}

// waitLeader waits (bounded by ctx) for a leader: its id once this node knows one (addr
// empty), or, when none is known here after noLeaderGrace and then every second, the client
// address another member names (id empty). A node cut off from the others' Raft ports
// (a firewall, a partial partition) may still reach their client ports; without this it
// would hold the request until the partition heals or the leader wait ends.
func (f *forwarder) waitLeader(ctx context.Context) (id, addr string, err error) {
	step := noLeaderGrace
	for {
		wctx, cancel := context.WithTimeout(ctx, step)
		id, _, err = f.node.WaitLeader(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return id, "", err
		}
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		addr = f.leaderFromPeers(lctx)
		cancel()
		if addr != "" && addr != f.self {
			return "", addr, nil
		}
		step = time.Second
	}
}

// noLeaderGrace is how long a request waits for a leader to be known here before asking
// the other members: four election timeouts (500 ms), about one election.
const noLeaderGrace = 2 * time.Second

// leaderAddress waits (bounded by ctx) until the state holds the client address of leader
// id: a new leader records it in its first entries, which this node may not have applied.
// When it is still unknown after addressGrace, this node is behind the log, typically
// restarted after an outage: it knows the leader from heartbeats, but hashicorp/raft backs
// off replication to a peer it could not reach (up to about 10 s after a few seconds of
// outage) and applies nothing past its own snapshot until the leader sends entries. Rather
// than hold the request that long, it asks the other members it knows, and failing that
// answers UNAVAILABLE at once: another node can forward the retry.
func (f *forwarder) leaderAddress(ctx context.Context, id string) (string, error) {
	grace := time.NewTimer(addressGrace)
	defer grace.Stop()
	for {
		applied := f.node.AppliedChanged()
		if addr := f.state.MemberAddress(id); addr != "" && addr != f.self {
			return addr, nil
		}
		select {
		case <-applied:
		case <-grace.C:
			lctx, cancel := context.WithTimeout(ctx, time.Second)
			addr := f.leaderFromPeers(lctx)
			cancel()
			if addr != "" && addr != f.self {
				return addr, nil
			}
			return "", status.Errorf(codes.Unavailable,
				"this node has not caught up with the log yet: the client address of the leader %q is not known here; retry (another node can forward it)", id)
		case <-ctx.Done():
			return "", status.Errorf(codes.Unavailable, "the leader %q has not published its client address yet; retry", id)
		}
	}
}

// leaderTarget waits (bounded by ctx) for a leader and returns its id and client address
// (this node's own when it leads), as leaderAddress finds it.
func (f *forwarder) leaderTarget(ctx context.Context) (id, addr string, err error) {
	id, _, err = f.node.WaitLeader(ctx)
	if err != nil {
		return "", "", err
	}
	if id == f.node.ID() {
		return id, f.self, nil
	}
	addr, err = f.leaderAddress(ctx, id)
	return id, addr, err
}

// addressGrace bounds the wait for the leader's client address to be applied here before
// asking the other members: a node that is up to date has it within milliseconds.
const addressGrace = 2 * time.Second

// forward invokes method on the node at addr with the same request and metadata.
func (f *forwarder) forward(ctx context.Context, addr, method string, req any) (any, error) {
	conn, err := f.conn(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "connecting to the leader at %s: %v", addr, err)
	}
	reply, err := newReply(method)
	if err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	md = f.auth.ForwardMetadata(ctx, md.Copy())
	md.Set(forwardedKey, "1")
	var p peer.Peer
	if err := conn.Invoke(metadata.NewOutgoingContext(ctx, md), method, req, reply, grpc.Peer(&p)); err != nil {
		if c := status.Code(err); p.Addr == nil && (c == codes.Unavailable || c == codes.Canceled) {
			// gRPC records the peer once the call has a stream on a connection; without
			// one the request never left this node (the dial failed or was refused, or the
			// call was abandoned while connecting).
			return nil, fmt.Errorf("%w: %s: %v", errNotSent, addr, status.Convert(err).Message())
		}
		return nil, err
	}
	return reply, nil
}

// forwardWhileLeads is forward to leader id at addr, abandoned once another node leads
// (anotherLeads: for a second): a leader that stopped (SIGSTOP, a hung host) or was cut
// off keeps the forwarded call open and silent until it resumes, long after the others
// elected a successor. The request may have reached it, so the outcome is unknown (as for a command
// in flight when leadership is lost): the caller gets that error about an election after
// the stop instead of waiting out the stop.
func (f *forwarder) forwardWhileLeads(ctx context.Context, id, addr, method string, req any) (any, error) {
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if f.anotherLeads(fctx, id) {
			cancel(errLeaderMoved)
		}
	}()
	resp, err := f.forward(fctx, addr, method, req)
	if err != nil && !errors.Is(err, errNotSent) && ctx.Err() == nil && errors.Is(context.Cause(fctx), errLeaderMoved) {
		now, _ := f.node.Leader()
		return nil, apierr.New(pb.StatusCode_STATUS_CODE_ERROR,
			"the leader changed (from %s to %s) while the request was forwarded to it; its outcome is unknown", id, now)
	}
	return resp, err
}

// anotherLeads waits until this node has seen a leader other than id for
// staleLeaderGrace (true), or ctx ends (false). The grace lets a live node that lost
// leadership (a transfer) answer what it refuses with LEADER_SWITCH, which proves the
// request did not run; a stopped or cut-off one answers nothing.
func (f *forwarder) anotherLeads(ctx context.Context, id string) bool {
	var timer *time.Timer
	var grace <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		changed := f.node.LeaderChanged()
		now, _ := f.node.Leader()
		switch {
		case now == "" || now == id:
			grace = nil
		case grace == nil:
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(staleLeaderGrace)
			grace = timer.C
		}
		select {
		case <-changed:
		case <-grace:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// staleLeaderGrace is how long a call to a node that no longer leads may stay unanswered.
const staleLeaderGrace = time.Second

// errLeaderMoved is the cause of a forward abandoned because another node leads now.
var errLeaderMoved = errors.New("another node leads now")

// errNotSent marks a forward that failed before the request was sent to the leader.
var errNotSent = errors.New("the leader could not be reached; the request was not sent")

func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if f.auth != nil {
		creds = f.auth.ClientCredentials()
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), internalCallOptions(),
		// A leader that was down and is back must be reachable again within the leader
		// wait, not after gRPC's default reconnect backoff (up to two minutes).
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second,
		}, MinConnectTimeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	f.conns[addr] = c
	return c, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = map[string]*grpc.ClientConn{}
}

// newReply allocates the response message of a unary method from the registry.
func newReply(fullMethod string) (proto.Message, error) {
	parts := strings.Split(strings.TrimPrefix(fullMethod, "/"), "/")
	if len(parts) != 2 {
		return nil, status.Errorf(codes.Internal, "bad method name %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(parts[0]))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "service of %q: %v", fullMethod, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, status.Errorf(codes.Internal, "%q is not a service", parts[0])
	}
	md := sd.Methods().ByName(protoreflect.Name(parts[1]))
	if md == nil {
		return nil, status.Errorf(codes.Internal, "unknown method %q", fullMethod)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reply of %q: %v", fullMethod, err)
	}
	return mt.New().Interface(), nil
}

// notExecuted reports an error that proves the request did not run: the node was not the
// leader when it tried (LEADER_SWITCH, locally or from the node forwarded to).
func notExecuted(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, raftnode.ErrNotLeader) {
		return true
	}
	var fe *apierr.Error
	if errors.As(err, &fe) {
		return fe.Status == pb.StatusCode_STATUS_CODE_LEADER_SWITCH
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), apierr.LeaderSwitchPrefix)
}
