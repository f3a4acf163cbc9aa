package state

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Snapshot serialises the whole state as length-delimited SnapshotRecords: the meta record,
// the members, then each queue followed by its items and each storage followed by its keys.
// It holds the read lock while encoding, so the bytes are one consistent point in the log.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var buf bytes.Buffer
	put := func(r *raftpb.SnapshotRecord) error {
		_, err := protodelim.MarshalTo(&buf, r)
		return err
	}
	if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Meta{Meta: &raftpb.SnapshotMeta{
		ClockUnixNano: s.clock, NextId: s.nextID, LastLockToken: s.lastToken,
	}}}); err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(s.members) {
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Member{Member: s.members[id]}}); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(s.queues) {
		q := s.queues[name]
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Queue{Queue: &raftpb.QueueState{Config: q.Config(), Paused: q.Paused()}}}); err != nil {
			return nil, err
		}
		if err := q.Snapshot(func(it *raftpb.QueueItem) error {
			return put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Item{Item: it}})
		}); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(s.storages) {
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Storage{Storage: &raftpb.StorageState{Name: name}}}); err != nil {
			return nil, err
		}
		if err := s.storages[name].Snapshot(func(k *raftpb.KeyState) error {
			return put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Key{Key: k}})
		}); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// Restore replaces the state with a snapshot written by Snapshot.
func (s *State) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		s.notify.TouchAll()
	}()
	s.reset()
	var q *queue.Queue
	var st *kv.Storage
	for {
		rec := &raftpb.SnapshotRecord{}
		err := protodelim.UnmarshalOptions{MaxSize: MaxRecordBytes}.UnmarshalFrom(br, rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("snapshot record: %w", err)
		}
		switch r := rec.Record.(type) {
		case *raftpb.SnapshotRecord_Meta:
			s.clock, s.nextID, s.lastToken = r.Meta.GetClockUnixNano(), r.Meta.GetNextId(), r.Meta.GetLastLockToken()
		case *raftpb.SnapshotRecord_Member:
			s.members[r.Member.GetId()] = r.Member
		case *raftpb.SnapshotRecord_Queue:
			q = queue.New(r.Queue.GetConfig())
			q.SetPaused(r.Queue.GetPaused())
			s.queues[r.Queue.GetConfig().GetQueueName()] = q
		case *raftpb.SnapshotRecord_Item:
			if q == nil || q.Config().GetQueueName() != r.Item.GetQueue() {
				return fmt.Errorf("snapshot item %d of queue %q outside its queue", r.Item.GetId(), r.Item.GetQueue())
			}
			q.Restore(r.Item)
		case *raftpb.SnapshotRecord_Storage:
			st = kv.New(r.Storage.GetName())
			s.storages[r.Storage.GetName()] = st
		case *raftpb.SnapshotRecord_Key:
			if st == nil || s.storages[r.Key.GetStorage()] != st {
				return fmt.Errorf("snapshot key %d of storage %q outside its storage", r.Key.GetId(), r.Key.GetStorage())
			}
			st.Restore(r.Key)
		default:
			return fmt.Errorf("unknown snapshot record %T", rec.Record)
		}
	}
}

// CheckSnapshot verifies that data decodes as a snapshot (without touching the state).
func (s *State) CheckSnapshot(data []byte) error {
	return New(nil).Restore(bytes.NewReader(data))
}
