package kv

import (
	"testing"
	"unsafe"
)

// TestEntryIs64Bytes: an entry fills the 64-byte size class; a field more would put every
// key in the 80-byte class.
func TestEntryIs64Bytes(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 64 {
		t.Fatalf("an entry takes %d bytes, want <= 64", n)
	}
}

// TestEntryKeepsNilAndEmpty: a key or value read back is nil exactly when it was set nil.
func TestEntryKeepsNilAndEmpty(t *testing.T) {
	var e entry
	e.setKey([]byte{})
	e.setValue(nil)
	if k := e.k(); k == nil || len(k) != 0 {
		t.Fatalf("empty key read back as %#v", k)
	}
	if v := e.v(); v != nil {
		t.Fatalf("nil value read back as %#v", v)
	}
	e.setValue([]byte("abc"))
	if v := e.v(); string(v) != "abc" || cap(v) != 3 {
		t.Fatalf("value read back as %q (cap %d)", v, cap(v))
	}
}
