package client

import (
	"fmt"
	"time"
)

// A stopped (SIGSTOP), hung or partitioned server keeps its TCP connections open and simply
// stops answering, and gRPC's own keepalive cannot notice it sooner than in ten seconds or
// so. The watchdog notices it from the stream: while calls are in flight and nothing has
// been received for half the silence timeout, it sends a noop (any healthy server answers
// one at once, even while a long poll waits); when nothing at all arrives for the whole
// silence timeout, the session is failed and reconnected. The silent node is then avoided
// for a while: the connector asks the other nodes who leads instead of waiting on it.

// silentFor is how long a node whose stream went silent is tried last.
func (m *mux[Req, Resp]) silentFor() time.Duration { return 3 * m.o.silenceTimeout }

// watch runs the watchdog of session s until s ends.
func (m *mux[Req, Resp]) watch(s *session[Req, Resp]) {
	limit := m.o.silenceTimeout
	t := time.NewTicker(limit / 8)
	defer t.Stop()
	var probed time.Time // the quietSince of the last probe
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		s.mu.Lock()
		waiting := len(s.calls) > 0
		since := s.quietSince
		s.mu.Unlock()
		if r := s.clock.since(); r.After(since) {
			since = r // an answer is still arriving
		}
		if !waiting {
			continue
		}
		quiet := time.Since(since)
		switch {
		case quiet >= limit:
			m.markSilent(s.addr)
			s.fail(fmt.Errorf("no answer from %s for %v", s.addr, limit))
			return
		case quiet >= limit/2 && !probed.Equal(since):
			probed = since
			// Not awaited here: a wedged stream may block the send itself.
			go func() { _ = s.send(m.p.noop(m.nextID.Add(1))) }()
		}
	}
}

// markSilent makes the connector try addr last for a while, and drops its connection (a
// fresh one is dialled when it is tried again).
func (m *mux[Req, Resp]) markSilent(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.silent[addr] = time.Now().Add(m.silentFor())
	if m.leader == addr {
		m.leader = ""
	}
	if cc := m.conns[addr]; cc != nil {
		delete(m.conns, addr)
		go dropConn(cc)
	}
}

// suspect reports whether addr went silent recently (m.mu held).
func (m *mux[Req, Resp]) suspect(addr string) bool {
	until, ok := m.silent[addr]
	if ok && time.Now().After(until) {
		delete(m.silent, addr)
		return false
	}
	return ok
}

// nextAddr is the configured address to try next, skipping recently silent ones unless
// every address is (m.mu held).
func (m *mux[Req, Resp]) nextAddr() string {
	for i := range m.addrs {
		j := (m.addrIdx + i) % len(m.addrs)
		if !m.suspect(m.addrs[j]) {
			m.addrIdx = j
			return m.addrs[j]
		}
	}
	return m.addrs[m.addrIdx]
}
