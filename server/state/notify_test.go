package state

import "testing"

func TestNotifierEntriesLastOnlyWhileWaited(t *testing.T) {
	n := NewNotifier()
	a, b := n.Hold("q/x"), n.Hold("q/x")
	if a.C() != b.C() || n.Len() != 1 {
		t.Fatalf("two waits on one key: %d entries, same channel %v", n.Len(), a.C() == b.C())
	}
	a.Release()
	a.Release() // idempotent: must not drop b's hold
	if n.Len() != 1 {
		t.Fatalf("one waiter left: %d entries, want 1", n.Len())
	}
	b.Release()
	if n.Len() != 0 {
		t.Fatalf("no waiter left: %d entries, want 0", n.Len())
	}

	// A Touch wakes the waiters of that key only and removes its entry; releasing a woken
	// wait does not disturb a newer one on the same key.
	c, other := n.Hold("q/x"), n.Hold("q/y")
	n.Touch("q/x")
	select {
	case <-c.C():
	default:
		t.Fatal("Touch did not wake the waiter")
	}
	select {
	case <-other.C():
		t.Fatal("Touch woke a waiter of another key")
	default:
	}
	d := n.Hold("q/x")
	c.Release()
	if n.Len() != 2 {
		t.Fatalf("%d entries, want 2 (q/x for the new wait, q/y)", n.Len())
	}
	d.Release()
	other.Release()
	// Wait (never released) keeps its entry until the key is touched.
	w := n.Wait("s/members")
	if n.Len() != 1 {
		t.Fatalf("%d entries with a Wait, want 1", n.Len())
	}
	n.TouchAll()
	<-w
	if n.Len() != 0 {
		t.Fatalf("%d entries, want 0", n.Len())
	}
}
