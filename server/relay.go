package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// DirectHeader is the request metadata key a client sends on a stream to be served only by
// the leader: a follower then answers LEADER_SWITCH (with the leader's address) instead of
// relaying the stream. The Go client sends it; any other client is relayed.
const DirectHeader = "x-octopusmq-direct"

// stream is the stream interceptor of the forwarding layer: a follower relays the
// QueuesService and StorageService streams to the leader (see relay), unless the client
// asked for the leader itself (DirectHeader) or the stream was already relayed once.
func (f *forwarder) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	p := relayed[info.FullMethod]
	if p == nil {
		return handler(srv, ss)
	}
	md, _ := metadata.FromIncomingContext(ss.Context())
	if len(md.Get(forwardedKey)) > 0 || len(md.Get(DirectHeader)) > 0 {
		return handler(srv, ss)
	}
	if f.node.IsLeader() {
		return serveUntilSwitch(srv, ss, p, handler)
	}
	first := p.newReq()
	if err := ss.RecvMsg(first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	r := &relay{f: f, p: p, method: info.FullMethod, cs: ss, ctx: ss.Context(),
		events: make(chan relayEvent, 4), done: make(chan struct{}),
		pending: map[uint64][]proto.Message{}, hold: p.newHoldings()}
	out := f.auth.ForwardMetadata(ss.Context(), md.Copy())
	out.Set(forwardedKey, "1")
	r.md = out
	local, err := r.start(first)
	if local {
		// This node leads after all (it was elected while the setup arrived).
		return handler(srv, &replayStream{ServerStream: ss, first: first})
	}
	if err != nil {
		return err
	}
	relayStreams.WithLabelValues(p.service).Inc()
	return r.run()
}

// replayStream is a server stream whose first received message was already read.
type replayStream struct {
	grpc.ServerStream
	first proto.Message
}

func (s *replayStream) RecvMsg(m any) error {
	if f := s.first; f != nil {
		s.first = nil
		proto.Merge(m.(proto.Message), f)
		return nil
	}
	return s.ServerStream.RecvMsg(m)
}

// relay is one client stream relayed to the leader over the shared connection to it: one
// upstream stream per client stream (HTTP/2 multiplexes them), messages passed through
// unchanged in both directions, so correlation ids, ordering, long waits, leases, locks
// and the close of the session are the leader's own. When the upstream ends or its node
// stops leading, the relay re-opens it on the new leader (re-sending the setup) only when
// nothing is in flight and the session provably holds nothing (holdings); otherwise it
// answers the requests the old leader refused with LEADER_SWITCH naming the new leader
// and ends the stream.
type relay struct {
	f      *forwarder
	p      *relayProto
	method string
	cs     grpc.ServerStream
	ctx    context.Context
	md     metadata.MD // the upstream's metadata
	events chan relayEvent
	done   chan struct{} // closed when run returns

	sendMu sync.Mutex // serialises sends upstream, and holds them during a switch
	csMu   sync.Mutex // serialises sends to the client

	mu        sync.Mutex
	up        *upstream
	gen       int
	setup     proto.Message // the setup the leader accepted (re-sent to a new leader)
	pending   map[uint64][]proto.Message
	npending  int
	refused   []proto.Message // answered LEADER_SWITCH: provably not run; re-sent or answered on a switch
	hold      holdings
	clientEOF bool
}

// upstream is the relay's stream to one leader.
type upstream struct {
	gen    int
	leader string // the id of the node at addr
	addr   string
	st     grpc.ClientStream
	ctx    context.Context // ends with the upstream
	cancel context.CancelFunc
	stale  bool // it answered LEADER_SWITCH: its node no longer leads
}

type relayEventKind int

const (
	evClient   relayEventKind = iota // the client's side ended (err)
	evUpstream                       // upstream gen ended (err)
	evStale                          // upstream gen answered LEADER_SWITCH or, stale, answered a request
)

type relayEvent struct {
	kind relayEventKind
	gen  int
	err  error
}

func (r *relay) post(ev relayEvent) {
	select {
	case r.events <- ev:
	case <-r.done:
	}
}

var relayDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// start opens the first upstream and sends first on it. local reports that this node
// itself leads now: the caller serves the stream.
func (r *relay) start(first proto.Message) (local bool, err error) {
	r.refused = []proto.Message{first}
	return r.connect(true)
}

// connect opens an upstream on the current leader (waiting up to the leader wait),
// re-sends the accepted setup (its answer is not passed on) and the refused requests, and
// installs it. Called with sendMu held, or before anything runs.
func (r *relay) connect(initial bool) (local bool, err error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.f.wait)
	defer cancel()
	retries := 0
	var last error
	for {
		changed := r.f.node.LeaderChanged()
		id, addr, err := r.f.leaderTarget(ctx)
		if err != nil {
			if r.ctx.Err() != nil {
				return false, status.FromContextError(r.ctx.Err()).Err()
			}
			if ctx.Err() == nil {
				// This node is behind the log (see leaderAddress): the client does better
				// on another node.
				return false, r.giveUp("", status.Convert(err).Message())
			}
			if last == nil {
				last = err
			}
			return false, r.giveUp("", fmt.Sprintf("no leader reachable within %v: %v", r.f.wait, last))
		}
		if id == r.f.node.ID() {
			if initial {
				return true, nil
			}
			// This node leads now: relay to itself (the forwarded mark serves it here).
			addr = r.f.self
		}
		u, retry, err := r.open(ctx, addr)
		if err == nil {
			u.leader = id
			r.install(u)
			return false, nil
		}
		if !retry || ctx.Err() != nil {
			return false, r.giveUp(addr, err.Error())
		}
		last = err
		retries++
		t := time.NewTimer(min(50*time.Millisecond<<min(retries, 4), 500*time.Millisecond))
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// open opens an upstream stream to addr and, when a setup was accepted, re-sends it and
// waits for its answer. retry reports a failure a later attempt may cure (the node does
// not lead, or could not be reached).
func (r *relay) open(ctx context.Context, addr string) (u *upstream, retry bool, err error) {
	conn, err := r.f.conn(addr)
	if err != nil {
		return nil, true, err
	}
	sctx, cancel := context.WithCancel(metadata.NewOutgoingContext(r.ctx, r.md))
	st, err := conn.NewStream(sctx, relayDesc, r.method)
	if err != nil {
		cancel()
		return nil, true, err
	}
	u = &upstream{addr: addr, st: st, ctx: sctx, cancel: cancel}
	if r.setup == nil {
		return u, false, nil
	}
	stop := context.AfterFunc(ctx, cancel) // the setup's answer waits at most the leader wait
	defer stop()
	resp := r.p.newResp()
	err = st.SendMsg(r.setup)
	if err == nil {
		err = st.RecvMsg(resp)
	} else if errors.Is(err, io.EOF) {
		err = st.RecvMsg(resp)
	}
	if err != nil {
		cancel()
		return nil, true, fmt.Errorf("re-sending the setup to %s: %w", addr, err)
	}
	switch c := r.p.status(resp).GetCode(); c {
	case pb.StatusCode_STATUS_CODE_OK:
		return u, false, nil
	case pb.StatusCode_STATUS_CODE_LEADER_SWITCH:
		cancel()
		return nil, true, fmt.Errorf("%s no longer leads", addr)
	default:
		cancel()
		return nil, false, fmt.Errorf("the new leader refused the stream's setup: %s %s", c, r.p.status(resp).GetMessage())
	}
}

// install makes u the upstream, starts reading it and sends it the refused requests.
func (r *relay) install(u *upstream) {
	r.mu.Lock()
	r.gen++
	u.gen = r.gen
	r.up = u
	resend := r.refused
	r.refused = nil
	for _, q := range resend {
		r.addPending(q)
	}
	eof := r.clientEOF
	r.mu.Unlock()
	go r.readUpstream(u)
	go r.watchLeader(u)
	for _, q := range resend {
		if u.st.SendMsg(q) != nil {
			break // the upstream's end is reported by its reader
		}
	}
	if eof {
		_ = u.st.CloseSend()
	}
}

// giveUp answers the refused requests with LEADER_SWITCH naming addr, the leader, and
// returns the stream's end. With no leader known they stay unanswered (LEADER_SWITCH
// never carries an empty address from a relay): the stream's end sends the client
// elsewhere, as a setup without a leader does on the leader's side.
func (r *relay) giveUp(addr, why string) error {
	r.mu.Lock()
	refused := r.refused
	r.refused = nil
	r.mu.Unlock()
	if addr == "" {
		refused = nil
	}
	for _, q := range refused {
		r.sendClient(r.p.leaderSwitch(r.p.reqCorr(q), addr))
	}
	relaySwitches.WithLabelValues(r.p.service, "ended").Inc()
	return status.Error(codes.Unavailable, "relaying to the leader: "+why+"; reconnect")
}

func (r *relay) addPending(q proto.Message) {
	c := r.p.reqCorr(q)
	r.pending[c] = append(r.pending[c], q)
	r.npending++
}

// popPending removes and returns the request resp answers (nil when none is known).
func (r *relay) popPending(resp proto.Message) proto.Message {
	c := r.p.respCorr(resp)
	list := r.pending[c]
	for i, q := range list {
		if r.p.answers(q, resp) {
			if len(list) == 1 {
				delete(r.pending, c)
			} else {
				r.pending[c] = append(list[:i:i], list[i+1:]...)
			}
			r.npending--
			return q
		}
	}
	return nil
}

func (r *relay) sendClient(m proto.Message) {
	r.csMu.Lock()
	defer r.csMu.Unlock()
	_ = r.cs.SendMsg(m) // a failed send ends the client's stream: its reader reports it
}

// readClient passes the client's requests upstream until its side ends.
func (r *relay) readClient() {
	for {
		q := r.p.newReq()
		if err := r.cs.RecvMsg(q); err != nil {
			if errors.Is(err, io.EOF) {
				r.sendMu.Lock()
				r.mu.Lock()
				r.clientEOF = true
				u := r.up
				r.mu.Unlock()
				_ = u.st.CloseSend()
				r.sendMu.Unlock()
			}
			r.post(relayEvent{kind: evClient, err: err})
			return
		}
		relayCommands.WithLabelValues(r.p.service).Inc()
		r.sendMu.Lock()
		r.mu.Lock()
		u := r.up
		r.addPending(q)
		r.mu.Unlock()
		_ = u.st.SendMsg(q) // on failure the upstream's reader reports its end
		r.sendMu.Unlock()
	}
}

// watchLeader ends upstream u, as if it broke, once another node leads (see anotherLeads):
// a stopped or cut-off leader keeps the upstream open and silent until it resumes. The
// relay then switches as for any upstream that ended: transparently when nothing was in
// flight, else the stream ends (requests in flight have an unknown outcome).
func (r *relay) watchLeader(u *upstream) {
	if r.f.anotherLeads(u.ctx, u.leader) {
		u.cancel()
	}
}

// readUpstream passes u's answers to the client, except LEADER_SWITCH answers (kept for
// the switch) and the answers of a replaced upstream.
func (r *relay) readUpstream(u *upstream) {
	for {
		resp := r.p.newResp()
		if err := u.st.RecvMsg(resp); err != nil {
			r.post(relayEvent{kind: evUpstream, gen: u.gen, err: err})
			return
		}
		r.mu.Lock()
		if u.gen != r.gen {
			r.mu.Unlock()
			return
		}
		q := r.popPending(resp)
		if r.p.status(resp).GetCode() == pb.StatusCode_STATUS_CODE_LEADER_SWITCH && q != nil {
			r.refused = append(r.refused, q)
			u.stale = true
			r.mu.Unlock()
			r.post(relayEvent{kind: evStale, gen: u.gen})
			continue
		}
		if q != nil && r.setup == nil && r.p.isSetup(q) && r.p.status(resp).GetCode() == pb.StatusCode_STATUS_CODE_OK {
			r.setup = q
		}
		r.hold.answered(q, resp)
		stale := u.stale
		r.mu.Unlock()
		r.sendClient(resp)
		if stale {
			r.post(relayEvent{kind: evStale, gen: u.gen})
		}
	}
}

// run relays until the client's side and the upstream both ended, the client went away,
// or a switch to a new leader was not provably safe.
func (r *relay) run() error {
	defer func() {
		close(r.done)
		r.mu.Lock()
		u := r.up
		r.mu.Unlock()
		u.cancel()
	}()
	go r.readClient()
	for {
		select {
		case ev := <-r.events:
			switch ev.kind {
			case evClient:
				if !errors.Is(ev.err, io.EOF) {
					// The client went away: the upstream is cancelled, and the leader
					// closes the session as for a direct client.
					if status.Code(ev.err) == codes.Canceled {
						return nil
					}
					return ev.err
				}
			case evUpstream:
				r.mu.Lock()
				current, eof := ev.gen == r.gen, r.clientEOF
				r.mu.Unlock()
				if !current {
					continue
				}
				if eof && errors.Is(ev.err, io.EOF) {
					return nil // both sides closed: every request was answered
				}
				if err := r.switchLeader(ev.err); err != nil {
					return err
				}
			case evStale:
				r.mu.Lock()
				ready := ev.gen == r.gen && r.up.stale && r.npending == 0
				r.mu.Unlock()
				if ready {
					if err := r.switchLeader(nil); err != nil {
						return err
					}
				}
			}
		case <-r.f.done:
			return status.Error(codes.Unavailable, "the server is shutting down; reconnect")
		}
	}
}

// switchLeader replaces an upstream that ended (cause) or whose node stopped leading
// (cause nil, nothing in flight): transparently when provably safe, else it answers the
// refused requests with LEADER_SWITCH and ends the stream.
func (r *relay) switchLeader(cause error) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	old := r.up
	inflight := r.npending
	safe := inflight == 0 && r.hold.empty() && !r.clientEOF
	held := !r.hold.empty()
	eof := r.clientEOF
	// Requests in flight on the old upstream have an unknown outcome: they stay
	// unanswered and the stream ends (as when a leader shuts down), so the client treats
	// them as lost.
	r.pending = map[uint64][]proto.Message{}
	r.npending = 0
	r.gen++ // the old upstream's reader stops passing answers on
	r.mu.Unlock()
	old.cancel()
	if safe {
		if _, err := r.connect(false); err != nil {
			return err
		}
		relaySwitches.WithLabelValues(r.p.service, "transparent").Inc()
		return nil
	}
	r.mu.Lock()
	refused := len(r.refused)
	r.mu.Unlock()
	if eof && inflight == 0 && refused == 0 {
		return nil
	}
	addr := r.newLeaderAddress(old.addr)
	why := fmt.Sprintf("the leader changed (now %q)", addr)
	switch {
	case inflight > 0:
		why += fmt.Sprintf(" with %d requests in flight, whose outcome is unknown", inflight)
	case held:
		why += " while the stream held items, locks or a key listing"
	}
	if cause != nil && !errors.Is(cause, io.EOF) {
		why += fmt.Sprintf(" (%v)", status.Convert(cause).Message())
	}
	return r.giveUp(addr, why)
}

// newLeaderAddress is the client address of the leader after the one at old: it waits up
// to the leader wait for a leader to be known, and a little longer (newLeaderGrace) for
// one other than old (this node may not have noticed old's loss yet). Empty when none is
// known.
func (r *relay) newLeaderAddress(old string) string {
	ctx, cancel := context.WithTimeout(r.ctx, r.f.wait)
	defer cancel()
	grace := time.NewTimer(newLeaderGrace)
	defer grace.Stop()
	for {
		changed := r.f.node.LeaderChanged()
		id, addr, err := r.f.node.WaitLeaderAddress(ctx)
		if err != nil {
			return ""
		}
		if id == r.f.node.ID() {
			addr = r.f.self
		}
		if addr != old {
			return addr
		}
		select {
		case <-changed:
		case <-grace.C:
			return addr
		case <-ctx.Done():
			return addr
		}
	}
}

// newLeaderGrace bounds the wait for a leader other than the one whose upstream ended:
// about one election.
const newLeaderGrace = 3 * time.Second

// serveUntilSwitch serves a stream of a client that did not ask for the leader here, on the
// leader. Once this node answers LEADER_SWITCH on it (it lost leadership), the stream ends
// with UNAVAILABLE naming the new leader: such a client does not follow LEADER_SWITCH, but
// it reconnects when its stream ends, and then a follower relays it. Commands in flight at
// that moment are cancelled (answered "request cancelled": their outcome is unknown).
func serveUntilSwitch(srv any, ss grpc.ServerStream, p *relayProto, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	w := &switchWatch{ServerStream: ss, ctx: ctx, cancel: cancel, p: p}
	err := handler(srv, w)
	if addr, ok := w.switched(); ok {
		return status.Errorf(codes.Unavailable, "this node no longer leads (the leader is at %q); reconnect", addr)
	}
	return err
}

// switchWatch ends its stream's context after the first LEADER_SWITCH sent on it.
type switchWatch struct {
	grpc.ServerStream
	ctx    context.Context
	cancel context.CancelFunc
	p      *relayProto

	mu   sync.Mutex
	addr string
	seen bool
}

func (w *switchWatch) Context() context.Context { return w.ctx }

func (w *switchWatch) SendMsg(m any) error {
	err := w.ServerStream.SendMsg(m)
	if pm, ok := m.(proto.Message); ok {
		if st := w.p.status(pm); st.GetCode() == pb.StatusCode_STATUS_CODE_LEADER_SWITCH {
			w.mu.Lock()
			if !w.seen {
				w.seen, w.addr = true, st.GetMessage()
			}
			w.mu.Unlock()
			w.cancel()
		}
	}
	return err
}

func (w *switchWatch) switched() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.addr, w.seen
}
