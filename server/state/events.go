package state

import (
	"sync/atomic"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// Events counts what applying the log did on this replica since it started (replayed
// entries included), for metrics: counts only, never read back into the state, so the state
// stays deterministic. Read them with Events.
type Events struct {
	// Redelivered: items pulled that had been delivered before (delivery_count > 0).
	Redelivered uint64
	// Expired: items removed because their ttl passed (dead-lettered or dropped).
	Expired uint64
	// DeadLettered: items moved to a dead-letter queue (max deliveries or ttl).
	DeadLettered uint64
	// DeadDropped: dead items (max deliveries or ttl) dropped: no dead-letter queue.
	DeadDropped uint64
	// LocksGranted: key locks granted (lock_key, lock_any).
	LocksGranted uint64
}

type eventCounters struct {
	redelivered, expired, deadLettered, deadDropped, locksGranted atomic.Uint64
}

// Events returns the event counts so far; safe to call concurrently with Apply.
func (s *State) Events() Events {
	e := &s.events
	return Events{
		Redelivered: e.redelivered.Load(), Expired: e.expired.Load(), DeadLettered: e.deadLettered.Load(),
		DeadDropped: e.deadDropped.Load(), LocksGranted: e.locksGranted.Load(),
	}
}

// countDead counts dead items by cause (ttl) and fate (dead-lettered or dropped).
func (e *eventCounters) countDead(now int64, it *raftpb.QueueItem, dlq bool) {
	if x := it.GetExpiresAt(); x != 0 && x <= now {
		e.expired.Add(1)
	}
	if dlq {
		e.deadLettered.Add(1)
	} else {
		e.deadDropped.Add(1)
	}
}
