package state

import (
	"sync"
	"sync/atomic"
)

// Notifier wakes waiters in this process when a queue or storage changes in a way that may
// let them proceed (an item became visible, room was freed, a key was unlocked, the queue
// or storage was deleted, ...). Waiters take a hold before trying, then wait on its channel
// if the try failed, so no wakeup is lost. Spurious wakeups are fine: waiters simply try
// again.
//
// Waits on names clients choose use Hold: a key has an entry only while someone holds it
// (Touch removes it, and so does the last Release), so waits on names that do not exist (a
// pull from a made-up queue) leave nothing behind. Wait, which is never released, is for
// the server's own keys (a fixed few): its entry stays until the key's next Touch.
//
// Pullers wait in their queue's line (HoldOne), woken as many as a change made items ready
// (TouchN); enqueues waiting for room in the queue's room line (RoomKey), woken one per
// slot freed; lock waiters in their key's or prefix's line (HoldLock), woken one per lock that
// ended (WakeLock, notify_locks.go).
type Notifier struct {
	mu  sync.Mutex
	ch  map[string]*signal
	seq uint64 // the last HoldOne's place in time (lines are kept in seq order)
	// locks indexes the lock waiters' lines by storage (notify_locks.go).
	locks     map[string]*storageLines
	lockLines atomic.Int64 // the number of lock lines (LockWaiting)
	// woken counts the waiters woken (each Hold of a closed channel, each HoldOne), for
	// tests and measurements: what a change costs in look-ups at the state.
	woken atomic.Uint64
}

// signal is one key's waiters: the channel of its Holds (and their number) and the line
// of its HoldOnes, oldest first.
type signal struct {
	c           chan struct{}
	waiters     int
	first, last *Hold // the line (HoldOne), linked through next/prev
	inLine      int
	lock        *lockLine // a lock waiters' line: what it waits for (notify_locks.go)
}

func (s *signal) empty() bool { return s.waiters == 0 && s.inLine == 0 }

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier {
	return &Notifier{ch: map[string]*signal{}, locks: map[string]*storageLines{}}
}

// Hold is one waiter's hold on a key: on the key's shared channel (Hold), or its own place
// in the key's line (HoldOne).
type Hold struct {
	n   *Notifier
	key string
	sig *signal // a Hold's signal (nil once released)

	c chan struct{} // the key's (Hold) or its own (HoldOne)
	// A HoldOne's place in the line and what became of it.
	one        bool
	seq        uint64 // its place in time: lines are oldest first
	prev, next *Hold
	queued     bool // in the line (not woken, not released)
	woken      bool // woken and not yet acknowledged (Woke)
	released   bool
	// pass is the lock change that woke it (nil: a Touch): a wakeup not acknowledged is
	// passed on by running that change again (notify_locks.go).
	pass *lockWake
}

// C is closed at the next Touch of the key after the hold was taken (for a HoldOne: when
// a Touch or TouchN reaches it in the line).
func (w *Hold) C() <-chan struct{} { return w.c }

// Woke acknowledges a HoldOne's wakeup: its waiter will try again, so Release does not
// pass the wakeup on.
func (w *Hold) Woke() {
	w.n.mu.Lock()
	w.woken = false
	w.n.mu.Unlock()
}

// Release ends the hold; the key's entry goes with its last holder. A HoldOne woken and
// not acknowledged (its waiter gave up meanwhile: deadline, cancellation) passes its
// wakeup to the next in line, so no wakeup is lost. It is idempotent.
func (w *Hold) Release() {
	if w == nil {
		return
	}
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if w.one {
		if w.released {
			return
		}
		w.released = true
		if w.queued {
			w.n.unlink(w)
		} else if w.woken {
			w.woken = false
			if w.pass != nil {
				w.n.wakeLock(*w.pass)
			} else {
				w.n.wakeLine(w.key, 1)
			}
		}
		return
	}
	if w.sig == nil {
		return
	}
	if cur := w.n.ch[w.key]; cur == w.sig {
		if cur.waiters--; cur.empty() {
			w.n.drop(w.key, cur)
		}
	}
	w.sig = nil
}

// PassOn ends a woken HoldOne whose waiter cannot use the wakeup (a batch enqueue needs
// more room than was freed) but leaves it to those behind: the first in line with a later
// place is woken instead. A wakeup thus goes down the line at most once, never back to a
// waiter that passed it on and took its place again. Release after it does nothing.
func (w *Hold) PassOn() {
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if !w.one || w.released {
		return
	}
	w.released = true
	if w.queued {
		w.n.unlink(w)
		return
	}
	if !w.woken {
		return
	}
	w.woken = false
	if sig, ok := w.n.ch[w.key]; ok {
		for h := sig.first; h != nil; h = h.next {
			if h.seq > w.seq {
				w.n.wake(h, nil)
				return
			}
		}
	}
}

// Hold returns a hold on key's channel, closed at the next Touch of key. The caller must
// Release it when it stops waiting.
func (n *Notifier) Hold(key string) *Hold {
	n.mu.Lock()
	defer n.mu.Unlock()
	sig := n.signal(key)
	if sig.c == nil {
		sig.c = make(chan struct{})
	}
	sig.waiters++
	return &Hold{n: n, key: key, sig: sig, c: sig.c}
}

// HoldOne returns a place in key's line: TouchN wakes only the first n in line, Touch all
// of them. It is for waiters that each take something one change makes available a
// countable number of (items for pullers). The caller must Release it, and call Woke when
// it tries again after a wakeup.
func (n *Notifier) HoldOne(key string) *Hold { return n.HoldOneAt(key, 0) }

// HoldOneAt is HoldOne keeping the place in line of an earlier hold (seq, its Seq; 0: a
// new place at the end): a waiter woken that found nothing it could take goes back where
// it stood, so lines stay first come, first served.
func (n *Notifier) HoldOneAt(key string, seq uint64) *Hold {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.holdOne(n.signal(key), key, seq)
}

// holdOne puts a new HoldOne into sig's line (key's) in seq order. n.mu is held.
func (n *Notifier) holdOne(sig *signal, key string, seq uint64) *Hold {
	if seq == 0 {
		n.seq++
		seq = n.seq
	}
	h := &Hold{n: n, key: key, one: true, seq: seq, c: make(chan struct{}), queued: true}
	after := sig.last // h goes after this one (nil: first)
	for after != nil && after.seq > seq {
		after = after.prev
	}
	h.prev = after
	if after != nil {
		h.next, after.next = after.next, h
	} else {
		h.next, sig.first = sig.first, h
	}
	if h.next != nil {
		h.next.prev = h
	} else {
		sig.last = h
	}
	sig.inLine++
	return h
}

// Seq is a HoldOne's place in time (see HoldOneAt).
func (w *Hold) Seq() uint64 { return w.seq }

// signal returns key's entry, made if missing. n.mu is held.
func (n *Notifier) signal(key string) *signal {
	sig, ok := n.ch[key]
	if !ok {
		sig = &signal{}
		n.ch[key] = sig
	}
	return sig
}

// unlink takes h out of its key's line. n.mu is held.
func (n *Notifier) unlink(h *Hold) {
	sig := n.ch[h.key]
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		sig.first = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		sig.last = h.prev
	}
	h.prev, h.next, h.queued = nil, nil, false
	if sig.inLine--; sig.empty() {
		n.drop(h.key, sig)
	}
}

// drop removes key's entry sig, which has no waiter left. n.mu is held.
func (n *Notifier) drop(key string, sig *signal) {
	delete(n.ch, key)
	if sig.lock != nil {
		n.unindexLock(key, sig.lock)
	}
}

// wakeLine wakes the first k in key's line (k < 0: all). n.mu is held.
func (n *Notifier) wakeLine(key string, k int) {
	sig, ok := n.ch[key]
	if !ok {
		return
	}
	for sig.first != nil && k != 0 {
		n.wake(sig.first, nil)
		k--
	}
}

// wake takes h (first in its line) out and wakes it; pass is the lock change that woke it
// (nil: a Touch). n.mu is held.
func (n *Notifier) wake(h *Hold, pass *lockWake) {
	n.unlink(h)
	h.woken = true
	h.pass = pass
	close(h.c)
	n.woken.Add(1)
}

// Wait returns a channel closed at the next Touch of key: a hold never released, for the
// server's own keys.
func (n *Notifier) Wait(key string) <-chan struct{} { return n.Hold(key).C() }

// Touch wakes every waiter of key.
func (n *Notifier) Touch(key string) { n.TouchN(key, -1) }

// TouchN wakes every Hold of key and the first k of its line (k < 0: the whole line).
func (n *Notifier) TouchN(key string, k int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sig, ok := n.ch[key]
	if !ok {
		return
	}
	n.wakeLine(key, k)
	if sig.c != nil {
		close(sig.c)
		sig.c = nil
		n.woken.Add(uint64(sig.waiters))
		// The Holds of the closed channel are done with this entry: what remains is the
		// rest of the line, in a fresh entry their Releases do not touch.
		if sig.inLine > 0 {
			n.ch[key] = &signal{first: sig.first, last: sig.last, inLine: sig.inLine, lock: sig.lock}
		} else {
			n.drop(key, sig)
		}
	}
}

// TouchAll wakes every waiter (after a snapshot restore or a leadership change).
func (n *Notifier) TouchAll() {
	n.mu.Lock()
	keys := make([]string, 0, len(n.ch))
	for k := range n.ch {
		keys = append(keys, k)
	}
	n.mu.Unlock()
	for _, k := range keys {
		n.Touch(k)
	}
}

// Woken is the number of waiters woken so far (each Hold of a closed channel, each
// HoldOne): what changes cost in waiters looking at the state again.
func (n *Notifier) Woken() uint64 { return n.woken.Load() }

// Len is the number of keys somebody waits on.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ch)
}

// Waiters is the number of holds on key, line included (0: it has no entry).
func (n *Notifier) Waiters(key string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sig, ok := n.ch[key]; ok {
		return sig.waiters + sig.inLine
	}
	return 0
}

// QueueKey is the notifier key of a queue: the line of its waiting pullers.
func QueueKey(name string) string { return "q/" + name }

// RoomKey is the notifier key of the line of enqueues waiting for room in a queue at its
// max_size, woken one per slot freed.
func RoomKey(name string) string { return "r/" + name }

// StorageKey is the notifier key of a storage.
func StorageKey(name string) string { return "s/" + name }
