package chaostest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checkers must flag what they exist to flag; these histories are built by hand.

func TestRegisterHistory(t *testing.T) {
	check := func(build func(h *History)) porcupine.CheckResult {
		h := NewHistory()
		build(h)
		return h.Check(10 * time.Second)
	}
	// A read after an acknowledged write that misses it is a stale read.
	if res := check(func(h *History) {
		call := h.Now()
		h.Write(0, "k", "v1", call, true)
		h.Read(1, "k", "", h.Now())
	}); res != porcupine.Illegal {
		t.Fatalf("stale read: %s, want Illegal", res)
	}
	// A write with an unknown outcome may take effect any time later, or never.
	if res := check(func(h *History) {
		h.Write(0, "k", "v1", h.Now(), false)
		h.Read(1, "k", "", h.Now())
		h.Read(1, "k", "v1", h.Now())
	}); res != porcupine.Ok {
		t.Fatalf("unknown write seen late: %s, want Ok", res)
	}
	// ...but once seen, it cannot be unseen.
	if res := check(func(h *History) {
		h.Write(0, "k", "v1", h.Now(), false)
		h.Read(1, "k", "v1", h.Now())
		h.Read(1, "k", "", h.Now())
	}); res != porcupine.Illegal {
		t.Fatalf("value unseen: %s, want Illegal", res)
	}
	// Keys are independent registers.
	if res := check(func(h *History) {
		h.Write(0, "a", "x", h.Now(), true)
		h.Read(1, "b", "", h.Now())
		h.Read(1, "a", "x", h.Now())
	}); res != porcupine.Ok {
		t.Fatalf("two keys: %s, want Ok", res)
	}
}

func TestQueueCheck(t *testing.T) {
	r := NewReport()
	q := NewQueueCheck(r)
	unknown := errors.New("connection lost")
	q.Attempt("a", 1, nil)
	q.Attempt("lost", 2, nil)
	// b's first attempt had an unknown outcome and its item was consumed before the retry,
	// which enqueued it again: two commits of b are allowed.
	q.Attempt("b", 0, unknown)
	q.Delivered(3, "b", time.Now())
	q.Committed(3)
	q.Attempt("b", 4, nil)
	q.Delivered(4, "b", time.Now())
	q.Committed(4)
	if v := r.Violations(); len(v) != 0 {
		t.Fatalf("violations before any: %v", v)
	}
	// Redelivery of a committed item to a pull that started after the commit.
	q.Delivered(1, "a", time.Now())
	q.Committed(1)
	q.Delivered(1, "a", time.Now().Add(time.Millisecond))
	q.Committed(1) // and a second acknowledged commit
	// c was enqueued once but committed as two items.
	q.Attempt("c", 5, nil)
	q.Delivered(5, "c", time.Now())
	q.Committed(5)
	q.Delivered(6, "c", time.Now())
	q.Committed(6)
	q.Finish()
	want := []string{"delivered again", "committed twice", "lost: never delivered", "key c committed as 2 items"}
	got := strings.Join(r.Violations(), "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("no violation %q in:\n%s", w, got)
		}
	}
	if strings.Contains(got, "key b") {
		t.Errorf("b's re-enqueue after an unknown outcome was flagged:\n%s", got)
	}
}

func TestLockCheck(t *testing.T) {
	base := time.Now()
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

	r := NewReport()
	l := NewLockCheck(r)
	l.Granted(10, at(0), at(1))
	l.Granted(12, at(0), at(3)) // concurrent with 10: any order
	g := l.Granted(15, at(4), at(5))
	l.Finish()
	if v := r.Violations(); len(v) != 0 {
		t.Fatalf("rising tokens flagged: %v", v)
	}
	if tok := l.Stale(at(6)); tok != 12 {
		t.Fatalf("stale token at 6 ms: %d, want 12 (superseded by 15)", tok)
	}
	l.Released(g)
	if tok := l.Stale(time.Now().Add(time.Second)); tok != 15 {
		t.Fatalf("stale token after release: %d, want 15", tok)
	}

	l.Granted(14, at(6), at(7)) // requested after 15 was granted, yet lower
	l.Granted(10, at(8), at(9)) // a token granted twice
	l.Finish()
	got := strings.Join(r.Violations(), "\n")
	for _, w := range []string{"token 14 granted after token", "token 10 granted twice"} {
		if !strings.Contains(got, w) {
			t.Errorf("no violation %q in:\n%s", w, got)
		}
	}
}

func TestReportStall(t *testing.T) {
	r := NewReport()
	r.Stall("a", time.Second)
	r.Stall("b", 3*time.Second)
	r.Stall("c", 2*time.Second)
	if d, who := r.Largest(); d != 3*time.Second || who != "b" {
		t.Fatalf("largest stall %v %s", d, who)
	}
	r.Op("x", nil)
	r.Violation("boom %d", 1)
	if s := r.Summary(); !strings.Contains(s, "violations: 1") || !strings.Contains(s, "VIOLATION: boom 1") || !strings.Contains(s, "3s (b)") {
		t.Fatalf("summary:\n%s", s)
	}
}

func TestReportStallCauses(t *testing.T) {
	r := NewReport()
	r.Names(map[string]string{"127.0.0.1:4123": "n1", "127.0.0.1:41234": "n2"})
	r.Fault("kill -9 follower n2")
	begin := time.Now() // after the fault

	lock := newStaller(r, "locker0")
	lock.last = begin
	lock.add(step{kind: "lock", start: begin, end: begin.Add(2 * time.Second), err: errors.New("octopusmq: ITEM_BUSY: key \"lock\" is locked")})
	lock.add(step{kind: "lock", start: begin.Add(2 * time.Second), end: begin.Add(3 * time.Second)})
	r.stalled("locker0", begin, begin.Add(3*time.Second), lock.steps, 0)

	kv := newStaller(r, "kv1")
	kv.add(step{kind: "set", nodes: []string{"127.0.0.1:41234"}, start: begin, end: begin.Add(9 * time.Second), err: errors.New("EOF")})
	r.stalled("kv1", begin, begin.Add(9500*time.Millisecond), kv.steps, 0)
	r.stalled("kv3", begin, begin.Add(time.Second), nil, 0) // below stallReport: not listed

	s := r.Summary()
	for _, want := range []string{
		"stalls of 2s or more by cause (the last fault before each began): 2",
		"lock wait", "kill -9 follower ", "largest 9.5s",
		"STALL 9.5s kv1", "set via n2 took 9s: EOF", // the address is printed as its node
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the summary:\n%s", want, s)
		}
	}
	if strings.Contains(s, "kv3") {
		t.Errorf("a 1 s stall was listed:\n%s", s)
	}
}
