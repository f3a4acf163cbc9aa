package queue

// Indexed binary heaps. Every ordering used here is total (ties broken by id), so what
// the heaps yield depends only on their contents, never on the order of past operations:
// two replicas (or a queue and its restored snapshot) with the same items pull the same.

// heapKind selects an itemHeap's order and the item field holding the position.
type heapKind uint8

const (
	byReady  heapKind = iota // priority desc, id asc; position in item.pos
	byDue                    // due asc, id asc; position in item.pos
	byExpiry                 // expiresAt asc, id asc; position in item.xpos
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
	case byDue:
		if a.due != b.due {
			return a.due < b.due
		}
	default:
		if a.expiresAt != b.expiresAt {
			return a.expiresAt < b.expiresAt
		}
	}
	return a.id < b.id
}

func (h *itemHeap) setPos(i int) {
	if h.kind == byExpiry {
		h.s[i].xpos = int32(i)
	} else {
		h.s[i].pos = int32(i)
	}
}

func (h *itemHeap) posOf(it *item) int {
	if h.kind == byExpiry {
		return int(it.xpos)
	}
	return int(it.pos)
}

func (h *itemHeap) clearPos(it *item) {
	if h.kind == byExpiry {
		it.xpos = -1
	} else {
		it.pos = -1
	}
}

func (h *itemHeap) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.setPos(i)
	h.setPos(j)
}

func (h *itemHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *itemHeap) down(i int) bool {
	start, n := i, len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}

func (h *itemHeap) push(it *item) {
	h.s = append(h.s, it)
	h.setPos(len(h.s) - 1)
	h.up(len(h.s) - 1)
}

// remove takes it (which must be in h) out of h.
func (h *itemHeap) remove(it *item) {
	i, n := h.posOf(it), len(h.s)-1
	if i != n {
		h.swap(i, n)
	}
	h.s[n] = nil
	h.s = h.s[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	h.clearPos(it)
	h.shrink()
}

// fix restores the order after it's key changed.
func (h *itemHeap) fix(it *item) {
	if i := h.posOf(it); !h.down(i) {
		h.up(i)
	}
}

// shrink gives back the memory of a heap that emptied a lot (amortised O(1)).
func (h *itemHeap) shrink() {
	if c := cap(h.s); c > 64 && len(h.s) < c/4 {
		if len(h.s) == 0 {
			h.s = nil
			return
		}
		s := make([]*item, len(h.s), c/2)
		copy(s, h.s)
		h.s = s
	}
}

// groupHeap orders groups that have visible items by their best visible item.
type groupHeap struct{ s []*group }

func (h *groupHeap) len() int { return len(h.s) }

func (h *groupHeap) less(i, j int) bool { return readyLess(h.s[i].ready.s[0], h.s[j].ready.s[0]) }

func (h *groupHeap) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].pos = int32(i)
	h.s[j].pos = int32(j)
}

func (h *groupHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *groupHeap) down(i int) bool {
	start, n := i, len(h.s)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}

func (h *groupHeap) push(g *group) {
	h.s = append(h.s, g)
	g.pos = int32(len(h.s) - 1)
	h.up(len(h.s) - 1)
}

func (h *groupHeap) remove(g *group) {
	i, n := int(g.pos), len(h.s)-1
	if i != n {
		h.swap(i, n)
	}
	h.s[n] = nil
	h.s = h.s[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	g.pos = -1
	if c := cap(h.s); c > 64 && len(h.s) < c/4 {
		if len(h.s) == 0 {
			h.s = nil
			return
		}
		s := make([]*group, len(h.s), c/2)
		copy(s, h.s)
		h.s = s
	}
}

func (h *groupHeap) fix(g *group) {
	if !h.down(int(g.pos)) {
		h.up(int(g.pos))
	}
}
