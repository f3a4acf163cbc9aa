package raftnode

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

func appliesObserved(t *testing.T) (count uint64, sum float64) {
	t.Helper()
	h := applyHistogram(t)
	return h.GetSampleCount(), h.GetSampleSum()
}

func applyHistogram(t *testing.T) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := applySeconds.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

// medianBucket is the upper bound of the bucket holding the median of the observations
// made between two reads of the histogram.
func medianBucket(before, after *dto.Histogram) float64 {
	n := after.GetSampleCount() - before.GetSampleCount()
	for i, b := range after.GetBucket() {
		if 2*(b.GetCumulativeCount()-before.GetBucket()[i].GetCumulativeCount()) >= n {
			return b.GetUpperBound()
		}
	}
	return math.Inf(1)
}

// The apply histogram resolves what a typical entry takes, a few µs: its buckets start at
// 1 µs and are at most 2.2 times apart up to 1 s.
func TestApplySecondsBucketsResolveMicroseconds(t *testing.T) {
	bs := applyHistogram(t).GetBucket()
	if len(bs) == 0 || bs[0].GetUpperBound() > 1e-6 || bs[len(bs)-1].GetUpperBound() < 1 {
		t.Fatalf("apply buckets %v, want 1 µs to 1 s", applyBuckets)
	}
	for i := 1; i < len(bs); i++ {
		if r := bs[i].GetUpperBound() / bs[i-1].GetUpperBound(); r > 2.2 {
			t.Fatalf("apply buckets %v: %v after %v, want at most 2.2 times apart", applyBuckets, bs[i].GetUpperBound(), bs[i-1].GetUpperBound())
		}
	}
}

// Every command entry a node applies is one observation of octopusmq_raft_apply_seconds.
func TestApplySecondsCountsAppliedEntries(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hBefore := applyHistogram(t)
	before, sumBefore := hBefore.GetSampleCount(), hBefore.GetSampleSum()
	const entries = 20 // one caller at a time: each command is an entry of its own
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "q"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < entries; i++ {
		res, err := n.Propose(ctx, raftpb.Type_TYPE_QUEUE_ENQUEUE, &raftpb.QueueEnqueue{Queue: "q",
			Items: []*pb.InputItem{{Value: []byte(fmt.Sprint(i))}}})
		if err != nil || res.Err != nil {
			t.Fatalf("enqueue %d: %v %v", i, err, res.Err)
		}
	}
	after, sumAfter := appliesObserved(t)
	if after-before < entries {
		t.Fatalf("apply observations grew by %d over %d proposed entries, want at least %d", after-before, entries, entries)
	}
	if sumAfter <= sumBefore {
		t.Fatalf("apply seconds' sum did not grow (%v to %v)", sumBefore, sumAfter)
	}
	// Entries of one small enqueue take a few µs (more on a loaded box): their median is
	// resolved, not in the first bucket (which once ended at 10 µs, above all of them).
	median := medianBucket(hBefore, applyHistogram(t))
	t.Logf("%d entries applied, %.1f µs each on average, median at most %.2f µs", after-before, (sumAfter-sumBefore)/float64(after-before)*1e6, median*1e6)
	if median <= applyBuckets[0] {
		t.Fatalf("the median apply of an entry is in the first bucket (up to %v s): the buckets do not resolve it", applyBuckets[0])
	}
}

// The histogram observes command entries only: a configuration entry, a no-op and a
// corrupt entry in the same batch are not applies of commands.
func TestApplySecondsObservesCommandEntriesOnly(t *testing.T) {
	f := newFSM(state.New(nil), "n1", newTestLogClock(&manualClock{wall: t0, mono: time.Hour}))
	tick, err := state.NewCommand(raftpb.Type_TYPE_TICK, &raftpb.Tick{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(&raftpb.Entry{TimeUnixNano: t0, Commands: []*raftpb.Command{tick}})
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "a", Suffrage: raft.Voter}}})
	logs := []*raft.Log{
		{Index: 1, Type: raft.LogConfiguration, Data: conf},
		{Index: 2, Type: raft.LogNoop},
		{Index: 3, Type: raft.LogCommand, Data: data},
		{Index: 4, Type: raft.LogCommand, Data: []byte{0xff}}, // corrupt
		{Index: 5, Type: raft.LogCommand, Data: data},
	}
	before, _ := appliesObserved(t)
	out := f.ApplyBatch(logs)
	if _, corrupt := out[3].(error); !corrupt {
		t.Fatalf("corrupt entry answered %v, want an error", out[3])
	}
	if got, _ := appliesObserved(t); got-before != 2 {
		t.Fatalf("apply observations for a batch of 2 command entries: %d, want 2", got-before)
	}
}

// Timing an entry's apply allocates nothing.
func TestObserveApplyAllocatesNothing(t *testing.T) {
	if a := testing.AllocsPerRun(1000, func() { observeApply(time.Now()) }); a != 0 {
		t.Fatalf("observeApply allocates %v times per call", a)
	}
}
