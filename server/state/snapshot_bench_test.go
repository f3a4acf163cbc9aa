package state

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// bigState has 100,000 queue items and 100,000 keys with 100-byte values.
func bigState(b *testing.B) *State {
	b.Helper()
	s := New(nil)
	mustOK(b, apply(b, s, 1,
		cmd(b, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}),
		cmd(b, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "s"})))
	value := bytes.Repeat([]byte("v"), 100)
	for i := 0; i < 100; i++ {
		items := make([]*pb.InputItem, 1000)
		for j := range items {
			items[j] = &pb.InputItem{Value: value}
		}
		cmds := []*raftpb.Command{cmd(b, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: items})}
		for j := 0; j < 1000; j++ {
			key := []byte{byte(i), byte(j >> 8), byte(j), 'k'}
			cmds = append(cmds, cmd(b, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "s", Request: &pb.StorageSetRequest{Key: key, Value: value}}))
		}
		mustOK(b, apply(b, s, 2, cmds...))
	}
	return s
}

func BenchmarkSnapshotEncode(b *testing.B) {
	s := bigState(b)
	snap, _ := s.Snapshot(1)
	b.SetBytes(int64(len(snap)))
	b.ResetTimer()
	gcs := numGC()
	for range b.N {
		if _, err := s.Capture(1).Encode(); err != nil { // what a backup does
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(numGC()-gcs)/float64(b.N), "gc/op")
}

// BenchmarkSnapshotCheck is the cost of checking an upload (and of the FSM's restore, which
// decodes the same way).
func BenchmarkSnapshotCheck(b *testing.B) {
	snap, _ := bigState(b).Snapshot(1)
	b.SetBytes(int64(len(snap)))
	b.ResetTimer()
	for range b.N {
		if _, err := CheckSnapshot(bytes.NewReader(snap)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotPersist is the encoding of a Raft snapshot (Persist streams it into the
// snapshot store's file; io.Discard here): its allocations per op are the garbage one
// snapshot leaves to the collector while applies go on.
func BenchmarkSnapshotPersist(b *testing.B) {
	s := bigState(b)
	b.ReportAllocs()
	b.ResetTimer()
	gcs := numGC()
	for range b.N {
		if _, err := s.Capture(1).WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(numGC()-gcs)/float64(b.N), "gc/op")
}

// numGC is the number of garbage collections so far.
func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}
