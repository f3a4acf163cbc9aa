package kv

import "bytes"

// Change is a change of a key that may let a waiting lock proceed; the state turns them
// into wakeups of the lock waiters of that key (state.Notifier.WakeLock).
type Change struct {
	Key []byte
	// ByName: its lock ended, so a lock by name may take it; ByAny: it became unlocked and
	// visible, so a lock-any of one of its prefixes may take it; Gone: it was deleted.
	ByName, ByAny, Gone bool
}

// Watch turns the recording of changes on or off (off by default: nobody waits).
func (s *Storage) Watch(on bool) {
	s.watch = on
	if !on {
		s.changes = s.changes[:0]
	}
}

// TakeChanges returns the changes recorded since the last call (while watched). The slice
// is reused by the next change: use it before changing the storage again.
func (s *Storage) TakeChanges() []Change {
	c := s.changes
	s.changes = s.changes[:0]
	return c
}

// changed records a change of e while watched.
func (s *Storage) changed(e *entry, byName, byAny, gone bool) {
	if s.watch {
		s.changes = append(s.changes, Change{Key: bytes.Clone(e.k()), ByName: byName, ByAny: byAny, Gone: gone})
	}
}
