package state

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"runtime"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// Capture is the whole state as of one point in the log, ready to be encoded while the
// state moves on: taking it costs O(queues + storages + members) under the lock (the
// queues' and storages' B-trees are cloned lazily, copy-on-write), and encoding it
// (WriteTo, Bytes) takes no lock at all. Raft's FSM snapshot is one: applies go on while
// it is persisted.
type Capture struct {
	appliedIndex uint64
	clusterID    string
	counters     Counters
	members      []*raftpb.SetMemberInfo // by id
	queues       []*queue.Frozen         // by name
	deadSources  []map[uint64]string     // per queue: item id → the queue that dead-lettered it
	storages     []*kv.Frozen            // by name
}

// Capture takes the state as of now, which includes the log up to appliedIndex.
func (s *State) Capture(appliedIndex uint64) *Capture {
	s.mu.Lock() // Freeze marks items and keys as shared: a change, however small
	defer s.mu.Unlock()
	c := &Capture{appliedIndex: appliedIndex, clusterID: s.clusterID, counters: s.counters()}
	for _, id := range sortedKeys(s.members) {
		c.members = append(c.members, proto.Clone(s.members[id]).(*raftpb.SetMemberInfo))
	}
	for _, name := range sortedKeys(s.queues) {
		c.queues = append(c.queues, s.queues[name].Freeze())
		c.deadSources = append(c.deadSources, maps.Clone(s.deadSources[name])) // O(dead-lettered items waiting)
	}
	for _, name := range sortedKeys(s.storages) {
		c.storages = append(c.storages, s.storages[name].Freeze())
	}
	return c
}

// AppliedIndex is the Raft index the capture includes.
func (c *Capture) AppliedIndex() uint64 { return c.appliedIndex }

// WriteTo writes the capture in the snapshot format (snapshot_format.go): the meta record,
// the members, then each queue followed by its items and each storage followed by its
// keys.
func (c *Capture) WriteTo(w io.Writer) (int64, error) {
	sw := newSnapshotWriter(w, c.appliedIndex, c.clusterID)
	put := sw.put
	if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Meta{Meta: c.counters.meta()}}); err != nil {
		return sw.n, err
	}
	for _, m := range c.members {
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Member{Member: m}}); err != nil {
			return sw.n, err
		}
	}
	for i, q := range c.queues {
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Queue{Queue: &raftpb.QueueState{Config: q.Config(), Paused: q.Paused()}}}); err != nil {
			return sw.n, err
		}
		// One record reused for every item (EachRecord refills one item record too).
		rec := &raftpb.SnapshotRecord_Item{}
		wrap := &raftpb.SnapshotRecord{Record: rec}
		if err := q.EachRecord(func(it *raftpb.QueueItem) error {
			it.DeadLetterSource = c.deadSources[i][it.GetId()]
			rec.Item = it
			return put(wrap)
		}); err != nil {
			return sw.n, err
		}
	}
	for _, st := range c.storages {
		if err := put(&raftpb.SnapshotRecord{Record: &raftpb.SnapshotRecord_Storage{Storage: &raftpb.StorageState{Name: st.Name()}}}); err != nil {
			return sw.n, err
		}
		rec := &raftpb.SnapshotRecord_Key{}
		wrap := &raftpb.SnapshotRecord{Record: rec}
		if err := st.Snapshot(func(k *raftpb.KeyState) error {
			rec.Key = k
			return put(wrap)
		}); err != nil {
			return sw.n, err
		}
	}
	return sw.n, sw.finish()
}

// Bytes is the capture encoded (WriteTo) in one slice.
func (c *Capture) Bytes() ([]byte, error) {
	e, err := c.Encode()
	if err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}

// Encode is the capture encoded (WriteTo) in memory, in chunks (see Encoded).
func (c *Capture) Encode() (*Encoded, error) {
	e := &Encoded{}
	if _, err := c.WriteTo(e); err != nil {
		return nil, err
	}
	return e, nil
}

// encodedChunk is the size of an Encoded's chunks once it holds 1 MiB (the first ones
// are smaller, from 64 KiB, each the size of what came before: a small state costs
// no MiB).
const (
	encodedChunk      = 1 << 20
	encodedFirstChunk = 64 << 10
)

// Encoded is an encoded snapshot held in memory as a list of chunks of up to 1 MiB. One growing
// slice (bytes.Buffer) copies everything written so far at each doubling, in one
// allocation and one copy of up to the whole snapshot: at 500k items a copy of tens of MB
// that the scheduler cannot preempt, and about twice the snapshot again in garbage for a
// collection that then runs while applies go on. A leader stalled 1.6 s in it (its
// heartbeats stopped and it lost the leadership). Chunks are allocated once each and
// never copied.
type Encoded struct {
	chunks [][]byte
	n      int64
}

// Write appends p.
func (e *Encoded) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(e.chunks) == 0 || len(e.chunks[len(e.chunks)-1]) == cap(e.chunks[len(e.chunks)-1]) {
			held := e.n + int64(n-len(p))
			e.chunks = append(e.chunks, make([]byte, 0, min(max(held, encodedFirstChunk), encodedChunk)))
		}
		last := &e.chunks[len(e.chunks)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	e.n += int64(n)
	return n, nil
}

// Len is the number of bytes written.
func (e *Encoded) Len() int64 { return e.n }

// WriteTo writes the bytes to w, a chunk at a time.
func (e *Encoded) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, c := range e.chunks {
		k, err := w.Write(c)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Bytes returns the bytes in one slice (a copy).
func (e *Encoded) Bytes() []byte {
	return bytes.Join(e.chunks, nil)
}

// snapshotWriter writes the format to w: header, records, end marker and trailer. It
// reuses one buffer for every record.
type snapshotWriter struct {
	bw    *bufio.Writer
	crc   uint32
	count uint64
	n     int64 // bytes written
	rec   []byte
	err   error
}

func newSnapshotWriter(w io.Writer, appliedIndex uint64, clusterID string) *snapshotWriter {
	sw := &snapshotWriter{bw: bufio.NewWriterSize(w, 64<<10)}
	sw.write(encodeHeader(appliedIndex, clusterID))
	return sw
}

// write writes p and adds it to the checksum; after an error it does nothing.
func (w *snapshotWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, castagnoli, p)
	n, err := w.bw.Write(p)
	w.n += int64(n)
	w.err = err
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// sizedDeterministic marshals a record whose size put has just computed (and cached).
var sizedDeterministic = proto.MarshalOptions{Deterministic: true, UseCachedSize: true}

// yieldEvery is how many records the encoder writes between yields of its processor
// (runtime.Gosched): the encoding of a large state is long CPU work beside the applies,
// and on a box with few cores a goroutine queued behind it (an apply, a network read)
// would otherwise wait for the scheduler's preemption (about 10 ms).
const yieldEvery = 256

func (w *snapshotWriter) put(r *raftpb.SnapshotRecord) error {
	if w.err != nil {
		return w.err
	}
	size := deterministic.Size(r)
	if size == 0 || size > MaxRecordBytes {
		return fmt.Errorf("snapshot record of %d bytes", size)
	}
	b := protowire.AppendVarint(w.rec[:0], uint64(size))
	b, err := sizedDeterministic.MarshalAppend(b, r)
	if err != nil {
		return err
	}
	w.rec = b
	if cap(w.rec) > 1<<20 { // do not keep a big record's buffer
		w.rec = nil
	}
	w.write(b)
	if w.count++; w.count%yieldEvery == 0 {
		runtime.Gosched()
	}
	return w.err
}

// finish writes the end marker and trailer and flushes.
func (w *snapshotWriter) finish() error {
	w.write([]byte{0})
	t := encodeTrailer(w.count, w.crc)
	if w.err == nil {
		n, err := w.bw.Write(t)
		w.n += int64(n)
		w.err = err
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}
