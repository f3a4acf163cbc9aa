package state

import "sync"

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
type Notifier struct {
	mu sync.Mutex
	ch map[string]*signal
}

// signal is one key's channel and the number of Waits holding it.
type signal struct {
	c       chan struct{}
	waiters int
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier { return &Notifier{ch: map[string]*signal{}} }

// Hold is one waiter's hold on a key's channel.
type Hold struct {
	n   *Notifier
	key string
	sig *signal
}

// C is closed at the next Touch of the key after the hold was taken.
func (w *Hold) C() <-chan struct{} { return w.sig.c }

// Release ends the hold; the key's entry goes with its last holder. It is idempotent.
func (w *Hold) Release() {
	if w == nil || w.sig == nil {
		return
	}
	w.n.mu.Lock()
	defer w.n.mu.Unlock()
	if cur := w.n.ch[w.key]; cur == w.sig {
		if cur.waiters--; cur.waiters == 0 {
			delete(w.n.ch, w.key)
		}
	}
	w.sig = nil
}

// Hold returns a hold on key's channel, closed at the next Touch of key. The caller must
// Release it when it stops waiting.
func (n *Notifier) Hold(key string) *Hold {
	n.mu.Lock()
	defer n.mu.Unlock()
	sig, ok := n.ch[key]
	if !ok {
		sig = &signal{c: make(chan struct{})}
		n.ch[key] = sig
	}
	sig.waiters++
	return &Hold{n: n, key: key, sig: sig}
}

// Wait returns a channel closed at the next Touch of key: a hold never released, for the
// server's own keys.
func (n *Notifier) Wait(key string) <-chan struct{} { return n.Hold(key).C() }

// Touch wakes every waiter of key.
func (n *Notifier) Touch(key string) {
	n.mu.Lock()
	sig, ok := n.ch[key]
	if ok {
		delete(n.ch, key)
	}
	n.mu.Unlock()
	if ok {
		close(sig.c)
	}
}

// TouchAll wakes every waiter (after a snapshot restore or a leadership change).
func (n *Notifier) TouchAll() {
	n.mu.Lock()
	old := n.ch
	n.ch = map[string]*signal{}
	n.mu.Unlock()
	for _, sig := range old {
		close(sig.c)
	}
}

// Len is the number of keys somebody waits on.
func (n *Notifier) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ch)
}

// Waiters is the number of holds on key (0: it has no entry).
func (n *Notifier) Waiters(key string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sig, ok := n.ch[key]; ok {
		return sig.waiters
	}
	return 0
}

// QueueKey is the notifier key of a queue.
func QueueKey(name string) string { return "q/" + name }

// StorageKey is the notifier key of a storage.
func StorageKey(name string) string { return "s/" + name }
