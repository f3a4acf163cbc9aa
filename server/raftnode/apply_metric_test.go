package raftnode

import (
	"context"
	"fmt"
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
	var m dto.Metric
	if err := applySeconds.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// Every command entry a node applies is one observation of octopusmq_raft_apply_seconds.
func TestApplySecondsCountsAppliedEntries(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, sumBefore := appliesObserved(t)
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
	t.Logf("%d entries applied, %.1f µs each on average", after-before, (sumAfter-sumBefore)/float64(after-before)*1e6)
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
