// Command octopusmq-bench drives a running OctopusMQ server and measures it.
//
// The queue workload (default) runs N producers and M consumers, each with its own client
// (one stream), over one queue (created if missing). Producers enqueue -items items of
// -size bytes in batches of -batch (1: Enqueue, more: BatchEnqueue); consumers Pull up to
// -batch items and Commit them in one call. It reports throughput (items/s) and latency
// percentiles (p50, p99, p999, max) per call for enqueue and for pull+commit (from sending
// the pull to the commit's answer, for pulls that returned items), and the delivery latency
// from an item's enqueue call to its pull.
//
// The kv workload runs -producers workers over one storage (created if missing); each
// round sets a key, gets it, and locks and unlocks it. It reports the rate and latency of
// set, get and lock+unlock.
//
// With -duration the producers (kv: workers) stop after that time instead of after -items
// items; consumers then drain what was enqueued. Progress is printed once a second on
// stderr; the report goes to stdout.
//
//	go run ./cmd/octopusmq-bench -producers 4 -consumers 4 -items 100000 -size 256 -batch 64
//	go run ./cmd/octopusmq-bench -workload kv -producers 8 -duration 10s
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
	duration  time.Duration
	workload  string
	token     string
	tlsCA     string
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "localhost:4123", "server address (host:port, or several separated by commas)")
	flag.StringVar(&c.queue, "queue", "bench", "queue to use (created if missing)")
	flag.StringVar(&c.storage, "storage", "bench-kv", "storage of the kv workload (created if missing)")
	flag.IntVar(&c.producers, "producers", 4, "producers (kv: workers)")
	flag.IntVar(&c.consumers, "consumers", 4, "consumers")
	flag.Int64Var(&c.items, "items", 100000, "items to enqueue in total (kv: rounds of set, get, lock+unlock)")
	flag.IntVar(&c.size, "size", 256, "payload bytes per item (kv: per value)")
	flag.IntVar(&c.batch, "batch", 1, "enqueue batch size and pull batch size")
	flag.DurationVar(&c.duration, "duration", 0, "run producers (kv: workers) for this long instead of -items")
	flag.StringVar(&c.workload, "workload", "queue", "queue or kv")
	flag.StringVar(&c.token, "token", os.Getenv("OCTOPUSMQ_TOKEN"), "bearer token to send (default $OCTOPUSMQ_TOKEN)")
	flag.StringVar(&c.tlsCA, "tls-ca", os.Getenv("OCTOPUSMQ_TLS_CA"), "connect with TLS, trusting this PEM CA bundle (default $OCTOPUSMQ_TLS_CA)")
	flag.Parse()
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq-bench:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	if c.workload == "kv" {
		err = runKV(ctx, c, os.Stdout, os.Stderr)
	} else {
		err = runQueue(ctx, c, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "octopusmq-bench:", err)
		os.Exit(1)
	}
}

func (c config) check() error {
	switch {
	case c.workload != "queue" && c.workload != "kv":
		return fmt.Errorf("-workload must be queue or kv, not %q", c.workload)
	case c.producers < 1 || (c.workload == "queue" && c.consumers < 1):
		return errors.New("-producers and -consumers must be at least 1")
	case c.items < 1 && c.duration <= 0:
		return errors.New("-items must be at least 1 (or give -duration)")
	case c.size < 0 || c.batch < 1:
		return errors.New("-size must be >= 0 and -batch >= 1")
	}
	return nil
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

func runQueue(parent context.Context, c config, out, errw io.Writer) error {
	opts, err := c.clientOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fail := &firstErr{cancel: cancel}

	admin, err := client.NewAdminClient(c.addr, opts...)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.EnsureQueue(ctx, client.QueueConfig{Name: c.queue}); err != nil {
		return fmt.Errorf("creating queue %q: %w", c.queue, err)
	}
	if qs, err := admin.ListQueues(ctx); err == nil {
		for _, q := range qs {
			if q.Name == c.queue && q.Count > 0 {
				fmt.Fprintf(errw, "warning: queue %q already holds %d items\n", c.queue, q.Count)
			}
		}
	}
	fmt.Fprintf(out, "queue workload on %s: %d producers, %d consumers, %s, %d B payload, batch %d\n",
		c.addr, c.producers, c.consumers, amount(c), c.size, c.batch)

	var enqueued, consumed atomic.Int64
	producersDone := make(chan struct{})
	var prodEnd, consEnd atomic.Int64 // unix ns of the last producer / consumer finishing
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}

	enqLat := make([]*samples, c.producers)
	var pwg sync.WaitGroup
	for i := range c.producers {
		enqLat[i] = &samples{}
		q, err := client.NewQueueClient(c.addr, c.queue, opts...)
		if err != nil {
			return err
		}
		defer q.Close()
		pwg.Add(1)
		go func(i int, q *client.QueueClient) {
			defer pwg.Done()
			defer func() { prodEnd.Store(max(prodEnd.Load(), time.Now().UnixNano())) }()
			todo := share(c.items, i, c.producers)
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
				enqLat[i].add(time.Since(t0))
				sent += n
				enqueued.Add(n)
			}
		}(i, q)
	}
	go func() { pwg.Wait(); close(producersDone) }()

	pcLat := make([]*samples, c.consumers)
	delLat := make([]*samples, c.consumers)
	var cwg sync.WaitGroup
	for i := range c.consumers {
		pcLat[i], delLat[i] = &samples{}, &samples{}
		q, err := client.NewQueueClient(c.addr, c.queue, append(opts, client.WithPullTimeout(500*time.Millisecond))...)
		if err != nil {
			return err
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
					if len(it.Value) >= 8 {
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
	go progress(pctx, errw, start, []string{"enqueued", "consumed"}, &enqueued, &consumed)
	cwg.Wait()
	pwg.Wait()
	pstop()
	if fail.err != nil {
		return fail.err
	}
	if parent.Err() != nil {
		fmt.Fprintln(out, "interrupted: partial results")
	}
	total := time.Since(start)
	fmt.Fprintf(out, "elapsed %.2fs; %d enqueued, %d pulled and committed\n", total.Seconds(), enqueued.Load(), consumed.Load())
	results := []result{
		{name: "enqueue", items: enqueued.Load(), elapsed: time.Unix(0, prodEnd.Load()).Sub(start), lat: merge(enqLat...)},
		{name: "pull+commit", items: consumed.Load(), elapsed: time.Unix(0, consEnd.Load()).Sub(start), lat: merge(pcLat...)},
	}
	note := "(latency per call: an enqueue call carries -batch items, a pull+commit up to -batch"
	if c.size >= 8 { // the payload carries the enqueue time
		results = append(results, result{name: "delivery", items: consumed.Load(), elapsed: results[1].elapsed, lat: merge(delLat...)})
		note += ";\n delivery: from an item's enqueue call to its pull, per item"
	}
	fmt.Fprint(out, report(results))
	fmt.Fprintln(out, note+")")
	return nil
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

func runKV(parent context.Context, c config, out, errw io.Writer) error {
	opts, err := c.clientOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	fail := &firstErr{cancel: cancel}
	admin, err := client.NewAdminClient(c.addr, opts...)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.EnsureStorage(ctx, c.storage); err != nil {
		return fmt.Errorf("creating storage %q: %w", c.storage, err)
	}
	fmt.Fprintf(out, "kv workload on %s: %d workers, %s, %d B values (each round: set, get, lock+unlock)\n",
		c.addr, c.producers, amount(c), c.size)

	var rounds atomic.Int64
	setLat, getLat, lockLat := make([]*samples, c.producers), make([]*samples, c.producers), make([]*samples, c.producers)
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}
	var wg sync.WaitGroup
	for i := range c.producers {
		setLat[i], getLat[i], lockLat[i] = &samples{}, &samples{}, &samples{}
		s, err := client.NewStorageClient(c.addr, c.storage, opts...)
		if err != nil {
			return err
		}
		defer s.Close()
		wg.Add(1)
		go func(i int, s *client.StorageClient) {
			defer wg.Done()
			todo := share(c.items, i, c.producers)
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
				key := []byte(fmt.Sprintf("bench-%d-%d", i, n%1000))
				t0 := time.Now()
				_, err := s.SetKey(ctx, key, value, nil, false)
				if !check("set", err) {
					return
				}
				t1 := time.Now()
				_, err = s.GetKey(ctx, key)
				if !check("get", err) {
					return
				}
				t2 := time.Now()
				id, err := s.LockKey(ctx, key, ttl)
				if !check("lock", err) {
					return
				}
				if !check("unlock", s.UnlockKey(ctx, id)) {
					return
				}
				t3 := time.Now()
				setLat[i].add(t1.Sub(t0))
				getLat[i].add(t2.Sub(t1))
				lockLat[i].add(t3.Sub(t2))
				rounds.Add(1)
			}
		}(i, s)
	}
	pctx, pstop := context.WithCancel(ctx)
	go progress(pctx, errw, start, []string{"rounds"}, &rounds)
	wg.Wait()
	pstop()
	if fail.err != nil {
		return fail.err
	}
	if parent.Err() != nil {
		fmt.Fprintln(out, "interrupted: partial results")
	}
	elapsed := time.Since(start)
	n := rounds.Load()
	fmt.Fprintf(out, "elapsed %.2fs; %d rounds (%d operations)\n", elapsed.Seconds(), n, 4*n)
	fmt.Fprint(out, report([]result{
		{name: "set", items: n, elapsed: elapsed, lat: merge(setLat...)},
		{name: "get", items: n, elapsed: elapsed, lat: merge(getLat...)},
		{name: "lock+unlock", items: n, elapsed: elapsed, lat: merge(lockLat...)},
	}))
	fmt.Fprintln(out, "(items/s: rounds per second — each worker runs set, get, lock+unlock in turn)")
	return nil
}
