package kv

import (
	"cmp"
	"math/rand"
	"slices"
	"testing"
)

func intTree() *btree[int, int] {
	return newBtree(func(i int) int { return i }, func(a, b int) int { return cmp.Compare(a, b) })
}

// checkTree verifies the B-tree invariants: node sizes, order, uniform leaf depth, length.
func checkTree(t *testing.T, tr *btree[int, int]) {
	t.Helper()
	if tr.root == nil {
		if tr.length != 0 {
			t.Fatalf("nil root with length %d", tr.length)
		}
		return
	}
	leafDepth := -1
	count := 0
	var walk func(n *bnode[int], depth int, lo, hi *int)
	walk = func(n *bnode[int], depth int, lo, hi *int) {
		if n != tr.root && (len(n.items) < btreeMinItems || len(n.items) > btreeMaxItems) {
			t.Fatalf("node with %d items", len(n.items))
		}
		for i, v := range n.items {
			if (lo != nil && v <= *lo) || (hi != nil && v >= *hi) || (i > 0 && n.items[i-1] >= v) {
				t.Fatalf("order broken at %d", v)
			}
		}
		count += len(n.items)
		if len(n.children) == 0 {
			if leafDepth == -1 {
				leafDepth = depth
			} else if leafDepth != depth {
				t.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
			return
		}
		if len(n.children) != len(n.items)+1 {
			t.Fatalf("%d items, %d children", len(n.items), len(n.children))
		}
		for i, c := range n.children {
			clo, chi := lo, hi
			if i > 0 {
				clo = &n.items[i-1]
			}
			if i < len(n.items) {
				chi = &n.items[i]
			}
			walk(c, depth+1, clo, chi)
		}
	}
	walk(tr.root, 0, nil, nil)
	if count != tr.length || count != tr.Len() {
		t.Fatalf("counted %d items, length %d", count, tr.length)
	}
}

func TestBtreeRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tr := intTree()
	model := map[int]bool{}
	sorted := func() []int {
		var out []int
		for k := range model {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for step := 0; step < 60000; step++ {
		k := rng.Intn(3000)
		switch op := rng.Intn(10); {
		case op < 5:
			if got := tr.Insert(k); got != model[k] {
				t.Fatalf("Insert(%d) replaced=%v, want %v", k, got, model[k])
			}
			model[k] = true
		case op < 8:
			v, ok := tr.Delete(k)
			if ok != model[k] || (ok && v != k) {
				t.Fatalf("Delete(%d) = %d,%v want %v", k, v, ok, model[k])
			}
			delete(model, k)
		case op < 9:
			v, ok := tr.DeleteMin()
			s := sorted()
			if ok != (len(s) > 0) || (ok && v != s[0]) {
				t.Fatalf("DeleteMin = %d,%v want %v", v, ok, s)
			}
			if ok {
				delete(model, v)
			}
		default:
			if v, ok := tr.Get(k); ok != model[k] || (ok && v != k) {
				t.Fatalf("Get(%d) = %d,%v", k, v, ok)
			}
		}
		if step%1000 == 0 {
			checkTree(t, tr)
			s := sorted()
			var got []int
			tr.Ascend(func(v int) bool { got = append(got, v); return true })
			if !slices.Equal(got, s) {
				t.Fatalf("Ascend mismatch: %d vs %d items", len(got), len(s))
			}
			if m, ok := tr.Min(); ok != (len(s) > 0) || (ok && m != s[0]) {
				t.Fatalf("Min = %d", m)
			}
			for _, incl := range []bool{true, false} {
				from := rng.Intn(3100) - 50
				limit := rng.Intn(200)
				var got []int
				tr.AscendFrom(from, incl, func(v int) bool {
					if len(got) == limit {
						return false
					}
					got = append(got, v)
					return true
				})
				var want []int
				for _, v := range s {
					if (v > from || (incl && v == from)) && len(want) < limit {
						want = append(want, v)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("AscendFrom(%d,%v) limit %d = %v want %v", from, incl, limit, got, want)
				}
			}
		}
	}
	// Drain completely, in a random order.
	keys := sorted()
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		if _, ok := tr.Delete(k); !ok {
			t.Fatalf("Delete(%d) missed", k)
		}
	}
	checkTree(t, tr)
	if tr.Len() != 0 {
		t.Fatalf("Len %d after draining", tr.Len())
	}
	if _, ok := tr.Min(); ok {
		t.Fatal("Min on empty tree")
	}
	if _, ok := tr.DeleteMin(); ok {
		t.Fatal("DeleteMin on empty tree")
	}
}

func TestBtreeSequential(t *testing.T) {
	tr := intTree()
	for i := 0; i < 100000; i++ {
		tr.Insert(i)
	}
	checkTree(t, tr)
	for i := 0; i < 100000; i += 2 {
		tr.Delete(i)
	}
	checkTree(t, tr)
	for i := 1; i < 100000; i += 2 {
		if v, ok := tr.DeleteMin(); !ok || v != i {
			t.Fatalf("DeleteMin = %d,%v want %d", v, ok, i)
		}
	}
	checkTree(t, tr)
}
