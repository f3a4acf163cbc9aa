package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// protocol describes one kind of stream (queue or storage) to the shared machinery.
// Req and Resp are the generated message types (not pointers), as in the generated
// grpc.BidiStreamingClient[Req, Resp].
type protocol[Req, Resp any] struct {
	kind    string // "queue" or "storage", for messages
	storage bool   // status errors of this stream are storage errors
	open    func(ctx context.Context, cc grpc.ClientConnInterface) (grpc.BidiStreamingClient[Req, Resp], error)
	setup   func(id uint64, name string) *Req
	noop    func(id uint64) *Req
	respID  func(*Resp) uint64
	status  func(*Resp) *pb.StatusResponse
}

// maxReadRetries bounds how often a read is re-sent after the stream broke under it.
const maxReadRetries = 8

// mux multiplexes concurrent requests over one stream to the cluster, reconnecting (with
// backoff, across the target's addresses, following LEADER_SWITCH) when it breaks.
type mux[Req, Resp any] struct {
	p     protocol[Req, Resp]
	o     *options
	name  string
	addrs []string

	ctx    context.Context // done once the mux is closed
	cancel context.CancelFunc
	nextID atomic.Uint64

	mu         sync.Mutex
	closed     bool
	cur        *session[Req, Resp] // the session new requests use; nil while not connected
	live       map[*session[Req, Resp]]struct{}
	conns      map[string]*grpc.ClientConn
	silent     map[string]time.Time // addresses whose stream went silent, until when to avoid them
	connecting *attempt[Req, Resp]  // the running connector, if any
	addrIdx    int                  // the address of addrs tried next
	leader     string               // the leader's address from the last LEADER_SWITCH
	lastErr    error                // why the last connection attempt failed
}

// attempt is one run of the connector; done is closed when it ends, with err set on a
// permanent failure.
type attempt[Req, Resp any] struct {
	done chan struct{}
	err  error
}

func newMux[Req, Resp any](p protocol[Req, Resp], target, name string, o *options) (*mux[Req, Resp], error) {
	addrs, err := splitTarget(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &mux[Req, Resp]{
		p: p, o: o, name: name, addrs: addrs,
		ctx: ctx, cancel: cancel,
		live:   make(map[*session[Req, Resp]]struct{}),
		conns:  make(map[string]*grpc.ClientConn),
		silent: make(map[string]time.Time),
	}, nil
}

// start connects eagerly unless the client is lazy; on failure the mux is closed.
func (m *mux[Req, Resp]) start() error {
	if m.o.lazy {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.o.connectTimeout)
	defer cancel()
	if _, err := m.session(ctx); err != nil {
		m.close()
		return err
	}
	return nil
}

// session returns the connected session, connecting (or waiting for the connector) first.
func (m *mux[Req, Resp]) session(ctx context.Context) (*session[Req, Resp], error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if s := m.cur; s != nil {
			m.mu.Unlock()
			return s, nil
		}
		a := m.connecting
		if a == nil {
			a = &attempt[Req, Resp]{done: make(chan struct{})}
			m.connecting = a
			go m.connect(a)
		}
		m.mu.Unlock()
		select {
		case <-a.done:
			if a.err != nil {
				return nil, a.err
			}
		case <-ctx.Done():
			m.mu.Lock()
			last := m.lastErr
			m.mu.Unlock()
			if last != nil {
				return nil, fmt.Errorf("%w (octopusmq: not connected: %v)", ctx.Err(), last)
			}
			return nil, ctx.Err()
		case <-m.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// connect is the connector: it tries the addresses in turn, with backoff, following leader
// hints, until a session is set up, the failure is permanent, or the mux is closed.
func (m *mux[Req, Resp]) connect(a *attempt[Req, Resp]) {
	fails, hops := 0, 0
	// failed is the last leader a hint sent us to that could not be reached; now says to
	// try the next address without the backoff (a hint naming another leader).
	failed, now := "", false
	var err error
	for {
		if fails > 0 && !now && !sleepCtx(m.ctx, backoffDelay(m.o, fails)) {
			err = ErrClosed
			break
		}
		now = false
		m.mu.Lock()
		addr, viaLeader := m.leader, true
		if addr != "" && m.suspect(addr) {
			m.leader = "" // it went silent: ask the others who leads now
		}
		if m.leader == "" {
			addr, viaLeader = m.nextAddr(), false
		}
		m.mu.Unlock()

		s, hint, e := m.open(addr)
		if e == nil {
			if m.install(a, s) {
				return
			}
			err = ErrClosed
			break
		}
		if m.ctx.Err() != nil {
			err = ErrClosed
			break
		}
		var perm *permanentError
		if errors.As(e, &perm) {
			err = e
			break
		}
		m.mu.Lock()
		m.lastErr = e
		switch {
		case hint != "" && hint != addr && m.suspect(hint):
			// Pointed at a node that went silent (its peers may not have noticed yet):
			// ask the next node again after a backoff rather than wait on the silent one.
			m.addrIdx = (m.addrIdx + 1) % len(m.addrs)
			fails++
		case hint != "" && hint != addr:
			// The node named the leader: go there. The backoff counts repeated hops, but a
			// leader other than the one that just failed is tried at once: after a leader's
			// kill the nodes name the dead one until they elect another, and the backoff
			// that grew meanwhile would hold every call for up to its limit once the new
			// leader is known. Each such hop follows an answer naming a new address, and a
			// failed one backs off, so this never spins.
			m.leader = hint
			if hops++; hops > 1 {
				fails++
			}
			now = hint != failed
		case viaLeader:
			// The leader we were sent to is unreachable: back to the configured addresses.
			m.leader = ""
			failed = addr
			fails++
		default:
			m.addrIdx = (m.addrIdx + 1) % len(m.addrs)
			fails++
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	m.connecting = nil
	a.err = err
	m.mu.Unlock()
	close(a.done)
}

// install makes s the current session; it reports false when the mux closed meanwhile.
func (m *mux[Req, Resp]) install(a *attempt[Req, Resp], s *session[Req, Resp]) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		s.fail(ErrClosed)
		return false
	}
	m.cur = s
	m.live[s] = struct{}{}
	m.connecting = nil
	m.lastErr = nil
	m.mu.Unlock()
	go s.recvLoop()
	if m.o.keepAlive > 0 {
		go m.keepAlive(s)
	}
	if m.o.silenceTimeout > 0 {
		go m.watch(s)
	}
	close(a.done)
	return true
}

// open connects to addr, opens the stream and performs setup. On LEADER_SWITCH it returns
// the leader's address as hint. Errors that retrying will not cure are *permanentError.
func (m *mux[Req, Resp]) open(addr string) (s *session[Req, Resp], hint string, err error) {
	cc, err := m.conn(addr)
	if err != nil {
		return nil, "", err
	}
	sctx, cancel := context.WithCancel(m.ctx)
	timer := time.AfterFunc(attemptTimeout, cancel)
	fail := func(err error) (*session[Req, Resp], string, error) {
		timer.Stop()
		cancel()
		if h, ok := leaderHint(err); ok {
			return nil, h, err
		}
		if code := status.Code(err); isPermanentCode(code) {
			return nil, "", &permanentError{fmt.Errorf("octopusmq: %s stream at %s: %w", m.p.kind, addr, fromRPC(err))}
		}
		return nil, "", fmt.Errorf("octopusmq: %s stream at %s: %w", m.p.kind, addr, err)
	}
	st, err := m.p.open(streamContext(sctx, m.o), cc)
	if err != nil {
		return fail(err)
	}
	if err := st.Send(m.p.setup(m.nextID.Add(1), m.name)); err != nil {
		if err == io.EOF {
			_, err = st.Recv() // the stream's real error
		}
		return fail(err)
	}
	resp, err := st.Recv()
	if !timer.Stop() {
		cancel()
		return nil, "", fmt.Errorf("octopusmq: %s stream at %s: setup not answered within %v", m.p.kind, addr, attemptTimeout)
	}
	if err != nil {
		return fail(err)
	}
	stat := m.p.status(resp)
	switch {
	case stat == nil:
		cancel()
		return nil, "", fmt.Errorf("octopusmq: %s stream at %s: setup answered without a status", m.p.kind, addr)
	case stat.GetCode() == pb.StatusCode_STATUS_CODE_OK:
		return newSession(m, addr, st, cancel, clockOf(cc)), "", nil
	case stat.GetCode() == pb.StatusCode_STATUS_CODE_LEADER_SWITCH:
		cancel()
		return nil, strings.TrimSpace(stat.GetMessage()), fmt.Errorf("octopusmq: %s stream at %s: %w", m.p.kind, addr, newStatusError(stat, m.p.storage))
	default:
		cancel()
		return nil, "", &permanentError{fmt.Errorf("octopusmq: setup of %s %q: %w", m.p.kind, m.name, newStatusError(stat, m.p.storage))}
	}
}

// isPermanentCode reports gRPC codes that reconnecting does not cure.
func isPermanentCode(c codes.Code) bool {
	switch c {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.Unimplemented, codes.FailedPrecondition, codes.OutOfRange:
		return true
	}
	return false
}

// conn returns the (cached) gRPC connection to addr.
func (m *mux[Req, Resp]) conn(addr string) (*grpc.ClientConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if cc := m.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := acquireConn(addr, m.o)
	if err != nil {
		return nil, err
	}
	m.conns[addr] = cc
	return cc, nil
}

// ended forgets a session that has failed.
func (m *mux[Req, Resp]) ended(s *session[Req, Resp], cause error) {
	m.mu.Lock()
	delete(m.live, s)
	if m.cur == s {
		m.cur = nil
		if cause != nil && !errors.Is(cause, ErrClosed) {
			m.lastErr = cause
		}
	}
	m.mu.Unlock()
}

// forget stops handing out s to new requests.
func (m *mux[Req, Resp]) forget(s *session[Req, Resp]) {
	m.mu.Lock()
	if m.cur == s {
		m.cur = nil
	}
	m.mu.Unlock()
}

// switchLeader handles a LEADER_SWITCH answer on session s: new requests go to addr (or,
// when empty, to the configured addresses); s finishes its in-flight requests and closes.
func (m *mux[Req, Resp]) switchLeader(s *session[Req, Resp], addr string) {
	m.mu.Lock()
	if m.cur == s {
		m.cur = nil
		m.leader = strings.TrimSpace(addr)
		if m.leader == "" {
			// The node knows no leader (it may be cut off): ask the others first.
			m.silent[s.addr] = time.Now().Add(m.silentFor())
		}
	}
	m.mu.Unlock()
	s.retire()
}

// callOpts tune one call.
type callOpts[Req, Resp any] struct {
	// read: the request changes nothing, so it is re-sent when the stream breaks under it.
	read bool
	// pinned: send on this session with this correlation id; no reconnect, no retry.
	pinned *session[Req, Resp]
	id     uint64
}

// call sends the request built by build (given its correlation id) and waits for its
// answer. A status answer other than OK becomes a *StatusError; LEADER_SWITCH is followed.
// It returns the session and correlation id used (for follow-up requests such as
// get_keys_next).
func (m *mux[Req, Resp]) call(ctx context.Context, build func(id uint64) *Req, co callOpts[Req, Resp]) (*Resp, *session[Req, Resp], uint64, error) {
	pinned := co.pinned
	hops, retries := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, err
		}
		s, id := pinned, co.id
		if s == nil {
			var err error
			if s, err = m.session(ctx); err != nil {
				return nil, nil, 0, err
			}
			id = m.nextID.Add(1)
		}
		ch, ok := s.register(id, pinned != nil)
		if !ok {
			if pinned != nil {
				return nil, s, id, connLost(errors.New("stream closed"))
			}
			m.forget(s) // it died or retired under us; the next round reconnects
			continue
		}
		if err := s.send(build(id)); err != nil {
			s.unregister(id)
			if err != io.EOF && status.Code(err) == codes.Unknown {
				return nil, s, id, err // e.g. a request that does not marshal
			}
			// The stream is broken and the request was not sent: safe to send it again.
			s.fail(err)
			if pinned != nil {
				return nil, s, id, connLost(err)
			}
			continue
		}
		select {
		case r := <-ch:
			if r.err != nil {
				if co.read && pinned == nil && errors.Is(r.err, ErrConnectionLost) && retries < maxReadRetries {
					retries++
					continue
				}
				return nil, s, id, r.err
			}
			stat := m.p.status(r.resp)
			if stat == nil || stat.GetCode() == pb.StatusCode_STATUS_CODE_OK {
				return r.resp, s, id, nil
			}
			serr := newStatusError(stat, m.p.storage)
			if stat.GetCode() == pb.StatusCode_STATUS_CODE_LEADER_SWITCH {
				// Not executed: follow the leader and send it again.
				m.switchLeader(s, stat.GetMessage())
				if hops++; pinned == nil && hops <= maxLeaderHops {
					continue
				}
			}
			return nil, s, id, serr
		case <-ctx.Done():
			s.unregister(id) // a late answer is dropped
			return nil, s, id, ctx.Err()
		case <-m.ctx.Done():
			return nil, s, id, ErrClosed
		}
	}
}

// keepAlive sends a noop on s every interval; one unanswered within the interval breaks s.
func (m *mux[Req, Resp]) keepAlive(s *session[Req, Resp]) {
	t := time.NewTicker(m.o.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.o.keepAlive)
		_, _, _, err := m.call(ctx, m.p.noop, callOpts[Req, Resp]{pinned: s, id: m.nextID.Add(1)})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			s.fail(fmt.Errorf("keep-alive not answered within %v", m.o.keepAlive))
			return
		}
		if err != nil && !errors.Is(err, ErrLeaderSwitch) {
			return
		}
	}
}

// close fails every waiter with ErrClosed and closes the streams and connections.
func (m *mux[Req, Resp]) close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	live := make([]*session[Req, Resp], 0, len(m.live))
	for s := range m.live {
		live = append(live, s)
	}
	conns := m.conns
	m.conns = nil
	m.cur = nil
	m.mu.Unlock()
	m.cancel()
	for _, s := range live {
		s.fail(ErrClosed)
	}
	var errs []error
	for _, cc := range conns {
		if err := releaseConn(cc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// session is one established stream.
type session[Req, Resp any] struct {
	m      *mux[Req, Resp]
	addr   string
	st     grpc.BidiStreamingClient[Req, Resp]
	cancel context.CancelFunc
	done   chan struct{} // closed when the session failed

	sendMu sync.Mutex // grpc streams allow one concurrent Send

	mu      sync.Mutex
	calls   map[uint64]chan result[Resp]
	dead    bool
	retired bool // no new requests; closes once its in-flight requests are answered
	// quietSince is when the session last received anything, or when it last went from no
	// calls in flight to one: the start of the silence the watchdog measures.
	quietSince time.Time
	// clock advances while its connection receives (an answer still arriving); nil when
	// gRPC dials the connection (readclock.go).
	clock *readClock
}

type result[Resp any] struct {
	resp *Resp
	err  error
}

func newSession[Req, Resp any](m *mux[Req, Resp], addr string, st grpc.BidiStreamingClient[Req, Resp], cancel context.CancelFunc, clock *readClock) *session[Req, Resp] {
	return &session[Req, Resp]{
		m: m, addr: addr, st: st, cancel: cancel, clock: clock,
		done:  make(chan struct{}),
		calls: make(map[uint64]chan result[Resp]),
	}
}

// register adds a waiter for id; it fails on a dead (or, unless pinned, retired) session.
func (s *session[Req, Resp]) register(id uint64, pinned bool) (chan result[Resp], bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead || (s.retired && !pinned) {
		return nil, false
	}
	ch := make(chan result[Resp], 1)
	if len(s.calls) == 0 {
		s.quietSince = time.Now()
	}
	s.calls[id] = ch
	return ch, true
}

// unregister drops the waiter for id (its answer, if it comes, is dropped).
func (s *session[Req, Resp]) unregister(id uint64) {
	s.mu.Lock()
	delete(s.calls, id)
	drained := s.retired && len(s.calls) == 0
	s.mu.Unlock()
	if drained {
		s.cancel()
	}
}

func (s *session[Req, Resp]) send(req *Req) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.st.Send(req)
}

// recvLoop dispatches answers to their waiters by correlation id, until the stream breaks.
func (s *session[Req, Resp]) recvLoop() {
	for {
		resp, err := s.st.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		id := s.m.p.respID(resp)
		s.mu.Lock()
		s.quietSince = time.Now()
		ch, ok := s.calls[id]
		delete(s.calls, id)
		drained := s.retired && len(s.calls) == 0
		s.mu.Unlock()
		if ok {
			ch <- result[Resp]{resp: resp}
		}
		if drained {
			s.cancel() // Recv fails next and the loop ends
		}
	}
}

// retire stops new requests on s; s closes once its in-flight requests are answered.
func (s *session[Req, Resp]) retire() {
	s.mu.Lock()
	s.retired = true
	drained := len(s.calls) == 0
	s.mu.Unlock()
	if drained {
		s.cancel()
	}
}

// fail ends the session: its in-flight requests fail with ErrConnectionLost (ErrClosed once
// the client is closed).
func (s *session[Req, Resp]) fail(cause error) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	calls := s.calls
	s.calls = nil
	s.mu.Unlock()
	s.cancel()
	close(s.done)
	s.m.ended(s, cause)
	err := connLost(cause)
	if s.m.ctx.Err() != nil {
		err = ErrClosed
	}
	for _, ch := range calls {
		ch <- result[Resp]{err: err}
	}
}
