package raftnode

import (
	"testing"
	"time"
)

// The count of returning callers goes down by the commands that arrive, never below zero,
// and is forgotten maxLinger after the last answer (a caller long after a burst ships at
// once instead of waiting for callers that are not coming).
func TestReturningCallers(t *testing.T) {
	p := &proposer{}
	p.lastAnswer.Store(time.Now().UnixNano())
	p.returning.Store(5)
	if left := p.returned(2); left != 3 {
		t.Fatalf("5 answered, 2 back: %d expected, want 3", left)
	}
	if left := p.returned(10); left != 0 || p.returning.Load() != 0 {
		t.Fatalf("more back than answered: %d expected (%d stored), want 0", left, p.returning.Load())
	}
	p.returning.Store(64)
	p.lastAnswer.Store(time.Now().Add(-2 * maxLinger).UnixNano())
	if left := p.returned(1); left != 0 || p.returning.Load() != 0 {
		t.Fatalf("an old answer: %d expected (%d stored), want 0", left, p.returning.Load())
	}
}
