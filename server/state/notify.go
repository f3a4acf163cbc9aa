package state

import "sync"

// Notifier wakes waiters in this process when a queue or storage changes in a way that may
// let them proceed (an item became visible, room was freed, a key was unlocked, ...).
// Waiters take the channel before trying, then wait on it if the try failed, so no wakeup
// is lost. Spurious wakeups are fine: waiters simply try again.
type Notifier struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

// NewNotifier returns an empty notifier.
func NewNotifier() *Notifier { return &Notifier{ch: map[string]chan struct{}{}} }

// Wait returns a channel closed at the next Touch of key.
func (n *Notifier) Wait(key string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.ch[key]
	if !ok {
		c = make(chan struct{})
		n.ch[key] = c
	}
	return c
}

// Touch wakes every waiter of key.
func (n *Notifier) Touch(key string) {
	n.mu.Lock()
	c, ok := n.ch[key]
	if ok {
		delete(n.ch, key)
	}
	n.mu.Unlock()
	if ok {
		close(c)
	}
}

// TouchAll wakes every waiter (after a snapshot restore or a leadership change).
func (n *Notifier) TouchAll() {
	n.mu.Lock()
	old := n.ch
	n.ch = map[string]chan struct{}{}
	n.mu.Unlock()
	for _, c := range old {
		close(c)
	}
}

// QueueKey is the notifier key of a queue.
func QueueKey(name string) string { return "q/" + name }

// StorageKey is the notifier key of a storage.
func StorageKey(name string) string { return "s/" + name }
