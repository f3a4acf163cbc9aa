package queue

// Ready reports whether a pull by session would lease an item now: the queue is not
// paused and an item is visible to it (its bound groups', an ungrouped one, or an unbound
// group's head). Session 0 asks for any stream without bound groups.
func (q *Queue) Ready(session uint64) bool { return !q.paused && q.next(session) != nil }
