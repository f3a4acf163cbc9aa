package service

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// prepareItems hands the caller's slice on as is when nothing compresses (no copy per
// enqueue), and otherwise copies it, so the caller's items are never changed.
func TestPrepareItemsCopiesOnlyToCompress(t *testing.T) {
	s := &Service{limits: DefaultLimits}
	plain := []*pb.InputItem{{Value: []byte("a")}, {Value: []byte("b")}}
	out, err := s.prepareItems(plain)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0] != &plain[0] {
		t.Fatal("items with nothing to compress were copied")
	}

	value := bytes.Repeat([]byte("x"), 1000)
	mixed := []*pb.InputItem{{Value: []byte("a")}, {Value: value, Compress: true}}
	second := mixed[1]
	out, err = s.prepareItems(mixed)
	if err != nil {
		t.Fatal(err)
	}
	if mixed[1] != second || !bytes.Equal(second.GetValue(), value) {
		t.Fatal("the caller's slice or item was changed")
	}
	if out[0] != mixed[0] || out[1] == second || len(out[1].GetValue()) >= len(value) {
		t.Fatalf("want the first item as is and the second compressed; got %d bytes", len(out[1].GetValue()))
	}
}

// A too large item is refused with its place in the request named.
func TestPrepareItemsNamesTheItem(t *testing.T) {
	s := &Service{limits: DefaultLimits}
	items := []*pb.InputItem{{Value: []byte("a")}, {Value: []byte("b"), Key: make([]byte, s.limits.MaxKeyBytes+1)}}
	_, err := s.prepareItems(items)
	if err == nil || !strings.Contains(err.Msg, "items[1].key is") || !strings.Contains(err.Msg, "--max-key-bytes") {
		t.Fatalf("got %v", err)
	}
}
