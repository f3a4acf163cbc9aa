package state

import (
	"bufio"
	"errors"
	"io"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Snapshot serialises the whole state in the snapshot format (snapshot_format.go): the
// meta record, the members, then each queue followed by its items and each storage followed
// by its keys. appliedIndex (the Raft index the state includes) goes into the header. The
// bytes are one consistent point in the log: Capture, then encoding without the lock.
func (s *State) Snapshot(appliedIndex uint64) ([]byte, error) {
	return s.Capture(appliedIndex).Bytes()
}

// Restore replaces the state with a snapshot written by Snapshot (or by a server before
// format version 1: Raft's own snapshots in existing data folders). The snapshot is decoded
// into a fresh state that replaces this one only when the whole file checked out: on an
// error, nothing changed.
func (s *State) Restore(r io.Reader) error {
	fresh, _, err := decodeSnapshot(r, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.clock, s.nextID, s.lastToken = fresh.clock, fresh.nextID, fresh.lastToken
	s.clusterID = fresh.clusterID
	s.queues, s.storages, s.members = fresh.queues, fresh.storages, fresh.members
	s.deadSources, s.counts = fresh.deadSources, fresh.counts
	s.keyed = fresh.keyed
	s.touched, s.lockTouched = nil, nil
	s.mu.Unlock()
	s.notify.TouchAll()
	return nil
}

// CheckSnapshot reads a whole backup (format version 1 only) the way Restore would,
// without touching any state, and describes it. A *SnapshotError says what is wrong with
// the file; other errors come from reading r.
func CheckSnapshot(r io.Reader) (*SnapshotInfo, error) {
	_, info, err := decodeSnapshot(r, false)
	return info, err
}

// Counters returns the state's global counters.
func (s *State) Counters() Counters {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.counters()
}

func (s *State) counters() Counters {
	return Counters{Clock: s.clock, NextID: s.nextID, LastToken: s.lastToken}
}

// decodeSnapshot reads a snapshot into a new state. legacy allows the headerless format of
// servers before format version 1.
func decodeSnapshot(r io.Reader, legacy bool) (*State, *SnapshotInfo, error) {
	sr := &snapshotReader{br: bufio.NewReaderSize(r, 32<<10)}
	info := &SnapshotInfo{}
	first, err := sr.br.Peek(1)
	switch {
	case len(first) == 0 && errors.Is(err, io.EOF):
		return nil, nil, snapErr("empty snapshot: the file has no bytes")
	case len(first) == 0:
		return nil, nil, truncated("header", err)
	case first[0] != snapshotMagic[0] && !legacy:
		return nil, nil, snapErr("not an OctopusMQ snapshot of format version 1: it does not start with the snapshot header (a file written before format version 1, or not a snapshot)")
	case first[0] != snapshotMagic[0]:
		legacy = true
	default:
		legacy = false
		var m [len(snapshotMagic)]byte
		if err := sr.full(m[:], "header"); err != nil {
			return nil, nil, err
		}
		if m != snapshotMagic {
			return nil, nil, snapErr("not an OctopusMQ snapshot: wrong magic bytes %q", m[:])
		}
		if err := sr.readHeader(info); err != nil {
			return nil, nil, err
		}
	}
	d := &decoder{s: New(nil)}
	d.s.clusterID = info.ClusterID
	for {
		rec, done, err := sr.next(legacy, info.Records)
		if err != nil {
			return nil, nil, err
		}
		if done {
			break
		}
		if err := d.record(rec, info.Records); err != nil {
			return nil, nil, err
		}
		info.Records++
		if info.Records == 1 {
			info.metaEnd = sr.off
		}
	}
	if info.Records == 0 {
		return nil, nil, snapErr("empty snapshot: no records (not even the meta record)")
	}
	if !legacy {
		info.recordsEnd = sr.off - 1
		if err := sr.readTrailer(info); err != nil {
			return nil, nil, err
		}
	} else {
		info.Size = sr.off
	}
	if err := d.finish(); err != nil {
		return nil, nil, err
	}
	info.Counters = d.s.counters()
	return d.s, info, nil
}

// decoder builds a state from records, checking that they make a consistent state: the
// meta record first, items and keys inside their queue or storage, no duplicate names,
// ids or keys, ids below next_id and lock tokens up to last_lock_token.
type decoder struct {
	s  *State
	q  *queue.Queue
	st *kv.Storage
}

func (d *decoder) record(rec *raftpb.SnapshotRecord, n uint64) error {
	s := d.s
	if _, ok := rec.Record.(*raftpb.SnapshotRecord_Meta); ok != (n == 0) {
		return snapErr("corrupt snapshot: record %d: the meta record must come first, and once", n+1)
	}
	switch r := rec.Record.(type) {
	case *raftpb.SnapshotRecord_Meta:
		m := r.Meta
		if m.GetNextId() == 0 {
			return snapErr("corrupt snapshot: meta record: next_id is 0")
		}
		s.clock, s.nextID, s.lastToken = m.GetClockUnixNano(), m.GetNextId(), m.GetLastLockToken()
	case *raftpb.SnapshotRecord_Member:
		if r.Member.GetId() == "" {
			return snapErr("corrupt snapshot: record %d: member without an id", n+1)
		}
		s.members[r.Member.GetId()] = r.Member
	case *raftpb.SnapshotRecord_Queue:
		name := r.Queue.GetConfig().GetQueueName()
		if name == "" {
			return snapErr("corrupt snapshot: record %d: queue without a name", n+1)
		}
		if _, dup := s.queues[name]; dup {
			return snapErr("corrupt snapshot: record %d: queue %q appears twice", n+1, name)
		}
		d.q = queue.New(r.Queue.GetConfig())
		d.q.SetPaused(r.Queue.GetPaused())
		s.queues[name] = d.q
	case *raftpb.SnapshotRecord_Item:
		it := r.Item
		switch {
		case d.q == nil || d.q.Config().GetQueueName() != it.GetQueue():
			return snapErr("corrupt snapshot: record %d: item %d of queue %q outside its queue", n+1, it.GetId(), it.GetQueue())
		case it.GetId() == 0 || it.GetId() >= s.nextID:
			return snapErr("corrupt snapshot: record %d: item id %d is not below next_id %d", n+1, it.GetId(), s.nextID)
		case d.q.Get(it.GetId()) != nil:
			return snapErr("corrupt snapshot: record %d: item %d appears twice", n+1, it.GetId())
		case it.GetPriority() >= d.q.Config().GetPriorities():
			return snapErr("corrupt snapshot: record %d: item %d has priority %d, queue %q has %d", n+1, it.GetId(), it.GetPriority(), it.GetQueue(), d.q.Config().GetPriorities())
		}
		d.q.Restore(it)
		if len(it.GetKey()) > 0 {
			s.keyed[it.GetQueue()] = true
		}
		if src := it.GetDeadLetterSource(); src != "" {
			s.noteDeadSource(it.GetQueue(), it.GetId(), src)
		}
	case *raftpb.SnapshotRecord_Storage:
		name := r.Storage.GetName()
		if name == "" {
			return snapErr("corrupt snapshot: record %d: storage without a name", n+1)
		}
		if _, dup := s.storages[name]; dup {
			return snapErr("corrupt snapshot: record %d: storage %q appears twice", n+1, name)
		}
		d.st = kv.New(name)
		s.storages[name] = d.st
	case *raftpb.SnapshotRecord_Key:
		k := r.Key
		switch {
		case d.st == nil || d.st.Name() != k.GetStorage():
			return snapErr("corrupt snapshot: record %d: key %d of storage %q outside its storage", n+1, k.GetId(), k.GetStorage())
		case k.GetId() == 0 || k.GetId() >= s.nextID:
			return snapErr("corrupt snapshot: record %d: key id %d is not below next_id %d", n+1, k.GetId(), s.nextID)
		case len(k.GetKey()) == 0:
			return snapErr("corrupt snapshot: record %d: key %d is empty", n+1, k.GetId())
		case k.GetLocked() && (k.GetLockToken() == 0 || k.GetLockToken() > s.lastToken):
			return snapErr("corrupt snapshot: record %d: key %d has lock token %d, last_lock_token is %d", n+1, k.GetId(), k.GetLockToken(), s.lastToken)
		}
		before, _ := d.st.Counts()
		d.st.Restore(k)
		if after, _ := d.st.Counts(); after != before+1 {
			return snapErr("corrupt snapshot: record %d: key %d (or its key bytes) appears twice", n+1, k.GetId())
		}
	default:
		return snapErr("corrupt snapshot: record %d is of a type this server does not know", n+1)
	}
	return nil
}

// finish checks what single records cannot: every dead-letter queue exists.
func (d *decoder) finish() error {
	for _, name := range sortedKeys(d.s.queues) {
		if dlq := d.s.queues[name].Config().GetDeadLetterQueue(); dlq != "" {
			if _, ok := d.s.queues[dlq]; !ok {
				return snapErr("corrupt snapshot: queue %q has dead_letter_queue %q, which is not in the snapshot", name, dlq)
			}
		}
	}
	return nil
}
