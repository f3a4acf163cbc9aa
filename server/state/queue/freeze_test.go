package queue

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// TestFrozenViewSurvivesPurge: purging drops every waiting item, each of which a frozen
// view still reads.
func TestFrozenViewSurvivesPurge(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 4})
	h.enq(mk(val("a"), key("g")), mk(val("b"), ttl(60*sec)), mk(val("c"), delay(60*sec)), mk(val("d"), ukey("u"), prio(3)))
	if got := h.q.Pull(h.now, 1, 1); len(got) != 1 {
		t.Fatalf("pulled %d", len(got))
	}
	want := snapshotRecords(t, h.q)
	f := h.q.Freeze()
	if n := h.q.Purge(); n != 3 {
		t.Fatalf("purged %d, want the 3 waiting", n)
	}
	checkInvariants(t, h.q)
	if got := frozenRecords(t, f); !recordsEqual(got, want) {
		t.Fatalf("the frozen view changed: %v, want %v", got, want)
	}
	if w, a := h.q.Counts(); w != 0 || a != 1 {
		t.Fatalf("counts %d/%d after purge", w, a)
	}
}

// TestEachRecordIsSnapshot: the encoders' reusing walk yields the records Snapshot does,
// and setting a field of one (as the state's encoder sets dead_letter_source) does not
// leak into the next.
func TestEachRecordIsSnapshot(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{Priorities: 4})
	h.enq(mk(val("a"), key("g")), mk(val("b"), ttl(60*sec)), mk(val("c"), delay(60*sec)), mk(val("d"), ukey("u"), prio(3)), mk(key("g"), ukey("w")))
	h.pull(3, 2)
	want := snapshotRecords(t, h.q)
	var got []*raftpb.QueueItem
	if err := h.q.Freeze().EachRecord(func(r *raftpb.QueueItem) error {
		if r.DeadLetterSource != "" {
			t.Errorf("item %d: a field set on the previous record is still set", r.Id)
		}
		got = append(got, proto.Clone(r).(*raftpb.QueueItem))
		r.DeadLetterSource = "src"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !recordsEqual(got, want) {
		t.Fatalf("EachRecord %v, Snapshot %v", got, want)
	}
}
