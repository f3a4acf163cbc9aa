// Package kv is the key-value and lock engine that runs inside the Raft state machine.
//
// It is deterministic: no clocks, no randomness, no I/O. Time comes in as the `now`
// argument (Unix nanoseconds from the Raft log), ids and fencing tokens from the caller's
// Counters. It is not safe for concurrent use; the state package serialises access.
package kv

import (
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/fault"
)

// DefaultLockTTL is the lock duration when a request gives none.
const DefaultLockTTL = 60 * time.Second

// Counters hands out cluster-wide key ids and fencing tokens, both strictly increasing.
type Counters interface {
	NextID() uint64
	NextToken() uint64
}

// Entry is one key as read. Value is stored bytes: compressed when Compressed.
type Entry struct {
	ID         uint64
	Key        []byte
	Value      []byte
	Compressed bool
	Locked     bool
	LockToken  uint64 // current lock's token when Locked
}

// Storage is one storage's keys and locks.
type Storage struct{}

// New returns an empty storage.
func New(name string) *Storage { panic("TODO") }

// Counts returns the number of keys and of locked keys.
func (s *Storage) Counts() (count, locked uint32) { panic("TODO") }

// Set creates or replaces a key (req.Value already compressed when req.Compress). A locked
// key may be set only by its holder: session == the locking session (0 never matches) or
// req.LockToken == the current token; a non-zero LockToken that is not the key's current
// token is refused (ITEM_BUSY), so stale tokens fence. Returns the key's id.
func (s *Storage) Set(now int64, session uint64, req *pb.StorageSetRequest, c Counters) (uint64, *fault.Error) {
	panic("TODO")
}

// Delete deletes a key under the same holder rule as Set. ITEM_NOT_FOUND when absent.
func (s *Storage) Delete(now int64, session uint64, key []byte, token uint64) *fault.Error {
	panic("TODO")
}

// Lock locks key for ttl (<= 0: DefaultLockTTL) with a new token. ITEM_NOT_FOUND when
// absent; ITEM_BUSY when locked.
func (s *Storage) Lock(now int64, session uint64, key []byte, ttl time.Duration, c Counters) (Entry, *fault.Error) {
	panic("TODO")
}

// LockAny locks the first (in key order) unlocked, visible key starting with prefix.
// ok is false when there is none.
func (s *Storage) LockAny(now int64, session uint64, prefix []byte, ttl time.Duration, c Counters) (e Entry, ok bool) {
	panic("TODO")
}

// Release unlocks key id, deleting it when del. ITEM_NOT_FOUND when unknown, ITEM_NOT_BUSY
// when not locked, ITEM_BUSY when token != 0 and is not the current token.
func (s *Storage) Release(now int64, session uint64, id uint64, del bool, token uint64) *fault.Error {
	panic("TODO")
}

// Get reads a key; keys past their ttl at now are absent. ITEM_NOT_FOUND when absent.
func (s *Storage) Get(now int64, key []byte) (Entry, *fault.Error) { panic("TODO") }

// GetByIDs reads keys by id, in request order, skipping absent ones.
func (s *Storage) GetByIDs(now int64, ids []uint64) []Entry { panic("TODO") }

// Keys lists up to limit keys after `after` (exclusive; nil: from the start) in key order,
// with the prefix, leaving out locked keys unless activeIncluded. more says whether
// another key follows.
func (s *Storage) Keys(now int64, after, prefix []byte, limit int, activeIncluded bool) (keys [][]byte, more bool) {
	panic("TODO")
}

// Advance fires every deadline <= now: keys past ttl are deleted, locks past lock_ttl
// released, delayed keys become lockable by LockAny.
func (s *Storage) Advance(now int64) { panic("TODO") }

// NextDeadline is the earliest pending deadline (Unix ns), 0 when none.
func (s *Storage) NextDeadline() int64 { panic("TODO") }

// Snapshot emits every key in id order.
func (s *Storage) Snapshot(emit func(*raftpb.KeyState) error) error { panic("TODO") }

// Restore inserts a key emitted by Snapshot.
func (s *Storage) Restore(k *raftpb.KeyState) { panic("TODO") }
