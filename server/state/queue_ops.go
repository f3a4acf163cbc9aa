package state

import (
	"slices"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Operator tools on queues: purge and dead-letter redrive (commands), peek and statistics
// (reads), and the bookkeeping they need.
//
// Dead-letter sources: a dead-letter queue is an ordinary queue that may serve several
// source queues, so the state remembers, per dead-letter queue, which queue each item came
// from (deadSources, written when an item is dead-lettered, carried in snapshots as
// QueueItem.dead_letter_source). Entries of items that left the dead-letter queue are
// pruned lazily (ids are never reused, so a stale entry never matches another item).
//
// Counters (enqueued, committed) count what this replica applied since it loaded the
// state (start or snapshot install); they are not part of snapshots, like Prometheus
// counters that reset on restart.

// QueueCounters are a queue's running totals on this replica.
type QueueCounters struct {
	Enqueued, Committed uint64
}

// noteDeadSource records that item id in dead-letter queue dlq came from src.
func (s *State) noteDeadSource(dlq string, id uint64, src string) {
	m := s.deadSources[dlq]
	if m == nil {
		m = map[uint64]string{}
		s.deadSources[dlq] = m
	}
	m[id] = src
	if q := s.queues[dlq]; q != nil && len(m) > 1024 {
		if waiting, active := q.Counts(); len(m) > 2*int(waiting+active) {
			for id := range m {
				if q.Get(id) == nil {
					delete(m, id)
				}
			}
		}
	}
}

// deadSource is the queue item id of dead-letter queue dlq came from ("" when unknown).
func (s *State) deadSource(dlq string, id uint64) string { return s.deadSources[dlq][id] }

// queueCounters returns (creating) the counters of queue name.
func (s *State) queueCounters(name string) *QueueCounters {
	c := s.counts[name]
	if c == nil {
		c = &QueueCounters{}
		s.counts[name] = c
	}
	return c
}

// countEnqueued adds the new (not duplicate) items of an enqueue to the queue's counter.
func (s *State) countEnqueued(name string, dup []bool) {
	n := 0
	for _, d := range dup {
		if !d {
			n++
		}
	}
	s.queueCounters(name).Enqueued += uint64(n)
}

// countCommitted adds the successful commits to the queue's counter.
func (s *State) countCommitted(name string, res PerID) {
	n := 0
	for _, e := range res {
		if e == nil {
			n++
		}
	}
	s.queueCounters(name).Committed += uint64(n)
}

// PurgeResult is the value of TYPE_QUEUE_PURGE: the number of waiting items removed.
type PurgeResult struct{ Count int }

func (s *State) purge(now int64, r *raftpb.QueuePurge) Result {
	q, err := s.queue(r.GetQueue())
	if err != nil {
		return Result{Err: err}
	}
	before := levels(q)
	n := q.Purge()
	// Room under max_size: enqueues waiting for it may proceed.
	s.wakePullers(r.GetQueue(), q, before)
	return Result{Value: &PurgeResult{Count: n}}
}

// RedriveResult is the value of TYPE_QUEUE_REDRIVE.
type RedriveResult struct {
	Moved     int // items moved back into the queue
	Remaining int // items of the queue still in its dead-letter queue (limit or max_size)
}

// redrive moves the waiting items queue dead-lettered from its dead-letter queue back into
// it, by id, up to r.max and the room under its max_size: visible at once, delivery count
// reset to 0, keeping id, value, key, unique key (when free) and priority, with no ttl.
// Items a consumer of the dead-letter queue holds (active) stay there.
func (s *State) redrive(now int64, r *raftpb.QueueRedrive) Result {
	name := r.GetQueue()
	q, err := s.queue(name)
	if err != nil {
		return Result{Err: err}
	}
	dlqName := q.Config().GetDeadLetterQueue()
	if dlqName == "" {
		return Result{Err: apierr.Precondition("queue %q has no dead_letter_queue to redrive from", name)}
	}
	dlq, err := s.queue(dlqName)
	if err != nil {
		return Result{Err: err}
	}
	var ids []uint64
	for id, src := range s.deadSources[dlqName] {
		if src == name && dlq.Waiting(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	limit := len(ids)
	if m := int(r.GetMax()); m > 0 && m < limit {
		limit = m
	}
	if room := q.Room(); room >= 0 && room < limit {
		limit = room
	}
	before, dlqBefore := levels(q), levels(dlq)
	for _, id := range ids[:limit] {
		rec := dlq.Get(id)
		_ = dlq.Delete(now, id)
		delete(s.deadSources[dlqName], id)
		rec.Queue = name
		rec.DeliveryCount = 0
		q.AddDead(now, rec)
		s.markKeyed(name, rec)
	}
	if limit > 0 {
		s.wakePullers(name, q, before)
		s.wakePullers(dlqName, dlq, dlqBefore)
	}
	return Result{Value: &RedriveResult{Moved: limit, Remaining: len(ids) - limit}}
}

// QueueStats is a queue's live statistics (a read).
type QueueStats struct {
	queue.Stats
	DeadLettered int
	Clock        int64
	Counters     QueueCounters
	Paused       bool
	MaxSize      uint32
}

// QueueStats reads queue name's statistics.
func (s *State) QueueStats(name string) (*QueueStats, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, err := s.queue(name)
	if err != nil {
		return nil, err
	}
	st := &QueueStats{Stats: q.Stats(), Clock: s.clock, Paused: q.Paused(), MaxSize: q.Config().GetMaxSize()}
	if c := s.counts[name]; c != nil {
		st.Counters = *c
	}
	if dlqName := q.Config().GetDeadLetterQueue(); dlqName != "" {
		if dlq := s.queues[dlqName]; dlq != nil {
			for id, src := range s.deadSources[dlqName] {
				if src == name && dlq.Get(id) != nil {
					st.DeadLettered++
				}
			}
		}
	}
	return st, nil
}

// PeekQueue returns up to limit waiting items of queue name without leasing them (see
// queue.Queue.Peek), each with the queue it was dead-lettered from when known. Values are
// the stored bytes (compressed when Compressed); they are copies the caller may keep.
func (s *State) PeekQueue(name string, limit int, includeDelayed bool, maxBytes uint64) ([]*raftpb.QueueItem, bool, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, err := s.queue(name)
	if err != nil {
		return nil, false, err
	}
	recs, more := q.Peek(limit, includeDelayed, maxBytes)
	for _, r := range recs {
		r.DeadLetterSource = s.deadSource(name, r.GetId())
		r.Value = slices.Clone(r.Value)
	}
	return recs, more, nil
}
