package kv

// A small in-memory B-tree, ordered by a key extracted from each item. It follows the
// algorithm of github.com/google/btree (preemptive split on the way down when inserting,
// steal-or-merge on the way down when removing) without copy-on-write. It is not safe for
// concurrent use, and it never allocates on lookups: searches take a key of type K, not a
// probe item.

import "sort"

const (
	btreeDegree   = 32
	btreeMaxItems = 2*btreeDegree - 1
	btreeMinItems = btreeDegree - 1
)

// btree holds items of type T ordered by key(item) under cmp. Keys are unique: inserting an
// item whose key is present replaces it.
type btree[T, K any] struct {
	key    func(T) K
	cmp    func(item T, k K) int // <0, 0, >0 as item's key is less than, equal to, greater than k
	root   *bnode[T]
	length int
	free   []*bnode[T] // nodes freed by merges, for reuse by splits
}

// btreeFreeList is how many freed nodes a tree keeps: without it a key deleted and
// inserted again where nodes are at their minimum size merges and splits, allocating each
// time.
const btreeFreeList = 32

type bnode[T any] struct {
	items    []T
	children []*bnode[T] // empty for a leaf, else len(items)+1
}

func newBtree[T, K any](key func(T) K, cmp func(T, K) int) *btree[T, K] {
	return &btree[T, K]{key: key, cmp: cmp}
}

// Len is the number of items.
func (t *btree[T, K]) Len() int { return t.length }

// find returns the index of the first item whose key is >= k, and whether it equals k.
func (t *btree[T, K]) find(items []T, k K) (int, bool) {
	i := sort.Search(len(items), func(i int) bool { return t.cmp(items[i], k) >= 0 })
	return i, i < len(items) && t.cmp(items[i], k) == 0
}

// Get returns the item with key k.
func (t *btree[T, K]) Get(k K) (T, bool) {
	n := t.root
	for n != nil {
		i, found := t.find(n.items, k)
		if found {
			return n.items[i], true
		}
		if len(n.children) == 0 {
			break
		}
		n = n.children[i]
	}
	var zero T
	return zero, false
}

// Min returns the least item.
func (t *btree[T, K]) Min() (T, bool) {
	n := t.root
	if n == nil || len(n.items) == 0 {
		var zero T
		return zero, false
	}
	for len(n.children) > 0 {
		n = n.children[0]
	}
	return n.items[0], true
}

// Insert adds item, replacing an item with the same key. It reports whether it replaced one.
func (t *btree[T, K]) Insert(item T) bool {
	if t.root == nil {
		t.root = t.newNode()
		t.root.items = append(t.root.items, item)
		t.length++
		return false
	}
	if len(t.root.items) >= btreeMaxItems {
		mid, second := t.split(t.root, btreeMaxItems/2)
		old := t.root
		t.root = t.newNode()
		t.root.items = append(t.root.items, mid)
		t.root.children = append(t.root.children, old, second)
	}
	replaced := t.insert(t.root, item, t.key(item))
	if !replaced {
		t.length++
	}
	return replaced
}

func (t *btree[T, K]) newNode() *bnode[T] {
	if k := len(t.free); k > 0 {
		n := t.free[k-1]
		t.free[k-1] = nil
		t.free = t.free[:k-1]
		return n
	}
	return &bnode[T]{items: make([]T, 0, btreeMaxItems)}
}

// freeNode keeps n, emptied, for reuse.
func (t *btree[T, K]) freeNode(n *bnode[T]) {
	if len(t.free) >= btreeFreeList {
		return
	}
	clear(n.items)
	n.items = n.items[:0]
	clear(n.children)
	n.children = n.children[:0]
	t.free = append(t.free, n)
}

// split moves the items after i (and their children) to a new node; it returns item i and
// the new node.
func (t *btree[T, K]) split(n *bnode[T], i int) (T, *bnode[T]) {
	item := n.items[i]
	next := t.newNode()
	next.items = append(next.items, n.items[i+1:]...)
	var zero T
	for j := i; j < len(n.items); j++ {
		n.items[j] = zero // drop references for the garbage collector
	}
	n.items = n.items[:i]
	if len(n.children) > 0 {
		if next.children == nil {
			next.children = make([]*bnode[T], 0, btreeMaxItems+1)
		}
		next.children = append(next.children, n.children[i+1:]...)
		for j := i + 1; j < len(n.children); j++ {
			n.children[j] = nil
		}
		n.children = n.children[:i+1]
	}
	return item, next
}

func (t *btree[T, K]) insert(n *bnode[T], item T, k K) bool {
	for {
		i, found := t.find(n.items, k)
		if found {
			n.items[i] = item
			return true
		}
		if len(n.children) == 0 {
			n.items = insertAt(n.items, i, item)
			return false
		}
		if len(n.children[i].items) >= btreeMaxItems {
			mid, second := t.split(n.children[i], btreeMaxItems/2)
			n.items = insertAt(n.items, i, mid)
			n.children = insertAt(n.children, i+1, second)
			switch c := t.cmp(mid, k); {
			case c < 0:
				i++
			case c == 0:
				n.items[i] = item
				return true
			}
		}
		n = n.children[i]
	}
}

func insertAt[E any](s []E, i int, v E) []E {
	var zero E
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeAt[E any](s []E, i int) ([]E, E) {
	v := s[i]
	copy(s[i:], s[i+1:])
	var zero E
	s[len(s)-1] = zero
	return s[:len(s)-1], v
}

// Delete removes the item with key k and returns it.
func (t *btree[T, K]) Delete(k K) (T, bool) {
	return t.remove(k, removeItem)
}

// DeleteMin removes the least item and returns it.
func (t *btree[T, K]) DeleteMin() (T, bool) {
	var k K
	return t.remove(k, removeMin)
}

type removeKind int8

const (
	removeItem removeKind = iota
	removeMin
	removeMax
)

func (t *btree[T, K]) remove(k K, kind removeKind) (T, bool) {
	if t.root == nil || len(t.root.items) == 0 {
		var zero T
		return zero, false
	}
	out, found := t.removeFrom(t.root, k, kind)
	if len(t.root.items) == 0 && len(t.root.children) > 0 {
		old := t.root
		t.root = t.root.children[0]
		t.freeNode(old)
	}
	if found {
		t.length--
	}
	return out, found
}

func (t *btree[T, K]) removeFrom(n *bnode[T], k K, kind removeKind) (T, bool) {
	for {
		var i int
		var found bool
		switch kind {
		case removeMax:
			if len(n.children) == 0 {
				var v T
				n.items, v = removeAt(n.items, len(n.items)-1)
				return v, true
			}
			i = len(n.items)
		case removeMin:
			if len(n.children) == 0 {
				var v T
				n.items, v = removeAt(n.items, 0)
				return v, true
			}
			i = 0
		default:
			i, found = t.find(n.items, k)
			if len(n.children) == 0 {
				if found {
					var v T
					n.items, v = removeAt(n.items, i)
					return v, true
				}
				var zero T
				return zero, false
			}
		}
		if len(n.children[i].items) <= btreeMinItems {
			t.growChild(n, i)
			continue // the layout of n changed: search it again
		}
		child := n.children[i]
		if found {
			out := n.items[i]
			var zero K
			n.items[i], _ = t.removeFrom(child, zero, removeMax)
			return out, true
		}
		n = child
	}
}

// growChild gives child i of n more than the minimum number of items, by stealing from a
// sibling or merging with one.
func (t *btree[T, K]) growChild(n *bnode[T], i int) {
	switch {
	case i > 0 && len(n.children[i-1].items) > btreeMinItems:
		child, from := n.children[i], n.children[i-1]
		var stolen T
		from.items, stolen = removeAt(from.items, len(from.items)-1)
		child.items = insertAt(child.items, 0, n.items[i-1])
		n.items[i-1] = stolen
		if len(from.children) > 0 {
			var c *bnode[T]
			from.children, c = removeAt(from.children, len(from.children)-1)
			child.children = insertAt(child.children, 0, c)
		}
	case i < len(n.items) && len(n.children[i+1].items) > btreeMinItems:
		child, from := n.children[i], n.children[i+1]
		var stolen T
		from.items, stolen = removeAt(from.items, 0)
		child.items = append(child.items, n.items[i])
		n.items[i] = stolen
		if len(from.children) > 0 {
			var c *bnode[T]
			from.children, c = removeAt(from.children, 0)
			child.children = append(child.children, c)
		}
	default:
		if i >= len(n.items) {
			i--
		}
		child := n.children[i]
		var mid T
		var merged *bnode[T]
		n.items, mid = removeAt(n.items, i)
		n.children, merged = removeAt(n.children, i+1)
		child.items = append(child.items, mid)
		child.items = append(child.items, merged.items...)
		child.children = append(child.children, merged.children...)
		t.freeNode(merged)
	}
}

// Ascend calls fn for every item in order until fn returns false.
func (t *btree[T, K]) Ascend(fn func(T) bool) {
	if t.root != nil {
		ascendAll(t.root, fn)
	}
}

// AscendFrom calls fn, in order, for every item whose key is >= k (> k when !inclusive),
// until fn returns false.
func (t *btree[T, K]) AscendFrom(k K, inclusive bool, fn func(T) bool) {
	if t.root != nil {
		t.ascendFrom(t.root, k, inclusive, fn)
	}
}

func (t *btree[T, K]) ascendFrom(n *bnode[T], k K, inclusive bool, fn func(T) bool) bool {
	i := sort.Search(len(n.items), func(i int) bool {
		c := t.cmp(n.items[i], k)
		return c > 0 || (inclusive && c == 0)
	})
	if len(n.children) > 0 && !t.ascendFrom(n.children[i], k, inclusive, fn) {
		return false
	}
	for ; i < len(n.items); i++ {
		if !fn(n.items[i]) {
			return false
		}
		if len(n.children) > 0 && !ascendAll(n.children[i+1], fn) {
			return false
		}
	}
	return true
}

func ascendAll[T any](n *bnode[T], fn func(T) bool) bool {
	for i, item := range n.items {
		if len(n.children) > 0 && !ascendAll(n.children[i], fn) {
			return false
		}
		if !fn(item) {
			return false
		}
	}
	if len(n.children) > 0 {
		return ascendAll(n.children[len(n.children)-1], fn)
	}
	return true
}
