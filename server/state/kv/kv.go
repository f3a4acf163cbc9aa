// Package kv is the key-value and lock engine that runs inside the Raft state machine.
//
// It is deterministic: no clocks, no randomness, no I/O. Time comes in as the `now`
// argument (Unix nanoseconds from the Raft log), ids and fencing tokens from the caller's
// Counters. It is not safe for concurrent use; the state package serialises access.
package kv

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/google/btree"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// DefaultLockTTL is the lock duration when a request gives none.
const DefaultLockTTL = 60 * time.Second

// MaxKeyLen is the longest key, in bytes. Keys are 1–MaxKeyLen bytes.
const MaxKeyLen = 1024

// Counters hands out cluster-wide key ids and fencing tokens, both strictly increasing.
type Counters interface {
	NextID() uint64
	NextToken() uint64
}

// Entry is one key as read. Value is stored bytes: compressed when Compressed.
//
// Key and Value share memory with the storage: callers must not modify them. The storage
// never modifies them in place either (a Set stores a new value slice), so they stay valid
// after later changes and may be encoded outside the caller's lock.
type Entry struct {
	ID         uint64
	Key        []byte
	Value      []byte
	Compressed bool
	Locked     bool
	LockToken  uint64 // current lock's token when Locked
}

// Storage is one storage's keys and locks.
//
// Time: the state package calls Advance(now) before the mutating methods (Set, Delete,
// Lock, LockAny, Release) with the same now, and now does not go backwards. The mutating
// methods also fire whatever is due at now themselves (a no-op after Advance), so they
// never see a key past its ttl, a lock past its lock_until or a delay that has run out.
// The read methods (Get, GetByIDs, Keys) change nothing and may be called with a reader's
// now ahead of the last Advance: they treat keys whose ttl ran out by now as absent and
// locks whose lock_until passed by now as released. Counts has no now: it counts as of the
// last Advance or change.
//
// Locks are not reentrant: Lock on a key the same session holds is ITEM_BUSY. A locked key
// changes only through its holder (Set, Delete and Release alike): the session that locked
// it, or a request carrying its current token; anyone else gets ITEM_BUSY, and so does a
// stale token, whatever the session (the fence). A lock belongs to no connection: it
// survives the locking stream's disconnect (its token still proves it) and ends only by
// Release, by its lock ttl, or with its key (Delete by the holder, or ttl expiry).
//
// Cost: Set, Delete, Get, Lock, Release and each deadline fired by Advance are O(log n);
// LockAny is O(log n); Keys is O(log n + limit), plus the keys it skips because their ttl
// or lock ran out after the last Advance.
type Storage struct {
	name string

	// byKey holds every key. It is copy-on-write: Freeze clones it in O(1), and an entry
	// of an older gen than the storage's may be read by a Frozen view, so it is replaced
	// by a copy (own) before it changes.
	byKey *btree.BTreeG[*entry]
	gen   uint32
	byID  map[uint64]*entry // every key, looked up only (never iterated for results)
	// unlocked holds the keys with no lock, lockable the unlocked ones with no pending
	// delay (visibleAt == 0): LockAny seeks its prefix there and takes the first.
	unlocked *btree.BTreeG[*entry]
	lockable *btree.BTreeG[*entry]
	// deadlines holds one record per pending expiry, lock end and delay end.
	deadlines *btree.BTreeG[deadline]

	probe  entry // the key of write-path lookups (readers allocate their own)
	locked int   // number of locked keys

	// watch says whether to record changes lock waiters care about (changes.go).
	watch   bool
	changes []Change
}

// entry is one stored key. Invariants, after every method:
//   - expiresAt != 0 ⇔ a deadlineExpire record (expiresAt, id) is pending;
//   - lk != nil (locked) ⇔ a deadlineUnlock record (lk.until, id) is pending, and the key
//     is not in unlocked nor lockable;
//   - visibleAt != 0 ⇔ a deadlineVisible record (visibleAt, id) is pending (the delay has
//     not run out) and the key is not in lockable;
//   - lk == nil ⇔ in unlocked; lk == nil && visibleAt == 0 ⇔ in lockable.
//
// The key and value are each a pointer to the first byte and a length rather than a
// slice (their capacity is never used): 64 bytes an entry instead of 96.
type entry struct {
	id         uint64
	kp, vp     *byte      // the key's and value's first bytes: see k and v
	expiresAt  int64      // Unix ns; 0: never
	visibleAt  int64      // Unix ns; 0: visible (no delay pending)
	lk         *lockState // nil: not locked
	klen, vlen uint32
	gen        uint32 // see Storage.byKey
	compressed bool
}

// k is the entry's key (nil only in a reset probe).
func (e *entry) k() []byte { return unsafe.Slice(e.kp, e.klen) }

// v is the entry's value as it was set (nil stays nil).
func (e *entry) v() []byte { return unsafe.Slice(e.vp, e.vlen) }

// setKey keeps b's bytes (not a copy) as the key. Keys and values are far below 4 GiB.
func (e *entry) setKey(b []byte) { e.kp, e.klen = unsafe.SliceData(b), uint32(len(b)) }

// setValue keeps b's bytes (not a copy) as the value.
func (e *entry) setValue(b []byte) { e.vp, e.vlen = unsafe.SliceData(b), uint32(len(b)) }

// lockState is a key's lock. It is never changed once made (a new lock is a new
// lockState), so a frozen view may share it; keeping it out of the entry saves the
// unlocked keys its bytes.
type lockState struct {
	holder uint64
	token  uint64
	until  int64 // lock_until, Unix ns
}

type deadlineKind uint8

const (
	deadlineExpire deadlineKind = iota
	deadlineUnlock
	deadlineVisible
)

// deadline is one pending timer, ordered by (at, kind, id).
type deadline struct {
	at   int64
	kind deadlineKind
	id   uint64
}

func cmpDeadline(a, b deadline) int {
	switch {
	case a.at != b.at:
		if a.at < b.at {
			return -1
		}
		return 1
	case a.kind != b.kind:
		if a.kind < b.kind {
			return -1
		}
		return 1
	case a.id != b.id:
		if a.id < b.id {
			return -1
		}
		return 1
	}
	return 0
}

func deadlineLess(a, b deadline) bool { return cmpDeadline(a, b) < 0 }
func keyLess(a, b *entry) bool        { return bytes.Compare(a.k(), b.k()) < 0 }

// treeDegree is the degree of the storage's B-trees.
const treeDegree = 32

func newKeyTree() *btree.BTreeG[*entry] { return btree.NewG(treeDegree, keyLess) }

// New returns an empty storage.
func New(name string) *Storage {
	return &Storage{
		name:      name,
		gen:       1,
		byKey:     newKeyTree(),
		byID:      map[uint64]*entry{},
		unlocked:  newKeyTree(),
		lockable:  newKeyTree(),
		deadlines: btree.NewG(treeDegree, deadlineLess),
	}
}

// readProbes are probes for readers, who run concurrently (a probe passed to the B-tree
// escapes: a fresh one per read would allocate).
var readProbes = sync.Pool{New: func() any { return new(entry) }}

// readProbe returns a probe for key k; give it back with putProbe.
func readProbe(k []byte) *entry {
	p := readProbes.Get().(*entry)
	p.setKey(k)
	return p
}

func putProbe(p *entry) {
	p.setKey(nil)
	readProbes.Put(p)
}

// key is the write paths' probe for key k (readers use readProbe).
func (s *Storage) key(k []byte) *entry {
	s.probe.setKey(k)
	return &s.probe
}

// get is the entry of key k (write paths).
func (s *Storage) get(k []byte) (*entry, bool) {
	e, ok := s.byKey.Get(s.key(k))
	s.probe.setKey(nil)
	return e, ok
}

// own returns e ready to be changed: e itself, or, when a Frozen view may read it (its gen
// is older than the storage's), a copy that takes its place in every index.
func (s *Storage) own(e *entry) *entry {
	if e.gen == s.gen {
		return e
	}
	c := new(entry)
	*c = *e
	c.gen = s.gen
	s.byKey.ReplaceOrInsert(c)
	s.byID[c.id] = c
	if c.lk == nil {
		s.unlocked.ReplaceOrInsert(c)
		if c.visibleAt == 0 {
			s.lockable.ReplaceOrInsert(c)
		}
	}
	return c
}

// ascendFrom calls fn, in key order, for every entry of t whose key is >= k (> k when
// !inclusive), until fn returns false. probe is an entry to search with.
func ascendFrom(t *btree.BTreeG[*entry], probe *entry, inclusive bool, fn func(*entry) bool) {
	t.AscendGreaterOrEqual(probe, func(e *entry) bool {
		if !inclusive && bytes.Equal(e.k(), probe.k()) {
			return true
		}
		return fn(e)
	})
}

// Name is the storage's name.
func (s *Storage) Name() string { return s.name }

// Counts returns the number of keys and of locked keys.
func (s *Storage) Counts() (count, locked uint32) {
	return uint32(s.byKey.Len()), uint32(s.locked)
}

// Set creates or replaces a key (req.Value already compressed when req.Compress). A locked
// key may be set only by its holder: session == the locking session (0 never matches) or
// req.LockToken == the current token; a non-zero LockToken that is not the key's current
// token is refused (ITEM_BUSY), so stale tokens fence. Returns the key's id.
//
// Precisely: with a non-zero LockToken the key must exist and be locked with that token
// (whatever the session); with LockToken 0 an unlocked or absent key may be set by anyone
// and a locked one by the locking session when it is not 0. The holder's Set keeps the lock
// (same token, same lock_until). req.Ttl absent or 0: the key never expires (a replaced key
// loses its old expiry); req.Delay absent or 0: LockAny may take the key at once. A negative
// or malformed ttl or delay, or a key not of 1–1024 bytes, is INVALID_ARGUMENT. The id is
// kept when an existing key is replaced; a new key gets c.NextID(). Set takes ownership of
// req.Value (not copied).
func (s *Storage) Set(now int64, session uint64, req *pb.StorageSetRequest, c Counters) (uint64, *apierr.Error) {
	key := req.GetKey()
	if err := checkKey(key); err != nil {
		return 0, err
	}
	ttl, err := duration("ttl", req.GetTtl())
	if err != nil {
		return 0, err
	}
	delay, err := duration("delay", req.GetDelay())
	if err != nil {
		return 0, err
	}
	s.Advance(now)
	var expiresAt, visibleAt int64
	if ttl > 0 {
		expiresAt = addSat(now, ttl)
	}
	if delay > 0 {
		visibleAt = addSat(now, delay)
	}
	e, ok := s.get(key)
	if !ok {
		if req.GetLockToken() != 0 {
			return 0, apierr.New(pb.StatusCode_STATUS_CODE_ITEM_BUSY,
				"lock token %d is not the current lock of key %s: the key does not exist", req.GetLockToken(), showKey(key))
		}
		e = &entry{
			id:         c.NextID(),
			compressed: req.GetCompress(),
			expiresAt:  expiresAt,
			visibleAt:  visibleAt,
			gen:        s.gen,
		}
		e.setKey(bytes.Clone(key))
		e.setValue(req.GetValue())
		s.insert(e)
		if visibleAt == 0 {
			s.changed(e, false, true, false)
		}
		return e.id, nil
	}
	if err := checkHolder(e, session, req.GetLockToken()); err != nil {
		return 0, err
	}
	e = s.own(e)
	e.setValue(req.GetValue())
	e.compressed = req.GetCompress()
	if expiresAt != e.expiresAt {
		if e.expiresAt != 0 {
			s.deadlines.Delete(deadline{e.expiresAt, deadlineExpire, e.id})
		}
		e.expiresAt = expiresAt
		if expiresAt != 0 {
			s.deadlines.ReplaceOrInsert(deadline{expiresAt, deadlineExpire, e.id})
		}
	}
	if visibleAt != e.visibleAt {
		if e.visibleAt != 0 {
			s.deadlines.Delete(deadline{e.visibleAt, deadlineVisible, e.id})
		} else if e.lk == nil {
			s.lockable.Delete(e)
		}
		e.visibleAt = visibleAt
		if visibleAt != 0 {
			s.deadlines.ReplaceOrInsert(deadline{visibleAt, deadlineVisible, e.id})
		} else if e.lk == nil {
			s.lockable.ReplaceOrInsert(e)
			s.changed(e, false, true, false)
		}
	}
	return e.id, nil
}

// Delete deletes a key under the same holder rule as Set. ITEM_NOT_FOUND when absent.
//
// Deleting a locked key (by its holder) ends the lock with it.
func (s *Storage) Delete(now int64, session uint64, key []byte, token uint64) *apierr.Error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.Advance(now)
	e, ok := s.get(key)
	if !ok {
		return apierr.ItemNotFound("key %s not found", showKey(key))
	}
	if err := checkHolder(e, session, token); err != nil {
		return err
	}
	s.remove(e)
	return nil
}

// Lock locks key for ttl (<= 0: DefaultLockTTL) with a new token. ITEM_NOT_FOUND when
// absent; ITEM_BUSY when locked.
//
// Locks are not reentrant: a key locked by the same session is ITEM_BUSY too. A key whose
// delay has not run out may be locked by name. The token is c.NextToken(); lock_until is
// now + ttl.
func (s *Storage) Lock(now int64, session uint64, key []byte, ttl time.Duration, c Counters) (Entry, *apierr.Error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	s.Advance(now)
	e, ok := s.get(key)
	if !ok {
		return Entry{}, apierr.ItemNotFound("key %s not found", showKey(key))
	}
	if e.lk != nil {
		return Entry{}, apierr.New(pb.StatusCode_STATUS_CODE_ITEM_BUSY, "key %s is locked", showKey(key))
	}
	e = s.lock(e, now, session, ttl, c)
	return e.view(now), nil
}

// LockAny locks the first (in key order) unlocked, visible key starting with prefix.
// ok is false when there is none.
//
// Visible: its delay has run out. Keys past their ttl are never taken. An empty prefix
// matches every key; a prefix longer than 1024 bytes matches none. ttl as for Lock.
func (s *Storage) LockAny(now int64, session uint64, prefix []byte, ttl time.Duration, c Counters) (e Entry, ok bool) {
	s.Advance(now)
	var found *entry
	s.lockable.AscendGreaterOrEqual(s.key(prefix), func(x *entry) bool {
		if bytes.HasPrefix(x.k(), prefix) {
			found = x
		}
		return false
	})
	s.probe.setKey(nil)
	if found == nil {
		return Entry{}, false
	}
	found = s.lock(found, now, session, ttl, c)
	return found.view(now), true
}

// Release unlocks key id, deleting it when del. ITEM_NOT_FOUND when unknown, ITEM_NOT_BUSY
// when not locked, ITEM_BUSY when the caller is not the lock's holder.
//
// The holder rule is Set's: with a non-zero token it must be the lock's current token
// (whatever the session), so a stale token is refused; with token 0 the session must be the
// locking session (0 never matches). A lock survives its stream's disconnect, so a holder
// that reconnects (a new session) releases with the token. A key past its ttl is unknown.
func (s *Storage) Release(now int64, session uint64, id uint64, del bool, token uint64) *apierr.Error {
	s.Advance(now)
	e, ok := s.byID[id]
	if !ok {
		return apierr.ItemNotFound("key id %d not found", id)
	}
	if e.lk == nil {
		return apierr.New(pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "key id %d is not locked", id)
	}
	if err := checkHolder(e, session, token); err != nil {
		return err
	}
	if del {
		s.remove(e)
	} else {
		s.unlock(s.own(e))
	}
	return nil
}

// Get reads a key; keys past their ttl at now are absent. ITEM_NOT_FOUND when absent.
//
// Locked is false when the lock's lock_until has passed by now. A key not of 1–1024 bytes
// is INVALID_ARGUMENT.
func (s *Storage) Get(now int64, key []byte) (Entry, *apierr.Error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	p := readProbe(key)
	e, ok := s.byKey.Get(p)
	putProbe(p)
	if !ok || e.expired(now) {
		return Entry{}, apierr.ItemNotFound("key %s not found", showKey(key))
	}
	return e.view(now), nil
}

// GetByIDs reads keys by id, in request order, skipping absent ones.
//
// Keys past their ttl at now are absent; an id asked twice is returned twice.
func (s *Storage) GetByIDs(now int64, ids []uint64) []Entry {
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		if e, ok := s.byID[id]; ok && !e.expired(now) {
			out = append(out, e.view(now))
		}
	}
	return out
}

// Keys lists up to limit keys after `after` (exclusive; nil: from the start) in key order,
// with the prefix, leaving out locked keys unless activeIncluded. more says whether
// another key follows.
//
// Keys past their ttl at now are left out, and a lock whose lock_until has passed by now
// counts as released. To page, pass the last key of a page as the next page's after. The
// returned slices share memory with the storage: callers must not modify them. limit <= 0
// lists nothing (more still tells whether a key would follow).
func (s *Storage) Keys(now int64, after, prefix []byte, limit int, activeIncluded bool) (keys [][]byte, more bool) {
	from, inclusive := prefix, true
	if after != nil && bytes.Compare(after, prefix) >= 0 {
		from, inclusive = after, false
	}
	done := false
	// visit handles one key in order; it returns false once the listing is complete.
	visit := func(e *entry) bool {
		if !bytes.HasPrefix(e.k(), prefix) {
			done = true
			return false
		}
		if e.expired(now) {
			return true
		}
		if len(keys) >= limit {
			more, done = true, true
			return false
		}
		keys = append(keys, e.k())
		return true
	}
	probe := readProbe(from)
	defer putProbe(probe)
	if activeIncluded {
		ascendFrom(s.byKey, probe, inclusive, visit)
		return keys, more
	}
	// The unlocked keys at now are those in s.unlocked plus the locked ones whose lock ran
	// out after the last Advance (late, sorted by key); merge the two.
	var late []*entry
	s.deadlines.Ascend(func(d deadline) bool {
		if d.at > now {
			return false
		}
		if d.kind == deadlineUnlock {
			e := s.byID[d.id]
			if c := bytes.Compare(e.k(), from); (c > 0 || (inclusive && c == 0)) && bytes.HasPrefix(e.k(), prefix) {
				late = append(late, e)
			}
		}
		return true
	})
	slices.SortFunc(late, func(a, b *entry) int { return bytes.Compare(a.k(), b.k()) })
	ascendFrom(s.unlocked, probe, inclusive, func(e *entry) bool {
		for len(late) > 0 && bytes.Compare(late[0].k(), e.k()) < 0 {
			if !visit(late[0]) {
				return false
			}
			late = late[1:]
		}
		return visit(e)
	})
	for !done && len(late) > 0 {
		visit(late[0])
		late = late[1:]
	}
	return keys, more
}

// Advance fires every deadline <= now: keys past ttl are deleted, locks past lock_ttl
// released, delayed keys become lockable by LockAny.
//
// A locked key past its ttl is deleted, and its lock with it. Each fired deadline costs
// O(log n); when nothing is due Advance costs O(log n).
func (s *Storage) Advance(now int64) {
	for {
		d, ok := s.deadlines.Min()
		if !ok || d.at > now {
			return
		}
		s.deadlines.DeleteMin()
		e := s.own(s.byID[d.id])
		switch d.kind {
		case deadlineExpire:
			e.expiresAt = 0 // its record is gone
			s.remove(e)
		case deadlineUnlock:
			s.unlock(e)
		case deadlineVisible:
			e.visibleAt = 0
			if e.lk == nil {
				s.lockable.ReplaceOrInsert(e)
				s.changed(e, false, true, false)
			}
		}
	}
}

// NextDeadline is the earliest pending deadline (Unix ns), 0 when none.
//
// It is at least 1, so that a deadline is never mistaken for none.
func (s *Storage) NextDeadline() int64 {
	d, ok := s.deadlines.Min()
	if !ok {
		return 0
	}
	return max(d.at, 1)
}

// Snapshot emits every key in id order.
//
// It stops at, and returns, the first error emit returns. The records' Key and Value share
// memory with the storage, which never modifies them in place: they stay valid after later
// changes.
func (s *Storage) Snapshot(emit func(*raftpb.KeyState) error) error {
	return s.Freeze().Snapshot(emit)
}

// Frozen is a storage as of one moment (Freeze). Later changes to the storage do not show
// in it, and reading it may run concurrently with them.
type Frozen struct {
	name  string
	byKey *btree.BTreeG[*entry]
}

// Freeze returns the storage as of now, in O(1): its key B-tree is cloned lazily
// (copy-on-write), and the storage copies an entry before it next changes it.
func (s *Storage) Freeze() *Frozen {
	s.gen++
	return &Frozen{name: s.name, byKey: s.byKey.Clone()}
}

// Name is the storage's name.
func (f *Frozen) Name() string { return f.name }

// Snapshot emits every key in id order, as Storage.Snapshot does.
func (f *Frozen) Snapshot(emit func(*raftpb.KeyState) error) error {
	all := make([]*entry, 0, f.byKey.Len())
	f.byKey.Ascend(func(e *entry) bool {
		all = append(all, e)
		return true
	})
	slices.SortFunc(all, func(a, b *entry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	for _, e := range all {
		k := &raftpb.KeyState{
			Storage:    f.name,
			Id:         e.id,
			Key:        e.k(),
			Value:      e.v(),
			Compressed: e.compressed,
			ExpiresAt:  e.expiresAt,
			VisibleAt:  e.visibleAt,
		}
		if e.lk != nil {
			k.Locked = true
			k.LockHolder = e.lk.holder
			k.LockToken = e.lk.token
			k.LockUntil = e.lk.until
		}
		if err := emit(k); err != nil {
			return err
		}
	}
	return nil
}

// Restore inserts a key emitted by Snapshot.
//
// k.Storage is not checked (the caller routes records). A key already present under the
// same id or the same key bytes is replaced. Deadlines in the record that are already due
// fire at the next Advance. Restore takes ownership of k.Key and k.Value.
func (s *Storage) Restore(k *raftpb.KeyState) {
	if old, ok := s.byID[k.GetId()]; ok {
		s.remove(old)
	}
	if old, ok := s.get(k.GetKey()); ok {
		s.remove(old)
	}
	e := &entry{
		id:         k.GetId(),
		compressed: k.GetCompressed(),
		expiresAt:  k.GetExpiresAt(),
		visibleAt:  k.GetVisibleAt(),
		gen:        s.gen,
	}
	e.setKey(k.GetKey())
	if e.kp == nil {
		e.setKey([]byte{})
	}
	e.setValue(k.GetValue())
	if k.GetLocked() {
		e.lk = &lockState{holder: k.GetLockHolder(), token: k.GetLockToken(), until: k.GetLockUntil()}
	}
	s.insert(e)
}

// insert adds a new entry (locked or not) to every index.
func (s *Storage) insert(e *entry) {
	s.byKey.ReplaceOrInsert(e)
	s.byID[e.id] = e
	if e.expiresAt != 0 {
		s.deadlines.ReplaceOrInsert(deadline{e.expiresAt, deadlineExpire, e.id})
	}
	if e.visibleAt != 0 {
		s.deadlines.ReplaceOrInsert(deadline{e.visibleAt, deadlineVisible, e.id})
	}
	if e.lk != nil {
		s.deadlines.ReplaceOrInsert(deadline{e.lk.until, deadlineUnlock, e.id})
		s.locked++
		return
	}
	s.unlocked.ReplaceOrInsert(e)
	if e.visibleAt == 0 {
		s.lockable.ReplaceOrInsert(e)
	}
}

// remove deletes e from every index, with its lock and pending deadlines.
func (s *Storage) remove(e *entry) {
	s.changed(e, false, false, true)
	s.byKey.Delete(e)
	delete(s.byID, e.id)
	if e.expiresAt != 0 {
		s.deadlines.Delete(deadline{e.expiresAt, deadlineExpire, e.id})
	}
	if e.visibleAt != 0 {
		s.deadlines.Delete(deadline{e.visibleAt, deadlineVisible, e.id})
	}
	if e.lk != nil {
		s.deadlines.Delete(deadline{e.lk.until, deadlineUnlock, e.id})
		s.locked--
	} else {
		s.unlocked.Delete(e)
		if e.visibleAt == 0 {
			s.lockable.Delete(e)
		}
	}
}

// lock grants a new lock on the unlocked e and returns the entry (e or its copy, own).
func (s *Storage) lock(e *entry, now int64, session uint64, ttl time.Duration, c Counters) *entry {
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	e = s.own(e)
	s.unlocked.Delete(e)
	if e.visibleAt == 0 {
		s.lockable.Delete(e)
	}
	e.lk = &lockState{holder: session, token: c.NextToken(), until: addSat(now, ttl)}
	s.deadlines.ReplaceOrInsert(deadline{e.lk.until, deadlineUnlock, e.id})
	s.locked++
	return e
}

// unlock ends e's lock (its deadline record may already be gone). e must be owned (own).
func (s *Storage) unlock(e *entry) {
	s.deadlines.Delete(deadline{e.lk.until, deadlineUnlock, e.id})
	e.lk = nil
	s.locked--
	s.unlocked.ReplaceOrInsert(e)
	if e.visibleAt == 0 {
		s.lockable.ReplaceOrInsert(e)
	}
	s.changed(e, true, e.visibleAt == 0, false)
}

// expired reports whether e's ttl has run out at now.
func (e *entry) expired(now int64) bool { return e.expiresAt != 0 && e.expiresAt <= now }

// view is e as read at now.
func (e *entry) view(now int64) Entry {
	out := Entry{ID: e.id, Key: e.k(), Value: e.v(), Compressed: e.compressed}
	if e.lk != nil && e.lk.until > now {
		out.Locked = true
		out.LockToken = e.lk.token
	}
	return out
}

// checkHolder applies the holder rule to a change of e by session with token.
func checkHolder(e *entry, session, token uint64) *apierr.Error {
	if token != 0 {
		if e.lk != nil && token == e.lk.token {
			return nil
		}
		return apierr.New(pb.StatusCode_STATUS_CODE_ITEM_BUSY,
			"lock token %d is not the current lock of key %s", token, showKey(e.k()))
	}
	if e.lk == nil || (session != 0 && session == e.lk.holder) {
		return nil
	}
	return apierr.New(pb.StatusCode_STATUS_CODE_ITEM_BUSY,
		"key %s is locked by another holder: pass its lock_token", showKey(e.k()))
}

func checkKey(key []byte) *apierr.Error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return apierr.InvalidArgument("key must be 1–%d bytes, got %d", MaxKeyLen, len(key))
	}
	return nil
}

// duration converts an optional request duration: nil is 0; negative or malformed is
// INVALID_ARGUMENT naming field.
func duration(field string, d *durationpb.Duration) (time.Duration, *apierr.Error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, apierr.InvalidArgument("%s: %v", field, err)
	}
	v := d.AsDuration() // saturates
	if v < 0 {
		return 0, apierr.InvalidArgument("%s must not be negative, got %v", field, v)
	}
	return v, nil
}

// addSat is now + d, saturating at the largest time.
func addSat(now int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(d)
}

// showKey quotes a key for an error message, cut to 64 bytes.
func showKey(key []byte) string {
	const maxShown = 64
	if len(key) > maxShown {
		return strconv.Quote(string(key[:maxShown])) + "…"
	}
	return strconv.Quote(string(key))
}
