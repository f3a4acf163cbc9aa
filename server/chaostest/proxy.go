package chaostest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"
)

// Net is the Raft network between the nodes: one TCP proxy in front of each node's Raft
// port. Every node advertises its proxy's address, so every Raft connection passes a proxy,
// which can cut chosen links.
//
// A proxy learns which node dialled it from the first request on the connection: every
// hashicorp/raft request starts with an RPC header carrying the sender's advertised address
// (its own proxy's address), which the proxy finds in the first bytes. Connections whose
// sender it cannot tell are forwarded.
type Net struct {
	mu      sync.Mutex
	proxies map[string]*proxy // by node id
	cut     map[[2]string]bool
	// blackhole holds connections across a cut link open without forwarding (the sender
	// times out) instead of closing them (the sender fails at once).
	blackhole bool
}

// NewNet returns a network without proxies.
func NewNet() *Net {
	return &Net{proxies: map[string]*proxy{}, cut: map[[2]string]bool{}}
}

type proxy struct {
	id     string
	addr   string // the proxy's listen address (the node's advertised Raft address)
	target string // the node's Raft bind address
	ln     net.Listener
	conns  map[*link]bool
}

// link is one proxied connection from node from (or "" when unknown) to a proxy's node.
type link struct {
	from       string
	down, up   net.Conn
	closedOnce sync.Once
}

// close closes both sides; the caller holds Net.mu (l.up is written under it).
func (l *link) close() {
	l.closedOnce.Do(func() {
		l.down.Close()
		if l.up != nil {
			l.up.Close()
		}
	})
}

// Add starts the proxy for node id in front of target and returns its address.
func (nw *Net) Add(id, target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	p := &proxy{id: id, addr: ln.Addr().String(), target: target, ln: ln, conns: map[*link]bool{}}
	nw.mu.Lock()
	nw.proxies[id] = p
	nw.mu.Unlock()
	go nw.accept(p)
	return p.addr, nil
}

// Close stops every proxy and closes its connections.
func (nw *Net) Close() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range nw.proxies {
		p.ln.Close()
		for l := range p.conns {
			l.close()
		}
	}
}

// SetBlackhole chooses how cut links fail: held open and silent (true) or closed (false).
func (nw *Net) SetBlackhole(on bool) {
	nw.mu.Lock()
	nw.blackhole = on
	nw.mu.Unlock()
}

// Cut cuts the links between a and b in both directions and closes their connections.
func (nw *Net) Cut(a, b string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut[[2]string{a, b}] = true
	nw.cut[[2]string{b, a}] = true
	for _, id := range []string{a, b} {
		other := b
		if id == b {
			other = a
		}
		if p := nw.proxies[id]; p != nil {
			for l := range p.conns {
				if l.from == other {
					l.close()
				}
			}
		}
	}
}

// Isolate cuts every link of id.
func (nw *Net) Isolate(id string) {
	for _, other := range nw.ids() {
		if other != id {
			nw.Cut(id, other)
		}
	}
}

// Heal restores every link; connections held in a blackhole are closed so senders redial.
func (nw *Net) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cut = map[[2]string]bool{}
	for _, p := range nw.proxies {
		for l := range p.conns {
			if l.up == nil {
				l.close()
			}
		}
	}
}

func (nw *Net) ids() []string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []string
	for id := range nw.proxies {
		out = append(out, id)
	}
	return out
}

func (nw *Net) accept(p *proxy) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go nw.serve(p, c)
	}
}

// sender finds which node's advertised address the first bytes of a connection carry.
func (nw *Net) sender(first []byte) string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	best, at := "", -1
	for id, p := range nw.proxies {
		i := indexAddr(first, p.addr)
		if i >= 0 && (at < 0 || i < at) {
			best, at = id, i
		}
	}
	return best
}

// indexAddr is the first position of addr in b not followed by another digit (so
// 127.0.0.1:4000 does not match 127.0.0.1:40001).
func indexAddr(b []byte, addr string) int {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte(addr))
		if i < 0 {
			return -1
		}
		end := off + i + len(addr)
		if end >= len(b) || b[end] < '0' || b[end] > '9' {
			return off + i
		}
		off += i + 1
	}
}

func (nw *Net) serve(p *proxy, down net.Conn) {
	// The RPC header is within the first few hundred bytes of the first request.
	buf := make([]byte, 0, 1024)
	_ = down.SetReadDeadline(time.Now().Add(5 * time.Second))
	from := ""
	for len(buf) < cap(buf) {
		n, err := down.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if from = nw.sender(buf); from != "" || err != nil {
			break
		}
	}
	_ = down.SetReadDeadline(time.Time{})
	l := &link{from: from, down: down}

	nw.mu.Lock()
	cut := nw.cut[[2]string{from, p.id}]
	if cut && !nw.blackhole {
		nw.mu.Unlock()
		down.Close()
		return
	}
	p.conns[l] = true
	nw.mu.Unlock()
	defer func() {
		nw.mu.Lock()
		delete(p.conns, l)
		l.close()
		nw.mu.Unlock()
	}()
	if cut {
		// Blackhole: read and drop until the link heals (Heal closes it) or the peer gives up.
		_, _ = io.Copy(io.Discard, down)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	nw.mu.Lock()
	if !p.conns[l] || nw.cut[[2]string{from, p.id}] { // cut while dialling
		nw.mu.Unlock()
		up.Close()
		return
	}
	l.up = up
	nw.mu.Unlock()
	if _, err := up.Write(buf); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, down); done <- struct{}{} }()
	go func() { _, _ = io.Copy(down, up); done <- struct{}{} }()
	<-done
}
