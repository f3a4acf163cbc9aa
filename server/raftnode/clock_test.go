package raftnode

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// manualClock is a clock the test moves by hand.
type manualClock struct {
	wall int64
	mono time.Duration
}

func (c *manualClock) Wall() int64         { return c.wall }
func (c *manualClock) Mono() time.Duration { return c.mono }

// step lets d pass on both clocks.
func (c *manualClock) step(d time.Duration) { c.wall += int64(d); c.mono += d }

func newTestLogClock(c Clock) *logClock {
	return newLogClock(c, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
}

const t0 = int64(1_700_000_000) * int64(time.Second)

func TestLogClockFollowsAWallClockAheadNoFasterThanTheSlew(t *testing.T) {
	c := &manualClock{wall: t0, mono: time.Hour}
	lc := newTestLogClock(c)
	if got := lc.stamp(); got != t0 {
		t.Fatalf("first stamp of a new log: %d, want the wall clock %d", got, t0)
	}
	c.step(time.Second)
	if got := lc.stamp(); got != t0+int64(time.Second) {
		t.Fatalf("a right wall clock is used as it is: %d, want %d", got, t0+int64(time.Second))
	}
	// The wall clock jumps an hour ahead: for each second that really passes, the log's
	// clock advances by at most 1.1 s.
	c.wall += int64(time.Hour)
	start := t0 + int64(time.Second)
	for i := 1; i <= 100; i++ {
		c.step(time.Second)
		got := lc.stamp()
		if max := start + int64(i)*int64(1100*time.Millisecond); got > max {
			t.Fatalf("after %d s: log time +%v, want at most +%v", i, time.Duration(got-start), time.Duration(max-start))
		}
	}
	if st := lc.stats(); st.BoundedAhead != 100 || st.BoundedBehind != 0 {
		t.Fatalf("stats %+v, want 100 entries bounded ahead", st)
	}
	// The wall clock is set right again (now behind the log's clock): the log's clock keeps
	// running, at least 0.9 s per second, never backwards.
	c.wall -= int64(time.Hour)
	prev := lc.stamp()
	c.step(time.Second)
	if got := lc.stamp(); got < prev+int64(900*time.Millisecond) {
		t.Fatalf("log time advanced by %v in a second with the wall clock behind, want at least 0.9 s", time.Duration(got-prev))
	}
	if st := lc.stats(); st.BoundedBehind == 0 || st.Skew >= 0 {
		t.Fatalf("stats %+v: want entries bounded behind and a negative skew", st)
	}
}

func TestLogClockContinuesFromThePredecessorsEntries(t *testing.T) {
	c := &manualClock{wall: t0 + int64(time.Hour), mono: time.Minute} // this node is an hour ahead
	lc := newTestLogClock(c)
	lc.observe(t0) // applied an entry of the previous leader
	c.step(5 * time.Second)
	// Elected 5 s later: the log's clock continues from t0 + 5 s, not from the wall clock.
	got := lc.stamp()
	if lo, hi := t0+int64(5*time.Second), t0+int64(5500*time.Millisecond); got < lo || got > hi {
		t.Fatalf("first stamp as leader: %v after the last entry, want 5–5.5 s", time.Duration(got-t0))
	}
	// Its own entries applied later do not move the anchor back or forth.
	lc.observe(got)
	c.step(time.Second)
	if again := lc.stamp(); again <= got || again > got+int64(1100*time.Millisecond) {
		t.Fatalf("next stamp %v after the previous, want (0, 1.1 s]", time.Duration(again-got))
	}
}

func TestRealTimeToIsTheFastestTheLogCanGo(t *testing.T) {
	// At 1.1× real time the log advances 11 s in 10 s.
	if got := realTimeTo(int64(11 * time.Second)); got != 10*time.Second {
		t.Fatalf("realTimeTo(11 s) = %v, want 10 s", got)
	}
	if got := realTimeTo(1); got != time.Millisecond {
		t.Fatalf("realTimeTo(1 ns) = %v, want the 1 ms floor", got)
	}
}

// A restarted (or joined) node knows no time before it applied the log: its stamps are 0
// (the state's clock, a maximum, keeps the log's time) until an applied entry tells it, or
// until, as leader with the log applied and no time in it, it starts from its wall clock.
func TestLogClockBeforeTheLogIsApplied(t *testing.T) {
	c := &manualClock{wall: t0 + int64(time.Hour), mono: time.Minute}
	lc := newLogClock(c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if got := lc.stamp(); got != 0 {
		t.Fatalf("stamp before any time is known: %d, want 0", got)
	}
	lc.observe(t0)
	c.step(time.Second)
	if got := lc.stamp(); got > t0+int64(1100*time.Millisecond) {
		t.Fatalf("stamp after the log was applied: %v past its last entry, want at most 1.1 s", time.Duration(got-t0))
	}

	empty := newLogClock(c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	empty.settle()
	if got := empty.stamp(); got != c.wall {
		t.Fatalf("stamp of a leader whose log has no time: %d, want its wall clock %d", got, c.wall)
	}
}

// An idle leader still writes the time down: a Tick after each heartbeat without entries.
func TestIdleLeaderWritesAHeartbeat(t *testing.T) {
	defer func(d time.Duration) { heartbeat = d }(heartbeat)
	heartbeat = 200 * time.Millisecond
	n := startNode(t)
	timeout := time.After(10 * time.Second)
	nextEntry := func() int64 { // waits for an entry (no command is proposed) and answers the log's clock
		t.Helper()
		idx := n.AppliedIndex()
		for n.AppliedIndex() == idx {
			select {
			case <-n.AppliedChanged():
			case <-timeout:
				t.Fatalf("no heartbeat entry (applied index %d)", idx)
			}
		}
		return n.state.Clock()
	}
	first := nextEntry()
	if second := nextEntry(); second-first < int64(150*time.Millisecond) {
		t.Fatalf("heartbeats %v apart on the log's clock, want about 200 ms", time.Duration(second-first))
	}
}

// A follower learns that an entry is committed, and applies it, a heartbeat or (the tail of
// a leader that died, applied at its successor's barrier) an election after the entry
// arrived. The log's time is anchored when the entry is stored, so a new leader's first
// stamp is the predecessor's last entry plus the time since it arrived, not since it was
// applied: anchored at the apply, the new leader's clock ran an election behind real time
// and every deadline (a lock's ttl) came that much late.
func TestLogClockAnchorsWhenAnEntryArrives(t *testing.T) {
	c := &manualClock{wall: t0, mono: time.Minute}
	lc := newLogClock(c, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	logs, _ := raftStores(raft.NewInmemStore(), raft.NewInmemSnapshotStore(), hclog.NewNullLogger(), lc.received)
	if err := logs.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: encodeEntry(t0, nil, 0)},
		{Index: 2, Term: 1, Type: raft.LogNoop},
	}); err != nil {
		t.Fatal(err)
	}
	c.step(1500 * time.Millisecond) // the election
	lc.observe(t0)                  // the new leader applies its predecessor's entry at its barrier
	got := lc.stamp()
	if lo := t0 + int64(1350*time.Millisecond); got < lo || got > c.wall {
		t.Fatalf("first stamp as leader: %v after the predecessor's entry, want 1.35-1.5 s (the time since it arrived)", time.Duration(got-t0))
	}
	if entryTime([]byte("not an entry")) != 0 || entryTime(encodeEntry(0, nil, 0)) != 0 || entryTime(encodeEntry(t0, nil, 0)) != t0 {
		t.Fatal("entryTime")
	}
}
