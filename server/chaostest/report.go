package chaostest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Report gathers what the workloads saw: operation counts, violations and client stalls.
type Report struct {
	mu         sync.Mutex
	ops        map[string]int // successful operations by kind
	failed     map[string]int // failed (or unknown) operations by kind
	violations []string
	stall      time.Duration
	stallWho   string
	stallEnd   time.Time
	faults     []string
	faultAt    []time.Time
	start      time.Time
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{ops: map[string]int{}, failed: map[string]int{}, start: time.Now()}
}

// Op counts an operation of kind that succeeded (err == nil) or not.
func (r *Report) Op(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.ops[kind]++
	} else {
		r.failed[kind]++
	}
}

// Violation records a broken guarantee.
func (r *Report) Violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

// Violations returns the recorded violations.
func (r *Report) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.violations...)
}

// Fault records a nemesis action.
func (r *Report) Fault(what string) {
	r.mu.Lock()
	r.faults = append(r.faults, what)
	r.faultAt = append(r.faultAt, time.Now())
	r.mu.Unlock()
}

// Stall records that worker who went d without completing an operation.
func (r *Report) Stall(who string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d > r.stall {
		r.stall, r.stallWho, r.stallEnd = d, who, time.Now()
	}
}

// Largest is the largest stall and the worker that saw it.
func (r *Report) Largest() (time.Duration, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stall, r.stallWho
}

// Summary is the printable result.
func (r *Report) Summary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	total, failed := 0, 0
	var kinds []string
	for k := range r.ops {
		kinds = append(kinds, k)
	}
	for k := range r.failed {
		if _, ok := r.ops[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		total += r.ops[k]
		failed += r.failed[k]
	}
	fmt.Fprintf(&b, "chaos summary: %d ops ok, %d failed or unknown; violations: %d; largest client stall: %v (%s); faults: %d\n",
		total, failed, len(r.violations), r.stall.Round(time.Millisecond), r.stallWho, len(r.faults))
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-16s ok %6d  failed %5d\n", k, r.ops[k], r.failed[k])
	}
	if r.stall > 0 {
		// The fault in force when the stall began explains it.
		began, cause := r.stallEnd.Add(-r.stall), "none"
		for i, at := range r.faultAt {
			if !at.After(began) {
				cause = fmt.Sprintf("%s at +%v", r.faults[i], at.Sub(r.start).Round(time.Second))
			}
		}
		fmt.Fprintf(&b, "  largest stall: +%v to +%v; last fault before it began: %s\n",
			began.Sub(r.start).Round(100*time.Millisecond), r.stallEnd.Sub(r.start).Round(100*time.Millisecond), cause)
	}
	var fs []string
	for i, f := range r.faults {
		fs = append(fs, fmt.Sprintf("+%v %s", r.faultAt[i].Sub(r.start).Round(time.Second), f))
	}
	fmt.Fprintf(&b, "  faults: %s\n", strings.Join(fs, ", "))
	for _, v := range r.violations {
		fmt.Fprintf(&b, "  VIOLATION: %s\n", v)
	}
	return b.String()
}

// staller measures one worker's longest time between completed operations.
type staller struct {
	r    *Report
	who  string
	last time.Time
}

func newStaller(r *Report, who string) *staller { return &staller{r: r, who: who, last: time.Now()} }

// done marks a completed operation.
func (s *staller) done() {
	now := time.Now()
	s.r.Stall(s.who, now.Sub(s.last))
	s.last = now
}
