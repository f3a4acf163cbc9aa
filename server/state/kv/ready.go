package kv

import "bytes"

// Lockable reports whether a lock could be tried now without waiting: for a key (any =
// false), unless it exists and is locked (an absent key is refused at once); for any key
// with prefix, whether an unlocked visible one exists. It changes nothing: deadlines not
// yet applied (an expired lock, a delay run out) count once a tick applies them. Readers
// may call it concurrently.
func (s *Storage) Lockable(any bool, key, prefix []byte) bool {
	if !any {
		p := readProbe(key)
		e, ok := s.byKey.Get(p)
		putProbe(p)
		return !ok || e.lk == nil
	}
	found := false
	p := readProbe(prefix)
	s.lockable.AscendGreaterOrEqual(p, func(x *entry) bool {
		found = bytes.HasPrefix(x.k(), prefix)
		return false
	})
	putProbe(p)
	return found
}
