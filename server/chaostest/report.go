package chaostest

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// A stall is the time a worker goes without completing an operation (the cluster answering
// counts: a lock refused as busy completes). Every stall of at least stallReport is listed
// in the summary with what the worker tried meanwhile (each attempt's kind, node, duration
// and error) and the nemesis's actions around it, so it can be attributed to its cause.
const stallReport = 2 * time.Second

// maxSteps bounds the attempts kept per stall (the first and the last are kept).
const maxSteps = 24

// Report gathers what the workloads saw: operation counts, violations and client stalls.
type Report struct {
	mu         sync.Mutex
	ops        map[string]int // successful operations by kind
	failed     map[string]int // failed (or unknown) operations by kind
	violations []string
	stall      time.Duration
	stallWho   string
	stallEnd   time.Time
	stalls     []stallRecord // every stall of at least stallReport
	events     []event       // the nemesis's faults and repairs, in order
	nfaults    int
	start      time.Time
	names      *strings.Replacer // addresses → node names, for printing
}

// event is one nemesis action: a fault, or (repair) the end of one.
type event struct {
	at     time.Time
	what   string
	repair bool
}

// step is one attempt a worker made: its kind, the nodes its requests went to (REST; empty
// for a Go stream client, which picks its node itself), when, and its error.
type step struct {
	kind       string
	nodes      []string
	start, end time.Time
	err        error
}

type stallRecord struct {
	who          string
	began, ended time.Time
	steps        []step
	dropped      int // steps left out of the middle
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{ops: map[string]int{}, failed: map[string]int{}, start: time.Now()}
}

// Names makes the summary print each address (a key of names) as its node's name.
func (r *Report) Names(names map[string]string) {
	addrs := make([]string, 0, len(names))
	for addr := range names {
		addrs = append(addrs, addr)
	}
	// Longest first: an address must not be replaced by a shorter one it starts with.
	sort.Slice(addrs, func(i, j int) bool { return len(addrs[i]) > len(addrs[j]) })
	var pairs []string
	for _, addr := range addrs {
		pairs = append(pairs, addr, names[addr])
	}
	r.mu.Lock()
	r.names = strings.NewReplacer(pairs...)
	r.mu.Unlock()
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
	r.events = append(r.events, event{at: time.Now(), what: what})
	r.nfaults++
	r.mu.Unlock()
}

// Repaired records the end of a fault (a restart, a SIGCONT, a healed network).
func (r *Report) Repaired(what string) {
	r.mu.Lock()
	r.events = append(r.events, event{at: time.Now(), what: what, repair: true})
	r.mu.Unlock()
}

// Stall records that worker who went d without completing an operation, until now.
func (r *Report) Stall(who string, d time.Duration) {
	now := time.Now()
	r.stalled(who, now.Add(-d), now, nil, 0)
}

func (r *Report) stalled(who string, began, ended time.Time, steps []step, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := ended.Sub(began)
	if d > r.stall {
		r.stall, r.stallWho, r.stallEnd = d, who, ended
	}
	if d >= stallReport {
		r.stalls = append(r.stalls, stallRecord{who: who, began: began, ended: ended, steps: steps, dropped: dropped})
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
		total, failed, len(r.violations), r.stall.Round(time.Millisecond), r.stallWho, r.nfaults)
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-16s ok %6d  failed %5d\n", k, r.ops[k], r.failed[k])
	}
	if r.stall > 0 {
		// The fault in force when the stall began explains it.
		began := r.stallEnd.Add(-r.stall)
		fmt.Fprintf(&b, "  largest stall: %s to %s; last fault before it began: %s\n",
			r.at(began), r.at(r.stallEnd), r.lastFault(began))
	}
	var fs []string
	for _, e := range r.events {
		fs = append(fs, r.at(e.at)+" "+e.what)
	}
	fmt.Fprintf(&b, "  faults and repairs: %s\n", strings.Join(fs, ", "))
	b.WriteString(r.causes())
	// The largest stalls in detail, in time order.
	stalls := append([]stallRecord(nil), r.stalls...)
	sort.SliceStable(stalls, func(i, j int) bool {
		return stalls[i].ended.Sub(stalls[i].began) > stalls[j].ended.Sub(stalls[j].began)
	})
	stalls = stalls[:min(len(stalls), maxDetailed)]
	sort.SliceStable(stalls, func(i, j int) bool { return stalls[i].began.Before(stalls[j].began) })
	for _, s := range stalls {
		b.WriteString(r.describe(s))
	}
	for _, v := range r.violations {
		fmt.Fprintf(&b, "  VIOLATION: %s\n", v)
	}
	if r.names != nil {
		return r.names.Replace(b.String())
	}
	return b.String()
}

// maxDetailed is how many of the largest stalls the summary describes attempt by attempt.
const maxDetailed = 16

// causes counts the stalls of at least stallReport by cause: lock waits (every attempt a
// lock the cluster answered busy or timed out: a holder keeps it until its TTL), else the
// kind of the last fault before the stall began (or within a second after: it hit the
// operation in flight).
func (r *Report) causes() string {
	type tally struct {
		n       int
		largest time.Duration
	}
	by := map[string]*tally{}
	for _, s := range r.stalls {
		c := "lock wait"
		if !lockWaitsOnly(s.steps) {
			// A fault within a second after the last success hit the operation in flight.
			c = faultKind.ReplaceAllString(r.lastFault(s.began.Add(time.Second)), "")
		}
		t := by[c]
		if t == nil {
			t = &tally{}
			by[c] = t
		}
		t.n++
		t.largest = max(t.largest, s.ended.Sub(s.began))
	}
	var keys []string
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return by[keys[i]].largest > by[keys[j]].largest })
	var b strings.Builder
	fmt.Fprintf(&b, "  stalls of %v or more by cause (the last fault before each began): %d\n", stallReport, len(r.stalls))
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-34s %4d  largest %v\n", k, by[k].n, by[k].largest.Round(time.Millisecond))
	}
	return b.String()
}

// faultKind matches what makes a fault's description specific: node names and the time.
var faultKind = regexp.MustCompile(` ?\bn\d+(-n\d+)?\b| at \+[0-9.]+s$`)

// lockWaitsOnly reports attempts that were all lock requests answered busy or timed out
// (or, the last, completed): the worker waited for a lock another worker held.
func lockWaitsOnly(steps []step) bool {
	if len(steps) == 0 {
		return false
	}
	for _, st := range steps {
		if st.kind != "lock" {
			return false
		}
		if st.err != nil {
			msg := st.err.Error()
			if !strings.Contains(msg, "is locked") && !strings.Contains(msg, "HTTP 409") && !strings.Contains(msg, "HTTP 408") &&
				!strings.Contains(msg, "HTTP 504") && !strings.Contains(msg, "TIMEOUT") {
				return false
			}
		}
	}
	return true
}

// at is t as an offset from the start of the run.
func (r *Report) at(t time.Time) string {
	return fmt.Sprintf("+%.1fs", t.Sub(r.start).Seconds())
}

// lastFault is the last fault recorded at or before t, with its time; before the first
// fault, the first one (a stall that began just before it: the operation it waited for
// was already in flight).
func (r *Report) lastFault(t time.Time) string {
	cause := "none"
	for _, e := range r.events {
		if e.repair {
			continue
		}
		if cause == "none" || !e.at.After(t) {
			cause = fmt.Sprintf("%s at %s", e.what, r.at(e.at))
		}
		if e.at.After(t) {
			break
		}
	}
	return cause
}

// describe prints one stall: when, the nemesis's actions from the last fault before it to
// its end, and the worker's attempts meanwhile.
func (r *Report) describe(s stallRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  STALL %v %s: %s to %s; last fault before: %s\n", s.ended.Sub(s.began).Round(time.Millisecond), s.who,
		r.at(s.began), r.at(s.ended), r.lastFault(s.began))
	var during []string
	for _, e := range r.events {
		if e.at.After(s.began) && !e.at.After(s.ended) {
			during = append(during, r.at(e.at)+" "+e.what)
		}
	}
	if len(during) > 0 {
		fmt.Fprintf(&b, "    nemesis meanwhile: %s\n", strings.Join(during, ", "))
	}
	for i, st := range s.steps {
		if s.dropped > 0 && i == maxSteps/4 {
			fmt.Fprintf(&b, "    ... %d attempts left out\n", s.dropped)
		}
		outcome := "ok"
		if st.err != nil {
			outcome = oneLine(st.err.Error())
		}
		nodes := ""
		if len(st.nodes) > 0 {
			nodes = " via " + strings.Join(st.nodes, ",")
		}
		fmt.Fprintf(&b, "    %s %s%s took %v: %s\n", r.at(st.start), st.kind, nodes, st.end.Sub(st.start).Round(time.Millisecond), outcome)
	}
	return b.String()
}

// oneLine shortens an error message to one line of at most 300 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// staller measures one worker's longest time between completed operations and keeps what
// it tried since the last one.
type staller struct {
	r       *Report
	who     string
	last    time.Time
	steps   []step
	dropped int
}

func newStaller(r *Report, who string) *staller { return &staller{r: r, who: who, last: time.Now()} }

// try runs one attempt of kind: the REST requests f makes with its context record the node
// they went to.
func (s *staller) try(ctx context.Context, kind string, f func(ctx context.Context) error) error {
	t := &trace{}
	start := time.Now()
	err := f(context.WithValue(ctx, traceKey{}, t))
	s.add(step{kind: kind, nodes: t.nodes(), start: start, end: time.Now(), err: err})
	return err
}

// add keeps st, leaving out the middle of a long run of attempts.
func (s *staller) add(st step) {
	s.steps = append(s.steps, st)
	if len(s.steps) > maxSteps {
		keep := maxSteps / 4
		s.steps = append(s.steps[:keep], s.steps[keep+1:]...)
		s.dropped++
	}
}

// done marks a completed operation.
func (s *staller) done() {
	now := time.Now()
	s.r.stalled(s.who, s.last, now, s.steps, s.dropped)
	s.last, s.steps, s.dropped = now, nil, 0
}

// trace collects the nodes one attempt's REST requests went to.
type trace struct {
	mu  sync.Mutex
	hit []string
}

type traceKey struct{}

// traceNode records that a request under ctx went to node (a base URL).
func traceNode(ctx context.Context, node string) {
	if t, ok := ctx.Value(traceKey{}).(*trace); ok {
		t.mu.Lock()
		t.hit = append(t.hit, node)
		t.mu.Unlock()
	}
}

func (t *trace) nodes() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hit
}
