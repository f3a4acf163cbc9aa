package state

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// BenchmarkApplyDuringSnapshot applies entries (one enqueue and one key set each) while
// Snapshot encodes a state of 1M waiting 128-byte items (100k under -short), and reports
// the applies' latency while it runs: p50, p999 and max. An op is one whole snapshot.
func BenchmarkApplyDuringSnapshot(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	s := New(nil)
	mustOK(b, apply(b, s, 1,
		cmd(b, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}),
		cmd(b, raftpb.Type_TYPE_CREATE_STORAGE, &pb.CreateStorageRequest{StorageName: "s"})))
	value := bytes.Repeat([]byte("v"), 128)
	for i := 0; i < n/1000; i++ {
		items := make([]*pb.InputItem, 1000)
		for j := range items {
			items[j] = &pb.InputItem{Value: value, Priority: uint32(j % 32)}
		}
		mustOK(b, apply(b, s, 2, cmd(b, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: items})))
	}
	var lat []time.Duration
	var snapNs int64
	applies := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := s.Snapshot(uint64(i))
			snapNs += int64(time.Since(start))
			done <- err
		}()
	wait:
		for k := 0; ; k++ {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break wait
			default:
			}
			e := &raftpb.Entry{TimeUnixNano: 3 * int64(time.Second), Commands: []*raftpb.Command{
				cmd(b, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q", Items: []*pb.InputItem{{Value: value}}}),
				cmd(b, raftpb.Type_TYPE_STORAGE_SET, &raftpb.StorageSet{Storage: "s", Request: &pb.StorageSetRequest{Key: []byte(fmt.Sprint("k", k%1000)), Value: value}}),
			}}
			t0 := time.Now()
			s.Apply(e)
			lat = append(lat, time.Since(t0))
			applies++
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds())
	}
	b.ReportMetric(float64(snapNs)/float64(b.N), "snapshot-ns")
	b.ReportMetric(float64(applies)/float64(b.N), "applies/snapshot")
	b.ReportMetric(q(0.5), "apply-p50-ns")
	b.ReportMetric(q(0.999), "apply-p999-ns")
	b.ReportMetric(q(1), "apply-max-ns")
}
