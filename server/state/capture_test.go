package state

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// TestCaptureEncodesWhileApplying stops a capture's encoding in the middle (its writer
// blocks), applies entries that change every kind of record meanwhile, and checks that
// they were not held up and that the encoding still yields the state as captured.
func TestCaptureEncodesWhileApplying(t *testing.T) {
	s := populate(t)
	value := bytes.Repeat([]byte("v"), 100)
	for i := 0; i < 4; i++ { // enough records for several buffer flushes
		items := make([]*pb.InputItem, 500)
		var cmds []*raftpb.Command
		for j := range items {
			items[j] = &pb.InputItem{Value: value, Priority: uint32(j % 4), Key: []byte(fmt.Sprint("g", j%7))}
			cmds = append(cmds, cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Request: &pb.StorageSetRequest{Key: []byte(fmt.Sprint("key", i, "/", j)), Value: value}}))
		}
		cmds = append(cmds, cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "jobs", Items: items}))
		mustOK(t, apply(t, s, 102, cmds...))
	}
	want, err := s.Snapshot(5)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Capture(5)
	pr, pw := io.Pipe()
	go func() {
		_, err := c.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	first := make([]byte, 16)
	if _, err := io.ReadFull(pr, first); err != nil { // the writer is now blocked mid-file
		t.Fatal(err)
	}

	applied := make(chan struct{})
	var results []Result
	go func() {
		defer close(applied)
		results = append(results, apply(t, s, 103,
			cmd(t, raftpb.Type_TYPE_QUEUE_PULL, &raftpb.QueuePull{Queue: "jobs", Session: 8, Max: 1000}),
			cmd(t, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "jobs", Items: []*pb.InputItem{{Value: []byte("new")}}}),
			cmd(t, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "kv", Request: &pb.StorageSetRequest{Key: []byte("key0/1"), Value: []byte("changed")}}),
			cmd(t, raftpb.Type_TYPE_STORAGE_LOCK, &raftpb.StorageLock{Storage: "kv", Session: 9, Key: []byte("key1/1")}),
			cmd(t, raftpb.Type_TYPE_STORAGE_DELETE, &raftpb.StorageDelete{Storage: "kv", Request: &pb.StorageDeleteRequest{Key: []byte("key2/2")}}),
			cmd(t, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "n1", ClientAddress: "127.0.0.1:5000"}),
			cmd(t, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "later"}),
		)...)
		results = append(results, apply(t, s, 10_000, // every lease, ttl and delay runs out
			cmd(t, raftpb.Type_TYPE_RESIZE_QUEUE, &pb.ResizeQueueRequest{QueueName: "jobs", MaxSize: 100_000}))...)
	}()
	select {
	case <-applied:
	case <-time.After(time.Minute):
		t.Fatal("applies waited for the snapshot being encoded")
	}
	mustOK(t, results)
	if now, err := s.Snapshot(5); err != nil || bytes.Equal(now, want) {
		t.Fatalf("the applies changed nothing (%v)", err)
	}

	rest, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(first, rest...); !bytes.Equal(got, want) {
		t.Fatalf("the capture encoded %d bytes that differ from the %d of the state captured", len(got), len(want))
	}
}

// writeAll writes p to e in one call.
func writeAll(t *testing.T, e *Encoded, p []byte) {
	t.Helper()
	if n, err := e.Write(p); n != len(p) || err != nil {
		t.Fatalf("Write: %d, %v; want %d", n, err, len(p))
	}
}

// TestEncodedChunks writes pieces that straddle the chunk boundary and checks that the
// bytes come back unchanged, whole (Bytes) and streamed (WriteTo), and that the chunks
// are allocated once: what is allocated stays within one chunk of what was written (a
// buffer grown by doubling allocates about twice the content); a small state takes one
// small chunk.
func TestEncodedChunks(t *testing.T) {
	var want []byte
	for i := 0; len(want) < 5*encodedChunk+12345; i++ {
		want = append(want, bytes.Repeat([]byte{byte(i)}, 1+(i*7919)%(96<<10))...)
	}
	write := func() *Encoded {
		e := &Encoded{}
		for p := want; len(p) > 0; {
			k := min(len(p), 1+len(p)%(70<<10))
			writeAll(t, e, p[:k])
			p = p[k:]
		}
		return e
	}
	e := write()
	if e.Len() != int64(len(want)) || !bytes.Equal(e.Bytes(), want) {
		t.Fatalf("Len %d, want %d; bytes equal: %v", e.Len(), len(want), bytes.Equal(e.Bytes(), want))
	}
	var out bytes.Buffer
	if n, err := e.WriteTo(&out); err != nil || n != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("WriteTo: %d, %v; equal: %v", n, err, bytes.Equal(out.Bytes(), want))
	}
	if e := (&Encoded{}); e.Len() != 0 || len(e.Bytes()) != 0 {
		t.Fatal("an empty Encoded is not empty")
	}
	small := &Encoded{}
	writeAll(t, small, []byte("a small state"))
	if len(small.chunks) != 1 || cap(small.chunks[0]) != encodedFirstChunk {
		t.Fatalf("a small state took %d chunks, the first of %d bytes", len(small.chunks), cap(small.chunks[0]))
	}
	for _, c := range e.chunks[:len(e.chunks)-1] {
		if len(c) != cap(c) {
			t.Fatalf("a chunk before the last is not full: %d of %d bytes", len(c), cap(c))
		}
	}
	allocated := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			write()
		}
	}).AllocedBytesPerOp()
	if limit := int64(len(want)) + encodedChunk; allocated > limit {
		t.Fatalf("writing %d bytes allocated %d, more than %d", len(want), allocated, limit)
	}
}

// TestEncodeIsWriteTo checks that a capture encoded in memory is the bytes WriteTo writes.
func TestEncodeIsWriteTo(t *testing.T) {
	s := populate(t)
	c := s.Capture(9)
	var want bytes.Buffer
	if _, err := c.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	e, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Bytes(), want.Bytes()) || e.Len() != int64(want.Len()) {
		t.Fatalf("Encode: %d bytes, WriteTo: %d, or they differ", e.Len(), want.Len())
	}
}
