// Command octopusmq-bench drives a running OctopusMQ server and measures it.
//
// Workloads (-workload), each runnable alone:
//
//   - queue (default): -producers producers and -consumers consumers, each with its own
//     client (one stream), over one queue (created if missing). Producers enqueue -items
//     items of -size bytes in batches of -batch (1: Enqueue, more: BatchEnqueue); consumers
//     Pull up to -batch items and Commit them in one call. Reported: enqueue and
//     pull+commit per call, and the delivery latency from an item's enqueue call to its pull.
//   - enqueue: the producers alone (no consumers); items stay in the queue.
//   - pipelined: enqueue with -inflight calls in flight on each producer's one stream
//     (default 1 producer, 64 in flight).
//   - consume: fills the queue with -items items first (not timed), then runs the consumers
//     alone until they have pulled and committed them.
//   - latency: one enqueue at a time (1 producer, batch 1, 1 in flight).
//   - fill: enqueue -items items (batch 64 unless -batch is given) with no consumers and
//     report the server's memory growth per item.
//   - kv: -producers clients (streams) x -inflight workers each over one storage (created
//     if missing); -kvop all runs rounds
//     of set, get and lock+unlock, -kvop set, get or lock runs only that operation.
//   - snapshot: pre-fills the queue with -prefill items (untimed), then enqueues one item
//     per call at a steady -rate (items/s in total) from -producers streams for -duration
//     while the server takes -snapshots snapshots (through its backup endpoint), and reports
//     the latencies (p50/p99/p999) of the calls inside and outside the snapshot windows.
//
// -sweep 16,64,256 runs the workload (queue, enqueue, pipelined or kv) once per count of
// producers (kv: workers), one stream each, in one invocation: one report line per step,
// with the server's CPU per item over that step.
//
// -token and -tls-ca (or $OCTOPUSMQ_TOKEN, $OCTOPUSMQ_TLS_CA) reach a secured server, its
// /metrics included.
//
// Every workload reports items/s and latency percentiles (p50, p99, p999, max) per call
// and, from the server's /metrics (-metrics, default the first -addr), the server CPU time
// per item and the change of its resident memory and heap. -inflight N runs N calls in
// flight on each producer's stream (the client multiplexes concurrent calls on one stream).
//
// -profile DIR saves the CPU profile (-profile-kinds cpu,trace: and the execution trace) of
// every cluster member over the timed run, for -duration or -profile-seconds, as
// DIR/<role>-<node>.cpu.pprof, and reports each one's CPU by component and its top
// functions (servers started with --pprof; an admin -token when auth is on).
//
// With -duration the producers (kv: workers) stop after that time instead of after -items
// items; consumers then drain what was enqueued. Progress is printed once a second on
// stderr; the report goes to stdout, as text or (-o json) as one JSON object.
//
//	go run ./cmd/octopusmq-bench -producers 4 -consumers 4 -items 100000 -size 256 -batch 64
//	go run ./cmd/octopusmq-bench -workload pipelined -inflight 512 -items 200000 -o json
//	go run ./cmd/octopusmq-bench -workload kv -kvop set -producers 8 -duration 10s
//	go run ./cmd/octopusmq-bench -workload enqueue -size 128 -duration 10s -sweep 16,64,256
//	go run ./cmd/octopusmq-bench -workload snapshot -prefill 1000000 -rate 2000 -duration 20s
//	go run ./cmd/octopusmq-bench -workload pipelined -inflight 512 -duration 20s -profile prof
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
)

type config struct {
	addr      string
	queue     string
	storage   string
	producers int
	consumers int
	items     int64
	size      int
	batch     int
	inflight  int
	duration  time.Duration
	workload  string
	kvop      string
	output    string
	metrics   string
	token     string
	tlsCA     string
	direct    bool
	// snapshot workload and -sweep
	prefill   int64
	rate      int
	snapshots int
	samples   string
	sweep     []int
	// -profile
	profileDir   string
	profileKinds string
	profSeconds  time.Duration
}

var workloads = []string{"queue", "enqueue", "pipelined", "consume", "latency", "fill", "kv", "snapshot"}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "localhost:4123", "server address (host:port, or several separated by commas)")
	flag.StringVar(&c.queue, "queue", "bench", "queue to use (created if missing)")
	flag.StringVar(&c.storage, "storage", "bench-kv", "storage of the kv workload (created if missing)")
	flag.IntVar(&c.producers, "producers", 4, "producers, each with its own client (stream) (kv: clients)")
	flag.IntVar(&c.consumers, "consumers", 4, "consumers")
	flag.Int64Var(&c.items, "items", 100000, "items to enqueue in total (kv: rounds)")
	flag.IntVar(&c.size, "size", 256, "payload bytes per item (kv: per value)")
	flag.IntVar(&c.batch, "batch", 1, "enqueue batch size and pull batch size")
	flag.IntVar(&c.inflight, "inflight", 1, "calls in flight on each producer's stream (pipelined: default 64)")
	flag.DurationVar(&c.duration, "duration", 0, "run producers (kv: workers) for this long instead of -items")
	flag.StringVar(&c.workload, "workload", "queue", "queue, enqueue, pipelined, consume, latency, fill, kv or snapshot")
	flag.StringVar(&c.kvop, "kvop", "all", "kv workload: all (set, get, lock+unlock in turn), set, get or lock")
	flag.StringVar(&c.output, "o", "text", "report format: text or json")
	flag.StringVar(&c.metrics, "metrics", "", "servers whose /metrics to read for CPU and memory (host:port or URLs, comma-separated; default the first -addr; none to skip)")
	flag.StringVar(&c.token, "token", os.Getenv("OCTOPUSMQ_TOKEN"), "bearer token to send (default $OCTOPUSMQ_TOKEN)")
	flag.StringVar(&c.tlsCA, "tls-ca", os.Getenv("OCTOPUSMQ_TLS_CA"), "connect with TLS, trusting this PEM CA bundle (default $OCTOPUSMQ_TLS_CA)")
	flag.Int64Var(&c.prefill, "prefill", 100000, "snapshot workload: items put in the queue (untimed) before the run")
	flag.IntVar(&c.rate, "rate", 1000, "snapshot workload: enqueue calls per second in total (one item each)")
	flag.IntVar(&c.snapshots, "snapshots", 3, "snapshot workload: snapshots taken, spread evenly over -duration")
	flag.StringVar(&c.samples, "samples", "", "snapshot workload: write every call (due time and latency) and snapshot window to this file, to line them up with server logs and traces")
	sweep := flag.String("sweep", "", "run the workload once per count of producers (kv: workers) in this list, e.g. 16,64,256")
	flag.StringVar(&c.profileDir, "profile", "", "save CPU profiles (and -profile-kinds) of every cluster member over the timed run in this folder and summarise them (servers need --pprof; an admin -token when auth is on)")
	flag.StringVar(&c.profileKinds, "profile-kinds", "cpu", "with -profile: cpu, trace (Go execution trace, for blocking and latency: go tool trace) or cpu,trace")
	flag.DurationVar(&c.profSeconds, "profile-seconds", 0, "with -profile: how long to profile from the start of the timed run (default -duration)")
	flag.BoolVar(&c.direct, "direct", true, "streams go to the leader itself; false: a follower named in -addr relays them (to measure the relay)")
	flag.Parse()
	var err error
	if c.sweep, err = parseSweep(*sweep); err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq-bench:", err)
		os.Exit(2)
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c = c.defaults(set)
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq-bench:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq-bench:", err)
		os.Exit(1)
	}
}

// defaults fills in the per-workload defaults of the flags the user did not set.
func (c config) defaults(set map[string]bool) config {
	switch c.workload {
	case "pipelined":
		if !set["producers"] {
			c.producers = 1
		}
		if !set["inflight"] {
			c.inflight = 64
		}
	case "latency":
		c.producers, c.batch, c.inflight = 1, 1, 1
	case "fill":
		if !set["batch"] {
			c.batch = 64
		}
	case "snapshot":
		c.batch, c.inflight = 1, 1
		if !set["producers"] {
			c.producers = 16
		}
		if !set["duration"] {
			c.duration = 10 * time.Second
		}
	}
	return c
}

func (c config) check() error {
	known := false
	for _, w := range workloads {
		known = known || c.workload == w
	}
	switch {
	case !known:
		return fmt.Errorf("-workload must be one of %v, not %q", workloads, c.workload)
	case c.kvop != "all" && c.kvop != "set" && c.kvop != "get" && c.kvop != "lock":
		return fmt.Errorf("-kvop must be all, set, get or lock, not %q", c.kvop)
	case c.output != "text" && c.output != "json":
		return fmt.Errorf("-o must be text or json, not %q", c.output)
	case c.producers < 1 || (c.needsConsumers() && c.consumers < 1):
		return errors.New("-producers and -consumers must be at least 1")
	case c.items < 1 && (c.duration <= 0 || c.workload == "consume" || c.workload == "fill"):
		return errors.New("-items must be at least 1 (or give -duration)")
	case c.size < 0 || c.batch < 1:
		return errors.New("-size must be >= 0 and -batch >= 1")
	case c.inflight < 1:
		return errors.New("-inflight must be at least 1")
	case c.workload == "snapshot" && (c.rate < 1 || c.snapshots < 1 || c.prefill < 0 || c.duration <= 0):
		return errors.New("snapshot workload: -rate and -snapshots must be at least 1, -prefill >= 0 and -duration > 0")
	case c.samples != "" && c.workload != "snapshot":
		return fmt.Errorf("-samples is written by the snapshot workload, not %q", c.workload)
	case c.profileDir != "" && (len(c.sweep) > 0 || c.profileSeconds() < 1):
		return errors.New("-profile needs -duration or -profile-seconds (at least 1s) and no -sweep")
	case len(c.sweep) > 0 && !sweepable[c.workload]:
		return fmt.Errorf("-sweep runs the queue, enqueue, pipelined and kv workloads, not %q", c.workload)
	}
	return nil
}

func (c config) needsConsumers() bool { return c.workload == "queue" || c.workload == "consume" }

// outcome is what a workload measured.
type outcome struct {
	title   string
	summary string
	results []result // the first is the one per-item server costs are divided by
	note    string
}

// run runs the workload, reading the servers' metrics before and after, and writes the report.
func run(ctx context.Context, c config, out, errw io.Writer) error {
	sc, err := newScraper(c)
	if err != nil {
		return err
	}
	urls := sc.urls
	if len(c.sweep) > 0 {
		urls = nil // each step has its own server figures
	}
	var before serverStats
	var mErr error
	if len(urls) > 0 {
		before, mErr = sc.scrape(ctx)
	}
	prof, err := newProfiler(ctx, c, sc)
	if err != nil {
		return err
	}
	ready := func() {
		before, mErr = rescrape(ctx, sc, before, mErr)
		prof.start(ctx)
	}
	var o outcome
	switch {
	case len(c.sweep) > 0:
		o, err = runSweep(ctx, c, errw, sc)
	case c.workload == "snapshot":
		o, err = runSnapshot(ctx, c, errw, sc, ready)
	case c.workload == "kv":
		o, err = runKV(ctx, c, errw, ready)
	default:
		o, err = runQueue(ctx, c, errw, ready)
	}
	profiles, pErr := prof.wait() // profiles end -profile-seconds after ready, not with the run
	if err != nil {
		return err
	}
	if pErr != nil {
		fmt.Fprintln(errw, "warning:", pErr)
	}
	var after serverStats
	if len(urls) > 0 && mErr == nil {
		after, mErr = sc.scrape(ctx)
	}
	var srv *serverReport
	if len(urls) > 0 {
		if mErr != nil {
			fmt.Fprintln(errw, "warning: no server metrics:", mErr)
		} else {
			srv = newServerReport(before, after, o.results[0].items)
		}
	}
	if ctx.Err() != nil {
		o.summary = "interrupted: partial results\n" + o.summary
	}
	if c.output == "json" {
		return writeJSON(out, c, o, srv, profiles)
	}
	fmt.Fprintln(out, o.title)
	fmt.Fprint(out, o.summary)
	fmt.Fprint(out, report(o.results))
	if o.note != "" {
		fmt.Fprintln(out, o.note)
	}
	if srv != nil {
		fmt.Fprint(out, srv.text(c.workload == "fill"))
	}
	fmt.Fprint(out, profilesText(profiles))
	return nil
}

// rescrape takes the "before" metrics again once a workload's untimed set-up is done.
func rescrape(ctx context.Context, sc *scraper, old serverStats, oldErr error) (serverStats, error) {
	if len(sc.urls) == 0 || oldErr != nil {
		return old, oldErr
	}
	return sc.scrape(ctx)
}

// share is worker i's part of total split over n workers.
func share(total int64, i, n int) int64 {
	s := total / int64(n)
	if int64(i) < total%int64(n) {
		s++
	}
	return s
}

// progress prints the counters once a second until ctx ends.
func progress(ctx context.Context, w io.Writer, start time.Time, names []string, counters ...*atomic.Int64) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := make([]int64, len(counters))
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			line := fmt.Sprintf("%6.0fs", now.Sub(start).Seconds())
			for i, c := range counters {
				n := c.Load()
				line += fmt.Sprintf("  %s %d (%d/s)", names[i], n, n-last[i])
				last[i] = n
			}
			fmt.Fprintln(w, line)
		}
	}
}

// firstErr keeps the first error and cancels the run.
type firstErr struct {
	once   sync.Once
	err    error
	cancel context.CancelFunc
}

func (f *firstErr) set(err error) {
	f.once.Do(func() { f.err = err; f.cancel() })
}

func runQueue(parent context.Context, c config, errw io.Writer, ready func()) (outcome, error) {
	opts, err := c.clientOptions()
	if err != nil {
		return outcome{}, err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fail := &firstErr{cancel: cancel}
	produce := c.workload != "consume"
	consume := c.workload == "queue" || c.workload == "consume"

	admin, err := client.NewAdminClient(c.addr, opts...)
	if err != nil {
		return outcome{}, err
	}
	defer admin.Close()
	if err := admin.EnsureQueue(ctx, client.QueueConfig{Name: c.queue}); err != nil {
		return outcome{}, fmt.Errorf("creating queue %q: %w", c.queue, err)
	}
	if qs, err := admin.ListQueues(ctx); err == nil {
		for _, q := range qs {
			if q.Name == c.queue && q.Count > 0 {
				fmt.Fprintf(errw, "warning: queue %q already holds %d items\n", c.queue, q.Count)
			}
		}
	}
	var o outcome
	switch {
	case !consume:
		o.title = fmt.Sprintf("%s workload on %s: %d producers x %d in flight, no consumers, %s, %d B payload, batch %d",
			c.workload, c.addr, c.producers, c.inflight, amount(c), c.size, c.batch)
	case !produce:
		o.title = fmt.Sprintf("consume workload on %s: %d consumers of %d pre-filled items, %d B payload, batch %d",
			c.addr, c.consumers, c.items, c.size, c.batch)
	default:
		o.title = fmt.Sprintf("queue workload on %s: %d producers x %d in flight, %d consumers, %s, %d B payload, batch %d",
			c.addr, c.producers, c.inflight, c.consumers, amount(c), c.size, c.batch)
	}

	var enqueued, consumed atomic.Int64
	producersDone := make(chan struct{})
	if !produce {
		n, err := prefill(ctx, c, opts, errw)
		if err != nil {
			return outcome{}, err
		}
		enqueued.Store(n)
		close(producersDone)
	}
	ready()
	var prodEnd, consEnd atomic.Int64 // unix ns of the last producer / consumer finishing
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 && produce {
		deadline = start.Add(c.duration)
	}

	var enqLat []*samples
	var pwg sync.WaitGroup
	if produce {
		workers := c.producers * c.inflight
		enqLat = make([]*samples, workers)
		for i := range c.producers {
			q, err := client.NewQueueClient(c.addr, c.queue, opts...)
			if err != nil {
				return outcome{}, err
			}
			defer q.Close()
			for j := range c.inflight {
				w := i*c.inflight + j
				enqLat[w] = &samples{}
				pwg.Add(1)
				go func() {
					defer pwg.Done()
					defer func() { prodEnd.Store(max(prodEnd.Load(), time.Now().UnixNano())) }()
					produceLoop(ctx, c, q, share(c.items, w, workers), deadline, enqLat[w], &enqueued, fail)
				}()
			}
		}
		go func() { pwg.Wait(); close(producersDone) }()
	}

	pcLat := make([]*samples, c.consumers)
	delLat := make([]*samples, c.consumers)
	var cwg sync.WaitGroup
	for i := range c.consumers {
		pcLat[i], delLat[i] = &samples{}, &samples{}
		if !consume {
			continue
		}
		q, err := client.NewQueueClient(c.addr, c.queue, append(opts, client.WithPullTimeout(500*time.Millisecond))...)
		if err != nil {
			return outcome{}, err
		}
		defer q.Close()
		cwg.Add(1)
		go func(i int, q *client.QueueClient) {
			defer cwg.Done()
			for ctx.Err() == nil {
				// Done when every item the producers enqueued was consumed.
				select {
				case <-producersDone:
					if consumed.Load() >= enqueued.Load() {
						return
					}
				default:
				}
				t0 := time.Now()
				items, err := q.Pull(ctx, c.batch)
				if err != nil {
					if ctx.Err() == nil {
						fail.set(fmt.Errorf("pull: %w", err))
					}
					return
				}
				if len(items) == 0 {
					continue
				}
				pulled := time.Now()
				ids := make([]uint64, len(items))
				for k, it := range items {
					ids[k] = it.Id
					if produce && len(it.Value) >= 8 {
						sentAt := int64(binary.LittleEndian.Uint64(it.Value))
						delLat[i].add(pulled.Sub(time.Unix(0, sentAt)))
					}
				}
				if len(ids) == 1 {
					err = q.CommitSingle(ctx, ids[0])
				} else {
					err = q.Commit(ctx, ids)
				}
				if err != nil {
					if ctx.Err() == nil {
						fail.set(fmt.Errorf("commit: %w", err))
					}
					return
				}
				pcLat[i].add(time.Since(t0))
				consumed.Add(int64(len(ids)))
				consEnd.Store(max(consEnd.Load(), time.Now().UnixNano()))
			}
		}(i, q)
	}

	pctx, pstop := context.WithCancel(ctx)
	switch {
	case !consume:
		go progress(pctx, errw, start, []string{"enqueued"}, &enqueued)
	case !produce:
		go progress(pctx, errw, start, []string{"consumed"}, &consumed)
	default:
		go progress(pctx, errw, start, []string{"enqueued", "consumed"}, &enqueued, &consumed)
	}
	cwg.Wait()
	pwg.Wait()
	pstop()
	if fail.err != nil {
		return outcome{}, fail.err
	}
	total := time.Since(start)
	enq := result{name: "enqueue", items: enqueued.Load(), elapsed: time.Unix(0, prodEnd.Load()).Sub(start), lat: merge(enqLat...)}
	pc := result{name: "pull+commit", items: consumed.Load(), elapsed: time.Unix(0, consEnd.Load()).Sub(start), lat: merge(pcLat...)}
	note := "(latency per call: an enqueue call carries -batch items, a pull+commit up to -batch"
	switch {
	case !consume:
		o.summary = fmt.Sprintf("elapsed %.2fs; %d enqueued\n", total.Seconds(), enqueued.Load())
		o.results = []result{enq}
	case !produce:
		o.summary = fmt.Sprintf("elapsed %.2fs; %d pulled and committed\n", total.Seconds(), consumed.Load())
		o.results = []result{pc}
	default:
		o.summary = fmt.Sprintf("elapsed %.2fs; %d enqueued, %d pulled and committed\n", total.Seconds(), enqueued.Load(), consumed.Load())
		o.results = []result{enq, pc}
		if c.size >= 8 { // the payload carries the enqueue time
			o.results = append(o.results, result{name: "delivery", items: consumed.Load(), elapsed: pc.elapsed, lat: merge(delLat...)})
			note += ";\n delivery: from an item's enqueue call to its pull, per item"
		}
	}
	o.note = note + ")"
	return o, nil
}

// produceLoop enqueues todo items (or until deadline, when set) in calls of c.batch items.
func produceLoop(ctx context.Context, c config, q *client.QueueClient, todo int64, deadline time.Time, lat *samples, enqueued *atomic.Int64, fail *firstErr) {
	for sent := int64(0); ctx.Err() == nil; {
		n := int64(c.batch)
		if deadline.IsZero() {
			if sent >= todo {
				return
			}
			n = min(n, todo-sent)
		} else if time.Now().After(deadline) {
			return
		}
		items := make([]*client.InputItem, n)
		t0 := time.Now()
		for k := range items {
			v := make([]byte, c.size)
			if c.size >= 8 {
				binary.LittleEndian.PutUint64(v, uint64(t0.UnixNano()))
			}
			items[k] = &client.InputItem{Value: v}
		}
		var err error
		if n == 1 {
			_, err = q.Enqueue(ctx, items[0])
		} else {
			_, err = q.BatchEnqueue(ctx, items)
		}
		if err != nil {
			if ctx.Err() == nil {
				fail.set(fmt.Errorf("enqueue: %w", err))
			}
			return
		}
		lat.add(time.Since(t0))
		sent += n
		enqueued.Add(n)
	}
}

// prefill enqueues c.items items (untimed) for the consume workload: batches of 256 from
// a few concurrent calls on one client.
func prefill(ctx context.Context, c config, opts []client.Option, errw io.Writer) (int64, error) {
	q, err := client.NewQueueClient(c.addr, c.queue, opts...)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	fc := c
	fc.batch = 256
	const workers = 8
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := &firstErr{cancel: cancel}
	var done atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			produceLoop(ctx, fc, q, share(c.items, w, workers), time.Time{}, &samples{}, &done, fail)
		}()
	}
	pctx, pstop := context.WithCancel(ctx)
	go progress(pctx, errw, time.Now(), []string{"pre-filled"}, &done)
	wg.Wait()
	pstop()
	if fail.err != nil {
		return 0, fmt.Errorf("pre-filling: %w", fail.err)
	}
	return done.Load(), ctx.Err()
}

func amount(c config) string {
	if c.duration > 0 {
		return "for " + c.duration.String()
	}
	if c.workload == "kv" {
		return fmt.Sprintf("%d rounds", c.items)
	}
	return fmt.Sprintf("%d items", c.items)
}

func runKV(parent context.Context, c config, errw io.Writer, ready func()) (outcome, error) {
	opts, err := c.clientOptions()
	if err != nil {
		return outcome{}, err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fail := &firstErr{cancel: cancel}
	admin, err := client.NewAdminClient(c.addr, opts...)
	if err != nil {
		return outcome{}, err
	}
	defer admin.Close()
	if err := admin.EnsureStorage(ctx, c.storage); err != nil {
		return outcome{}, fmt.Errorf("creating storage %q: %w", c.storage, err)
	}
	var o outcome
	if c.kvop == "all" {
		o.title = fmt.Sprintf("kv workload on %s: %d workers (%d streams x %d in flight), %s, %d B values (each round: set, get, lock+unlock)",
			c.addr, c.producers*c.inflight, c.producers, c.inflight, amount(c), c.size)
	} else {
		o.title = fmt.Sprintf("kv workload on %s: %d workers (%d streams x %d in flight), %s, %d B values, %s only",
			c.addr, c.producers*c.inflight, c.producers, c.inflight, amount(c), c.size, c.kvop)
	}
	do := func(op string) bool { return c.kvop == "all" || c.kvop == op }
	keys := int64(1000) // keys per worker, reused round after round

	// -inflight workers share each of the -producers clients (streams).
	workers := c.producers * c.inflight
	clients := make([]*client.StorageClient, c.producers)
	for i := range clients {
		s, err := client.NewStorageClient(c.addr, c.storage, opts...)
		if err != nil {
			return outcome{}, err
		}
		defer s.Close()
		clients[i] = s
	}
	key := func(i int, n int64) []byte { return []byte(fmt.Sprintf("bench-%d-%d", i, n%keys)) }
	if c.kvop == "get" || c.kvop == "lock" { // the keys exist before the gets (locks) are timed
		// At most 20k keys in all, set by the workers at once (untimed).
		keys = max(1, min(keys, 20000/int64(workers)))
		if c.duration <= 0 {
			keys = min(keys, max(1, c.items/int64(workers)))
		}
		value := make([]byte, c.size)
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i := range workers {
			s := clients[i/c.inflight]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range keys {
					if _, err := s.SetKey(ctx, key(i, n), value, nil, false); err != nil {
						errs[i] = fmt.Errorf("setting the keys: %w", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return outcome{}, err
			}
		}
	}
	ready()

	var rounds atomic.Int64
	setLat, getLat, lockLat := make([]*samples, workers), make([]*samples, workers), make([]*samples, workers)
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}
	var wg sync.WaitGroup
	for i := range workers {
		s := clients[i/c.inflight]
		setLat[i], getLat[i], lockLat[i] = &samples{}, &samples{}, &samples{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			todo := share(c.items, i, workers)
			value := make([]byte, c.size)
			ttl := durationpb.New(30 * time.Second)
			check := func(op string, err error) bool {
				if err != nil && ctx.Err() == nil {
					fail.set(fmt.Errorf("%s: %w", op, err))
				}
				return err == nil
			}
			for n := int64(0); ctx.Err() == nil; n++ {
				if deadline.IsZero() && n >= todo || !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				k := key(i, n)
				if do("set") {
					t0 := time.Now()
					if _, err := s.SetKey(ctx, k, value, nil, false); !check("set", err) {
						return
					}
					setLat[i].add(time.Since(t0))
				}
				if do("get") {
					t0 := time.Now()
					if _, err := s.GetKey(ctx, k); !check("get", err) {
						return
					}
					getLat[i].add(time.Since(t0))
				}
				if do("lock") {
					t0 := time.Now()
					id, err := s.LockKey(ctx, k, ttl)
					if !check("lock", err) {
						return
					}
					if !check("unlock", s.UnlockKey(ctx, id)) {
						return
					}
					lockLat[i].add(time.Since(t0))
				}
				rounds.Add(1)
			}
		}()
	}
	pctx, pstop := context.WithCancel(ctx)
	go progress(pctx, errw, start, []string{"rounds"}, &rounds)
	wg.Wait()
	pstop()
	if fail.err != nil {
		return outcome{}, fail.err
	}
	elapsed := time.Since(start)
	n := rounds.Load()
	ops := map[string]int64{"all": 4, "lock": 2}[c.kvop]
	ops = max(ops, 1)
	o.summary = fmt.Sprintf("elapsed %.2fs; %d rounds (%d operations)\n", elapsed.Seconds(), n, ops*n)
	all := []result{
		{name: "set", items: n, elapsed: elapsed, lat: merge(setLat...)},
		{name: "get", items: n, elapsed: elapsed, lat: merge(getLat...)},
		{name: "lock+unlock", items: n, elapsed: elapsed, lat: merge(lockLat...)},
	}
	for k, op := range []string{"set", "get", "lock"} {
		if do(op) {
			o.results = append(o.results, all[k])
		}
	}
	if c.kvop == "all" {
		o.note = "(items/s: rounds per second — each worker runs set, get, lock+unlock in turn)"
	}
	return o, nil
}
