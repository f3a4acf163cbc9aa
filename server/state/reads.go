package state

import (
	"bytes"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// Reads serve from this replica's state. Callers make them linearizable by confirming
// leadership and waiting for the commit index to be applied first (raftnode.Node.ReadBarrier).

// ListQueues describes every queue, ordered by name.
func (s *State) ListQueues() []*pb.ListQueueItem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*pb.ListQueueItem, 0, len(s.queues))
	for _, name := range sortedKeys(s.queues) {
		out = append(out, s.describeQueue(name))
	}
	return out
}

// Queue describes one queue.
func (s *State) Queue(name string) (*pb.ListQueueItem, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.queues[name]; !ok {
		return nil, queueNotFound(name)
	}
	return s.describeQueue(name), nil
}

func (s *State) describeQueue(name string) *pb.ListQueueItem {
	q := s.queues[name]
	cfg := q.Config()
	waiting, active := q.Counts()
	return &pb.ListQueueItem{
		QueueName:       name,
		Priorities:      cfg.GetPriorities(),
		MaxSize:         cfg.GetMaxSize(),
		Count:           waiting + active,
		Active:          active,
		Paused:          q.Paused(),
		Lease:           cfg.GetLease(),
		MaxDeliveries:   cfg.GetMaxDeliveries(),
		DeadLetterQueue: cfg.GetDeadLetterQueue(),
	}
}

// ListStorages describes every storage, ordered by name.
func (s *State) ListStorages() []*pb.ListStorageItem {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*pb.ListStorageItem, 0, len(s.storages))
	for _, name := range sortedKeys(s.storages) {
		count, locked := s.storages[name].Counts()
		out = append(out, &pb.ListStorageItem{StorageName: name, Count: count, Active: locked})
	}
	return out
}

// HasStorage reports whether a storage exists (STORAGE_NOT_FOUND otherwise).
func (s *State) HasStorage(name string) *apierr.Error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, err := s.storage(name)
	return err
}

// HasQueue reports whether a queue exists (QUEUE_NOT_FOUND otherwise).
func (s *State) HasQueue(name string) *apierr.Error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, err := s.queue(name)
	return err
}

// StorageInfo counts a storage's keys and locked keys.
func (s *State) StorageInfo(name string) (count, locked uint32, err *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.storage(name)
	if err != nil {
		return 0, 0, err
	}
	count, locked = st.Counts()
	return count, locked, nil
}

// StorageGet reads a key as of now (the reader's clock: keys past their ttl are absent).
func (s *State) StorageGet(name string, now int64, key []byte) (kv.Entry, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.storage(name)
	if err != nil {
		return kv.Entry{}, err
	}
	return st.Get(s.readTime(now), key)
}

// StorageGetByIDs reads keys by id, in request order, skipping absent ones.
func (s *State) StorageGetByIDs(name string, now int64, ids []uint64) ([]kv.Entry, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.storage(name)
	if err != nil {
		return nil, err
	}
	return st.GetByIDs(s.readTime(now), ids), nil
}

// StorageKeys lists a page of keys after `after` (see kv.Storage.Keys).
func (s *State) StorageKeys(name string, now int64, after, prefix []byte, limit int, activeIncluded bool) ([][]byte, bool, *apierr.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.storage(name)
	if err != nil {
		return nil, false, err
	}
	keys, more := st.Keys(s.readTime(now), after, prefix, limit, activeIncluded)
	// Copy: the keys belong to the state and the caller outlives the lock.
	for i, k := range keys {
		keys[i] = bytes.Clone(k)
	}
	return keys, more, nil
}

// readTime never lets a read see the state earlier than its own clock.
func (s *State) readTime(now int64) int64 {
	if now < s.clock {
		return s.clock
	}
	return now
}

// Sizes counts the queues and the storages.
func (s *State) Sizes() (queues, storages int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.queues), len(s.storages)
}

// MemberAddress is the client address a member advertised ("" when unknown).
func (s *State) MemberAddress(id string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.members[id].GetClientAddress()
}

// MembersKey is the notifier key touched when a member record changes (and, by the Raft
// layer, when the configuration does).
const MembersKey = "members"

// MemberPromote reports whether member id was added as a voter: while it is a non-voter (a
// learner catching up), the leader promotes it.
func (s *State) MemberPromote(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.members[id].GetPromote()
}

// MemberIDs lists the members the state holds a record of, sorted.
func (s *State) MemberIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedKeys(s.members)
}
