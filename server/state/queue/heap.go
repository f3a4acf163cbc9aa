package queue

import "container/heap"

// Indexed binary heaps. Every ordering used here is total (ties broken by id), so what
// the heaps yield depends only on their contents, never on the order of past operations:
// two replicas (or a queue and its restored snapshot) with the same items pull the same.

// heapKind selects an itemHeap's order.
type heapKind uint8

const (
	byReady heapKind = iota // priority desc, id asc; position in item.pos
	byDue                   // due asc, id asc; position in item.pos
)

// readyLess is the delivery order: higher priority first, then lower id.
func readyLess(a, b *item) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return a.id < b.id
}

// itemHeap is a min-heap of items that keeps each item's position up to date, so any
// item can be removed or re-ordered in O(log n).
type itemHeap struct {
	s    []*item
	kind heapKind
}

func (h *itemHeap) len() int { return len(h.s) }

// min is the first item, nil when empty.
func (h *itemHeap) min() *item {
	if len(h.s) == 0 {
		return nil
	}
	return h.s[0]
}

func (h *itemHeap) less(i, j int) bool {
	a, b := h.s[i], h.s[j]
	switch h.kind {
	case byReady:
		return readyLess(a, b)
	default:
		if ad, bd := a.due(), b.due(); ad != bd {
			return ad < bd
		}
	}
	return a.id < b.id
}

func (h *itemHeap) setPos(i int) { h.s[i].pos = int32(i) }

func (h *itemHeap) posOf(it *item) int { return int(it.pos) }

func (h *itemHeap) clearPos(it *item) { it.pos = -1 }

// Len, Less, Swap, Push and Pop implement container/heap.Interface; the methods below
// them are what the engine calls.

func (h *itemHeap) Len() int           { return len(h.s) }
func (h *itemHeap) Less(i, j int) bool { return h.less(i, j) }

func (h *itemHeap) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.setPos(i)
	h.setPos(j)
}

func (h *itemHeap) Push(x any) {
	h.s = append(h.s, x.(*item))
	h.setPos(len(h.s) - 1)
}

func (h *itemHeap) Pop() any {
	n := len(h.s) - 1
	it := h.s[n]
	h.s[n] = nil
	h.s = h.s[:n]
	h.clearPos(it)
	return it
}

func (h *itemHeap) push(it *item) { heap.Push(h, it) }

// remove takes it (which must be in h) out of h.
func (h *itemHeap) remove(it *item) {
	heap.Remove(h, h.posOf(it))
	h.s = shrink(h.s)
}

// fix restores the order after it's key changed.
func (h *itemHeap) fix(it *item) { heap.Fix(h, h.posOf(it)) }

// shrink gives back the memory of a heap slice that emptied a lot (amortised O(1)).
func shrink[T any](s []T) []T {
	if c := cap(s); c > 64 && len(s) < c/4 {
		if len(s) == 0 {
			return nil
		}
		out := make([]T, len(s), c/2)
		copy(out, s)
		return out
	}
	return s
}

// groupHeap orders groups that have visible items by their best visible item.
type groupHeap struct{ s []*group }

func (h *groupHeap) len() int { return len(h.s) }

func (h *groupHeap) Len() int           { return len(h.s) }
func (h *groupHeap) Less(i, j int) bool { return readyLess(h.s[i].ready.s[0], h.s[j].ready.s[0]) }

func (h *groupHeap) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].pos = int32(i)
	h.s[j].pos = int32(j)
}

func (h *groupHeap) Push(x any) {
	g := x.(*group)
	g.pos = int32(len(h.s))
	h.s = append(h.s, g)
}

func (h *groupHeap) Pop() any {
	n := len(h.s) - 1
	g := h.s[n]
	h.s[n] = nil
	h.s = h.s[:n]
	g.pos = -1
	return g
}

func (h *groupHeap) push(g *group) { heap.Push(h, g) }

func (h *groupHeap) remove(g *group) {
	heap.Remove(h, int(g.pos))
	h.s = shrink(h.s)
}

func (h *groupHeap) fix(g *group) { heap.Fix(h, int(g.pos)) }
