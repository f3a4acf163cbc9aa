package state

import "testing"

func woken(h *Hold) bool {
	select {
	case <-h.C():
		return true
	default:
		return false
	}
}

// TouchN wakes as many of the line as asked, oldest first, plus every Hold of the key.
func TestNotifierTouchNWakesOnlyN(t *testing.T) {
	n := NewNotifier()
	line := []*Hold{n.HoldOne("q/x"), n.HoldOne("q/x"), n.HoldOne("q/x"), n.HoldOne("q/x")}
	full := n.Hold("q/x")
	if got := n.Waiters("q/x"); got != 5 {
		t.Fatalf("Waiters = %d, want 5", got)
	}
	n.TouchN("q/x", 2)
	for i, h := range line {
		if want := i < 2; woken(h) != want {
			t.Fatalf("line[%d] woken = %v, want %v", i, !want, want)
		}
	}
	if !woken(full) {
		t.Fatal("TouchN did not wake a Hold of the key")
	}
	if got := n.Waiters("q/x"); got != 2 {
		t.Fatalf("Waiters after TouchN(2) = %d, want the 2 still in line", got)
	}
	// A later Hold of the key is a fresh one, not closed by the old Touch.
	later := n.Hold("q/x")
	if woken(later) {
		t.Fatal("a Hold taken after the Touch is already woken")
	}
	full.Release() // a released Hold of the old channel must not disturb the entry
	if got := n.Waiters("q/x"); got != 3 {
		t.Fatalf("Waiters = %d, want 3 (2 in line, 1 Hold)", got)
	}
	line[0].Woke()
	line[0].Release()
	line[1].Woke()
	line[1].Release()
	n.Touch("q/x")
	if !woken(line[2]) || !woken(line[3]) || !woken(later) {
		t.Fatal("Touch did not wake the whole line and the Hold")
	}
	for _, h := range line[2:] {
		h.Woke()
		h.Release()
	}
	later.Release()
	if n.Len() != 0 {
		t.Fatalf("%d entries left, want 0", n.Len())
	}
}

// A waiter woken that gives up without trying again (its deadline passed) passes the
// wakeup on to the next in line; one that tries again (Woke) does not.
func TestNotifierUnusedWakeupPassesOn(t *testing.T) {
	n := NewNotifier()
	a, b, c := n.HoldOne("q/x"), n.HoldOne("q/x"), n.HoldOne("q/x")
	n.TouchN("q/x", 1)
	if !woken(a) || woken(b) {
		t.Fatal("TouchN(1) must wake the first in line only")
	}
	a.Release() // gave up: its wakeup goes to b
	if !woken(b) || woken(c) {
		t.Fatalf("after a gave up: b woken %v (want true), c woken %v (want false)", woken(b), woken(c))
	}
	b.Woke() // b tries again: c stays asleep
	b.Release()
	b.Release() // idempotent
	if woken(c) {
		t.Fatal("an acknowledged wakeup was passed on")
	}
	// A waiter leaving the line unwoken wakes nobody and leaves nothing behind.
	c.Release()
	if n.Len() != 0 {
		t.Fatalf("%d entries left, want 0", n.Len())
	}
	// Waking more than are in line wakes those there are.
	d := n.HoldOne("q/y")
	n.TouchN("q/y", 5)
	if !woken(d) {
		t.Fatal("TouchN(5) with one in line did not wake it")
	}
	d.Release() // unacknowledged, nobody to pass to
	if n.Len() != 0 {
		t.Fatalf("%d entries left, want 0", n.Len())
	}
}
