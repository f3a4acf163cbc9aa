package raftnode

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Clock is a node's time source: Wall may jump (an NTP step, a wrong hardware clock), Mono
// only measures elapsed time. Tests inject one through Config.Clock.
type Clock interface {
	Wall() int64         // Unix ns
	Mono() time.Duration // since an arbitrary origin
}

// SystemClock is the process's clock.
type SystemClock struct{ origin time.Time }

// NewSystemClock returns the process's clock.
func NewSystemClock() *SystemClock { return &SystemClock{origin: time.Now()} }

// Wall is time.Now in Unix ns.
func (c *SystemClock) Wall() int64 { return time.Now().UnixNano() }

// Mono is the monotonic time since the clock was made.
func (c *SystemClock) Mono() time.Duration { return time.Since(c.origin) }

// slewDivisor bounds how fast the log's clock may follow the leader's wall clock: over any
// stretch of dt (measured on the leader's monotonic clock) entry times advance by at least
// dt - dt/slewDivisor and at most dt + dt/slewDivisor. A wall clock an hour ahead thus
// shortens deadlines by at most 1/slewDivisor while the log's clock closes the gap.
const slewDivisor = 10

// heartbeat is the longest a leader lets the log go without an entry: an idle cluster still
// writes its time down, so a restart loses at most this much of it (see DESIGN.md). Tests
// shorten it before starting a node.
var heartbeat = time.Minute

// logClock stamps the entries this node proposes. The log's time is anchored at the last
// moment this node knew it (an entry it stamped or applied, with the monotonic time then)
// and moves from there at this node's monotonic rate, slewed toward its wall clock by at
// most 1/slewDivisor. A wall clock ahead or behind therefore cannot move the log's clock
// faster or slower than that, and a new leader continues from its predecessor's last entry
// plus the time elapsed since it applied it.
type logClock struct {
	clock Clock
	log   *slog.Logger

	// newCluster: this node bootstrapped a new cluster, so no entry has a time yet.
	newCluster bool

	mu     sync.Mutex
	at     int64         // the log's time last known (0: none yet)
	atMono time.Duration // when it was known
	warned time.Duration // when the last warning was logged (Mono)

	ahead, behind atomic.Uint64 // entries whose stamp was bounded, by side

	heartbeat time.Duration
}

func newLogClock(c Clock, log *slog.Logger, newCluster bool) *logClock {
	return &logClock{clock: c, log: log, newCluster: newCluster, warned: -time.Hour, heartbeat: heartbeat}
}

// observe records that the log's time is at least v now (an applied entry, a restored
// snapshot). Only a later time moves the anchor: this node's own stamps come back applied
// with the time they already have.
func (c *logClock) observe(v int64) {
	mono := c.clock.Mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	if v > c.at {
		c.at, c.atMono = v, mono
	}
}

// received observes the newest entry time among logs as they are stored: the log's time is
// at least an entry's time from the moment it arrives, and a follower applies an entry only
// once it learns it is committed — a heartbeat later, or (the tail of a leader that died)
// at its successor's barrier, an election later. Anchored at the apply, a new leader's clock
// ran that much behind real time (0.6-0.9 s after a kill -9 in clustertest, up to 1.1 s in
// the chaos suite), and every deadline — a lock's ttl — came that much late, catching up only at the
// slew rate. The anchor stays a lower bound: the entry was stamped before it arrived.
func (c *logClock) received(logs []*raft.Log) {
	for i := len(logs) - 1; i >= 0; i-- {
		if logs[i].Type != raft.LogCommand {
			continue
		}
		if t := entryTime(logs[i].Data); t > 0 {
			c.observe(t)
			return
		}
	}
}

// bounds are the earliest and latest log times at mono.
func (c *logClock) bounds(mono time.Duration) (lo, hi int64) {
	dt := int64(mono - c.atMono)
	return c.at + dt - dt/slewDivisor, c.at + dt + dt/slewDivisor
}

// peek is the time an entry stamped now would get, and how long ago the log's time was
// last known (an entry stamped or applied).
func (c *logClock) peek() (now int64, since time.Duration) {
	wall, mono := c.clock.Wall(), c.clock.Mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == 0 {
		return wall, 0
	}
	lo, hi := c.bounds(mono)
	return min(max(wall, lo), hi), mono - c.atMono
}

// settle is called by a new leader once it applied the whole log: with no time known
// from it (no command entry yet), the log's time starts at the wall clock.
func (c *logClock) settle() {
	wall, mono := c.clock.Wall(), c.clock.Mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == 0 {
		c.at, c.atMono = wall, mono
	}
}

// stamp is the time of an entry proposed now: the wall clock, within the bounds. While no
// time is known, a new cluster's first entries take the wall clock (nothing can expire
// early in an empty log); otherwise (a leader that has not applied the log yet) 0, which
// the state reads as "no later than the last entry" (its clock is the maximum).
func (c *logClock) stamp() int64 {
	wall, mono := c.clock.Wall(), c.clock.Mono()
	c.mu.Lock()
	if c.at == 0 && !c.newCluster {
		c.mu.Unlock()
		return 0
	}
	t := wall
	var side string
	if c.at != 0 {
		lo, hi := c.bounds(mono)
		switch {
		case wall > hi:
			t, side = hi, "ahead of"
			c.ahead.Add(1)
		case wall < lo:
			t, side = lo, "behind"
			c.behind.Add(1)
		}
	}
	if t > c.at {
		c.at, c.atMono = t, mono
	}
	warn := side != "" && mono-c.warned >= time.Minute
	if warn {
		c.warned = mono
	}
	c.mu.Unlock()
	if warn {
		c.log.Warn("this node's wall clock is "+side+" the log's clock: entry times follow it at most 10% faster or slower than real time",
			"wall", time.Unix(0, wall).UTC(), "log", time.Unix(0, t).UTC(), "skew", time.Duration(wall-t))
	}
	return t
}

// realTimeTo is the least real time in which the log's time can advance by d.
func realTimeTo(d int64) time.Duration {
	w := time.Duration(d - d/(slewDivisor+1))
	return max(w, time.Millisecond)
}

// ClockStats describe this node's view of the log's clock.
type ClockStats struct {
	// BoundedAhead and BoundedBehind count the entries this node stamped whose time was
	// limited because its wall clock was ahead of (behind) the log's clock.
	BoundedAhead, BoundedBehind uint64
	// Skew is this node's wall clock minus the log's time as it estimates it now (0 while
	// no time is known).
	Skew time.Duration
}

func (c *logClock) stats() ClockStats {
	wall, mono := c.clock.Wall(), c.clock.Mono()
	c.mu.Lock()
	defer c.mu.Unlock()
	st := ClockStats{BoundedAhead: c.ahead.Load(), BoundedBehind: c.behind.Load()}
	if c.at != 0 {
		st.Skew = time.Duration(wall - (c.at + int64(mono-c.atMono)))
	}
	return st
}
