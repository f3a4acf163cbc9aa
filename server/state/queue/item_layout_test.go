package queue

import (
	"testing"
	"time"
	"unsafe"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// TestItemIs64Bytes: an item fills the 64-byte size class exactly; a field more would put
// every item in the 80-byte class.
func TestItemIs64Bytes(t *testing.T) {
	if n := unsafe.Sizeof(item{}); n > 64 {
		t.Fatalf("an item takes %d bytes, want <= 64", n)
	}
}

// TestPlainItemsHaveNoExtension: a waiting item without ttl, delay or unique key carries
// no itemExt, and one that had them loses it once they are gone.
func TestPlainItemsHaveNoExtension(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{})
	x := h.enq(mk(val("plain")), mk(ttl(60*sec)))
	if it := h.q.lookup(x[0]); it.x != nil {
		t.Fatalf("plain item has %+v", *it.x)
	}
	if it := h.q.lookup(x[1]); it.x == nil || it.x.expiresAt == 0 {
		t.Fatal("item with a ttl has no expiry")
	}
	eqIDs(t, "pulled", h.pull(1, 2), x)
	for _, id := range x {
		if _, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: id}); err != nil {
			t.Fatal(err)
		}
		if it := h.q.lookup(id); it.x != nil {
			t.Fatalf("item %d requeued without ttl keeps %+v", id, *it.x)
		}
	}
	checkInvariants(t, h.q)
}

// TestFrozenViewKeepsRareFields: the fields kept in itemExt (lease end, holder, expiry,
// visible_at, unique key) change after a Freeze without the view seeing it.
func TestFrozenViewKeepsRareFields(t *testing.T) {
	h := newHarness(t, &pb.CreateQueueRequest{})
	h.enq(mk(val("a"), ttl(60*sec), ukey("u")), mk(val("b"), ukey("v")), mk(val("c"), delay(30*sec), ttl(90*sec)))
	act := h.pull(7, 2)
	want := snapshotRecords(t, h.q)
	f := h.q.Freeze()
	h.now += 5 * sec
	if err := h.q.Extend(h.now, act[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.q.Requeue(h.now, &pb.RequeueItem{Id: act[1], Ttl: durationpbSeconds(5), Delay: durationpbSeconds(1)}); err != nil {
		t.Fatal(err)
	}
	h.after(40 * sec) // the delayed item becomes visible, the lease ends
	checkInvariants(t, h.q)
	if got := frozenRecords(t, f); !recordsEqual(got, want) {
		t.Fatalf("the frozen view changed: %v, want %v", got, want)
	}
}
