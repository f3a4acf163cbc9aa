package state

import "strings"

// Lock waiters wait per key, not per storage: a lock of a key by name waits in that key's
// line, a lock of any key with a prefix in that prefix's line. A change wakes only what
// can take the key: when a lock ends, the oldest waiter (by HoldOne order, across the
// key's line and the lines of every prefix of the key when lock-any may take it) is woken,
// one, since a lock is exclusive; a key becoming visible to lock-any wakes the oldest
// lock-any waiter whose prefix it has; a key deleted wakes every waiter of its name (they
// answer ITEM_NOT_FOUND at once); a storage deleted wakes all of its lock waiters. A
// woken waiter that gives up without trying passes the wakeup on by running the change
// again (Hold.Release), so no wakeup is lost.

// lockLine is what a lock waiters' line waits for.
type lockLine struct {
	storage string
	any     bool
	target  string // the key (any false) or the prefix (any true)
}

// storageLines indexes one storage's lock lines.
type storageLines struct {
	keys     map[string]struct{} // notifier keys of the by-name lines
	prefixes map[string]struct{} // prefixes of the lock-any lines
}

// lockWake is one change of a key that may let one lock waiter proceed.
type lockWake struct {
	storage, key  string
	byName, byAny bool // a lock by name, a lock-any, may take the key now
}

// LockKey is the notifier key of the waiters to lock key of storage by name.
func LockKey(storage string, key []byte) string { return "l/" + storage + "\x00" + string(key) }

// AnyLockKey is the notifier key of the waiters to lock any key of storage with prefix.
func AnyLockKey(storage string, prefix []byte) string {
	return "a/" + storage + "\x00" + string(prefix)
}

// HoldLock returns a place in the line of the waiters to lock key (any false) or any key
// with prefix (any true) of storage; seq keeps an earlier hold's place (see HoldOneAt).
// Release it as a HoldOne.
func (n *Notifier) HoldLock(storage string, any bool, key, prefix []byte, seq uint64) *Hold {
	l := &lockLine{storage: storage, any: any, target: string(key)}
	nkey := LockKey(storage, key)
	if any {
		l.target = string(prefix)
		nkey = AnyLockKey(storage, prefix)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	sig, ok := n.ch[nkey]
	if !ok {
		sig = &signal{lock: l}
		n.ch[nkey] = sig
		sl := n.locks[storage]
		if sl == nil {
			sl = &storageLines{keys: map[string]struct{}{}, prefixes: map[string]struct{}{}}
			n.locks[storage] = sl
		}
		if any {
			sl.prefixes[l.target] = struct{}{}
		} else {
			sl.keys[nkey] = struct{}{}
		}
		n.lockLines.Add(1)
	}
	return n.holdOne(sig, nkey, seq)
}

// unindexLock forgets the lock line nkey (its entry is gone). n.mu is held.
func (n *Notifier) unindexLock(nkey string, l *lockLine) {
	sl := n.locks[l.storage]
	if sl == nil {
		return
	}
	if l.any {
		if _, ok := sl.prefixes[l.target]; !ok {
			return
		}
		delete(sl.prefixes, l.target)
	} else {
		if _, ok := sl.keys[nkey]; !ok {
			return
		}
		delete(sl.keys, nkey)
	}
	n.lockLines.Add(-1)
	if len(sl.keys) == 0 && len(sl.prefixes) == 0 {
		delete(n.locks, l.storage)
	}
}

// LockWaiting reports whether any lock waits in a line: when none does, the state need
// not record what its applies free.
func (n *Notifier) LockWaiting() bool { return n.lockLines.Load() > 0 }

// WakeLock wakes the oldest waiter that can take key of storage now: one to lock it by
// name (byName: its lock ended) or to lock any key with one of its prefixes (byAny: it is
// unlocked and visible). Nobody is woken when nobody waits for it.
func (n *Notifier) WakeLock(storage string, key []byte, byName, byAny bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.wakeLock(lockWake{storage: storage, key: string(key), byName: byName, byAny: byAny})
}

// wakeLock runs one lock change (see WakeLock). n.mu is held.
func (n *Notifier) wakeLock(w lockWake) {
	sl := n.locks[w.storage]
	if sl == nil {
		return
	}
	var best *Hold
	consider := func(nkey string) {
		if sig := n.ch[nkey]; sig != nil && sig.first != nil && (best == nil || sig.first.seq < best.seq) {
			best = sig.first
		}
	}
	if w.byName && len(sl.keys) > 0 {
		consider("l/" + w.storage + "\x00" + w.key)
	}
	if w.byAny {
		for p := range sl.prefixes {
			if strings.HasPrefix(w.key, p) {
				consider("a/" + w.storage + "\x00" + p)
			}
		}
	}
	if best != nil {
		n.wake(best, &w)
	}
}

// WakeKeyGone wakes every waiter to lock key of storage by name: the key was deleted.
func (n *Notifier) WakeKeyGone(storage string, key []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if sl := n.locks[storage]; sl != nil && len(sl.keys) > 0 {
		n.wakeLine(LockKey(storage, key), -1)
	}
}

// WakeStorage wakes every lock waiter of storage (it was deleted).
func (n *Notifier) WakeStorage(storage string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sl := n.locks[storage]
	if sl == nil {
		return
	}
	keys := make([]string, 0, len(sl.keys)+len(sl.prefixes))
	for k := range sl.keys {
		keys = append(keys, k)
	}
	for p := range sl.prefixes {
		keys = append(keys, "a/"+storage+"\x00"+p)
	}
	for _, k := range keys {
		n.wakeLine(k, -1)
	}
}
