package kv

import "bytes"

// Lockable reports whether a lock could be tried now without waiting: for a key (any =
// false), unless it exists and is locked (an absent key is refused at once); for any key
// with prefix, whether an unlocked visible one exists. It changes nothing: deadlines not
// yet applied (an expired lock, a delay run out) count once a tick applies them.
func (s *Storage) Lockable(any bool, key, prefix []byte) bool {
	if !any {
		e, ok := s.byKey.Get(key)
		return !ok || !e.locked
	}
	found := false
	s.lockable.AscendFrom(prefix, true, func(x *entry) bool {
		found = bytes.HasPrefix(x.key, prefix)
		return false
	})
	return found
}
