package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clbs-io/octopusmq/client"
)

// The snapshot workload: enqueue at a steady rate while the server takes snapshots and
// compare the latency of the calls that overlapped a snapshot with the others.
//
// A snapshot is taken through the backup endpoint (GET /v1/cluster/snapshot on the first
// -addr; followers redirect to the leader). The server encodes the state under the same
// lock its Raft snapshots take, so a call that overlaps the encoding shows what an
// automatic snapshot costs the applies. The window of a snapshot runs from the request to
// the last byte of the response: the encoding (before the headers) and the transfer of the
// body, whose writes and freed memory the leader also pays for.

// window is one snapshot's time span and size.
type window struct {
	start, end time.Time
	bytes      int64
}

// timedSample is one call: when it was due and when its answer came.
type timedSample struct {
	due, end time.Time
}

// snapshotURL is the backup endpoint of the first -addr.
func snapshotURL(c config) string {
	addr := strings.TrimSpace(strings.Split(c.addr, ",")[0])
	scheme := "http://"
	if c.tlsCA != "" {
		scheme = "https://"
	}
	return scheme + addr + "/v1/cluster/snapshot"
}

// takeSnapshot asks the server for a snapshot and reads it (discarding it).
func takeSnapshot(ctx context.Context, sc *scraper, url string) (window, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return window{}, err
	}
	if sc.token != "" {
		req.Header.Set("Authorization", "Bearer "+sc.token)
	}
	w := window{start: time.Now()}
	resp, err := sc.hc.Do(req)
	if err != nil {
		return window{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return window{}, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	w.bytes, err = io.Copy(io.Discard, resp.Body)
	w.end = time.Now()
	return w, err
}

// overlaps reports whether the call [s.due, s.end] overlaps one of the windows.
func overlaps(s timedSample, ws []window) bool {
	for _, w := range ws {
		if s.due.Before(w.end) && s.end.After(w.start) {
			return true
		}
	}
	return false
}

// runSnapshot pre-fills the queue with -prefill items (untimed, so the snapshots have
// something to encode), then enqueues one item per call at -rate items/s in total from
// -producers streams for -duration, taking -snapshots snapshots spread evenly over the run.
func runSnapshot(parent context.Context, c config, errw io.Writer, sc *scraper, ready func()) (outcome, error) {
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
	if err := admin.EnsureQueue(ctx, client.QueueConfig{Name: c.queue}); err != nil {
		return outcome{}, fmt.Errorf("creating queue %q: %w", c.queue, err)
	}
	if c.prefill > 0 {
		pc := c
		pc.items = c.prefill
		if _, err := prefill(ctx, pc, opts, errw); err != nil {
			return outcome{}, err
		}
	}
	o := outcome{title: fmt.Sprintf("snapshot workload on %s: %d producers, %d items/s for %s, %d snapshots, %d pre-filled items, %d B payload",
		c.addr, c.producers, c.rate, c.duration, c.snapshots, c.prefill, c.size)}

	queues := make([]*client.QueueClient, c.producers)
	for i := range queues {
		q, err := client.NewQueueClient(c.addr, c.queue, opts...)
		if err != nil {
			return outcome{}, err
		}
		defer q.Close()
		queues[i] = q
	}
	ready()
	var enqueued atomic.Int64
	start := time.Now()
	deadline := start.Add(c.duration)
	interval := time.Duration(float64(time.Second) * float64(c.producers) / float64(c.rate))
	calls := make([][]timedSample, c.producers)
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each producer's calls are due on a grid (offset per producer); a call's
			// latency counts from when it was due, so a stall also counts the calls it
			// held back. A producer more than one interval late skips the missed slots.
			due := start.Add(interval * time.Duration(i) / time.Duration(c.producers))
			value := make([]byte, c.size)
			for ctx.Err() == nil && due.Before(deadline) {
				if d := time.Until(due); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				if _, err := q.Enqueue(ctx, &client.InputItem{Value: value}); err != nil {
					if ctx.Err() == nil {
						fail.set(fmt.Errorf("enqueue: %w", err))
					}
					return
				}
				end := time.Now()
				calls[i] = append(calls[i], timedSample{due: due, end: end})
				enqueued.Add(1)
				due = due.Add(interval)
				if end.Sub(due) > interval {
					due = end
				}
			}
		}()
	}

	var windows []window
	swg := sync.WaitGroup{}
	swg.Add(1)
	go func() {
		defer swg.Done()
		url := snapshotURL(c)
		for k := 1; k <= c.snapshots; k++ {
			at := start.Add(c.duration * time.Duration(k) / time.Duration(c.snapshots+1))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			w, err := takeSnapshot(ctx, sc, url)
			if err != nil {
				if ctx.Err() == nil {
					fail.set(fmt.Errorf("snapshot: %w", err))
				}
				return
			}
			windows = append(windows, w)
		}
	}()

	pctx, pstop := context.WithCancel(ctx)
	go progress(pctx, errw, start, []string{"enqueued"}, &enqueued)
	wg.Wait()
	swg.Wait()
	pstop()
	if fail.err != nil {
		return outcome{}, fail.err
	}
	elapsed := time.Since(start)
	if c.samples != "" {
		if err := writeSamples(c.samples, calls, windows); err != nil {
			return outcome{}, err
		}
	}
	var inside, outside samples
	var nIn, nOut int64
	for _, cs := range calls {
		for _, s := range cs {
			if overlaps(s, windows) {
				inside.add(s.end.Sub(s.due))
				nIn++
			} else {
				outside.add(s.end.Sub(s.due))
				nOut++
			}
		}
	}
	var snapLat samples
	var snapBytes int64
	for _, w := range windows {
		snapLat.add(w.end.Sub(w.start))
		snapBytes = max(snapBytes, w.bytes)
	}
	n := enqueued.Load()
	o.summary = fmt.Sprintf("elapsed %.2fs; %d enqueued, %d snapshots (largest %s)\n", elapsed.Seconds(), n, len(windows), mb(float64(snapBytes)))
	o.results = []result{
		{name: "enqueue", items: n, elapsed: elapsed, lat: merge(&inside, &outside)},
		{name: "in snapshot", items: nIn, elapsed: elapsed, lat: merge(&inside)},
		{name: "outside", items: nOut, elapsed: elapsed, lat: merge(&outside)},
		{name: "snapshot", items: int64(len(windows)), elapsed: elapsed, lat: merge(&snapLat)},
	}
	o.note = "(latency per call from when it was due; \"in snapshot\": the calls that overlapped a snapshot's encoding or transfer,\n" +
		" \"outside\": the others; snapshot: from the request to the response's last byte)"
	return o, nil
}

// writeSamples writes one line per snapshot window ("window START END BYTES") and per call
// ("call DUE LATENCY"), times in Unix nanoseconds and latencies in nanoseconds, calls in
// the order they were due.
func writeSamples(path string, calls [][]timedSample, windows []window) error {
	var all []timedSample
	for _, cs := range calls {
		all = append(all, cs...)
	}
	slices.SortFunc(all, func(a, b timedSample) int { return a.due.Compare(b.due) })
	var b strings.Builder
	for _, w := range windows {
		fmt.Fprintf(&b, "window %d %d %d\n", w.start.UnixNano(), w.end.UnixNano(), w.bytes)
	}
	for _, s := range all {
		fmt.Fprintf(&b, "call %d %d\n", s.due.UnixNano(), s.end.Sub(s.due).Nanoseconds())
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
