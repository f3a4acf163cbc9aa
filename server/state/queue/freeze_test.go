package queue

import (
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
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
