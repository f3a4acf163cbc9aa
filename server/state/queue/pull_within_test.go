package queue

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// A pull with a byte budget takes items while they fit, always at least one, and leaves the
// rest waiting (not leased): what it answers is all it activated.
func TestPullWithinStopsAtBudget(t *testing.T) {
	h := newHarness(t, nil)
	big := string(bytes.Repeat([]byte("v"), 1000))
	h.enq(mk(val(big)), mk(val(big), key("g")), mk(val(big), ukey("u")))
	per := uint64(1000 + DeliveryOverhead)

	got := h.q.PullWithin(h.now, 1, 10, 2*per+1) // the third item (1 more byte of key) does not fit
	if len(got) != 2 {
		t.Fatalf("pulled %d items within %d bytes; want 2", len(got), 2*per+1)
	}
	if n := len(h.q.sessions[1].active); n != 2 {
		t.Fatalf("%d items active after the pull; want the 2 answered", n)
	}
	// The first item is taken even when it alone exceeds the budget.
	if got := h.q.PullWithin(h.now, 2, 10, 1); len(got) != 1 {
		t.Fatalf("pulled %d items within 1 byte; want 1 (the first always)", len(got))
	}
	checkInvariants(t, h.q)
}

// A compressed value counts at its uncompressed size (what the answer carries), read from
// the zstd frame header.
func TestPullWithinCountsUncompressedSize(t *testing.T) {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := bytes.Repeat([]byte("a"), 100_000)
	small := enc.EncodeAll(raw, nil)
	if got := UncompressedSize(small); got != uint64(len(raw)) {
		t.Fatalf("UncompressedSize = %d; want %d", got, len(raw))
	}
	h := newHarness(t, nil)
	h.enq(mk(val(string(small)), compressed()), mk(val(string(small)), compressed()))
	if got := h.q.PullWithin(h.now, 1, 10, 150_000); len(got) != 1 {
		t.Fatalf("pulled %d compressed items of %d bytes (%d compressed) within 150000 bytes; want 1", len(got), len(raw), len(small))
	}
}
