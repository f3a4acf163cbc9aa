package chaostest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/clustertest"
)

// Config sizes a chaos run.
type Config struct {
	// Duration is how long the nemesis injects faults (at least one of each kind).
	Duration time.Duration
	// Hold is how long each fault lasts.
	Hold time.Duration
	// MaxOps bounds each worker's operations (the run stops by itself either way).
	MaxOps int
	// Faults are the kinds of fault injected (nil: every kind).
	Faults []Fault
}

// Run starts a 3-node cluster behind a proxied Raft network, runs the workloads while the
// nemesis injects faults for cfg.Duration, repairs everything, drains the queue, checks
// every guarantee, logs the summary and fails t on any violation.
func Run(t *testing.T, cfg Config) *Report {
	nw := NewNet()
	t.Cleanup(nw.Close)
	c := clustertest.New(t, 3,
		clustertest.WithFlags("--snapshot-threshold", "512", "--trailing-logs", "256", "--snapshot-interval", "2s"),
		clustertest.WithRaftAdvertise(func(n *clustertest.Node) string {
			addr, err := nw.Add(n.ID, n.RaftAddr)
			if err != nil {
				t.Fatal(err)
			}
			return addr
		}))
	r := NewReport()
	h := NewHistory()
	qc := NewQueueCheck(r)
	lc := NewLockCheck(r)

	setup, cancelSetup := context.WithTimeout(context.Background(), time.Minute)
	defer cancelSetup()
	admin, err := client.NewAdminClient(c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateQueue(setup, client.QueueConfig{Name: "jobs", Lease: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kv", "locks"} {
		if err := admin.CreateStorage(setup, s); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := client.NewStorageClient(c.Addrs(), "locks")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.SetKey(setup, []byte(lockKey), []byte("0"), nil, false); err != nil {
		t.Fatal(err)
	}
	ls.Close()

	target := c.Addrs()
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL())
	}
	nodeURLs := func() []string { return urls }

	// Workers stop when asked; the hard context only ends a run that would not stop.
	hard, cancelHard := context.WithTimeout(context.Background(), cfg.Duration+5*time.Minute)
	defer cancelHard()
	stopWriters := make(chan struct{}) // producers, kv workers, lockers
	stopConsumers := make(chan struct{})
	var writers, consumers sync.WaitGroup
	goWorker := func(wg *sync.WaitGroup, f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	for i := 0; i < 2; i++ {
		goWorker(&writers, func() { streamProducer(hard, target, fmt.Sprintf("sp%d", i), qc, r, stopWriters, cfg.MaxOps) })
		goWorker(&consumers, func() { streamConsumer(hard, target, fmt.Sprintf("sc%d", i), qc, r, stopConsumers) })
	}
	goWorker(&writers, func() { restProducer(hard, nodeURLs, "rp0", qc, r, stopWriters, cfg.MaxOps) })
	goWorker(&consumers, func() { restConsumer(hard, nodeURLs, "rc0", qc, r, stopConsumers) })
	for i := 0; i < 4; i++ {
		var store kvStore = restKV{nodeURLs}
		if i%2 == 0 {
			s, err := client.NewStorageClient(target, "kv")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			store = streamKV{s}
		}
		goWorker(&writers, func() { kvWorker(hard, i, store, h, r, stopWriters, cfg.MaxOps) })
	}
	for i := 0; i < 3; i++ {
		goWorker(&writers, func() { locker(hard, target, i, lc, r, stopWriters, cfg.MaxOps) })
	}
	goWorker(&writers, func() { restLocker(hard, nodeURLs, 0, lc, r, stopWriters, cfg.MaxOps) })
	goWorker(&writers, func() { staleProber(hard, target, lc, r, stopWriters, cfg.MaxOps) })

	names := map[string]string{}
	for _, n := range c.Nodes {
		names[n.Addr], names[n.RaftAddr], names[n.RaftAdvertise] = n.ID, n.ID+"-raft", n.ID+"-raft-proxy"
	}
	r.Names(names)
	nem := &Nemesis{c: c, net: nw, r: r, hold: cfg.Hold, recover: 60 * time.Second, faults: cfg.Faults}
	nem.Run(time.Now().Add(cfg.Duration))
	nem.Repair()

	close(stopWriters)
	writers.Wait()
	// Consumers drain what is left: every acknowledged enqueue must come out.
	drain := time.Now().Add(60 * time.Second)
	for len(qc.Missing()) > 0 && time.Now().Before(drain) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stopConsumers)
	consumers.Wait()

	qc.Finish()
	lc.Finish()
	res := h.Check(2 * time.Minute)
	switch res {
	case porcupine.Illegal:
		r.Violation("the key-value history (%d operations) is not linearizable", h.Len())
	case porcupine.Unknown:
		t.Logf("the linearizability check of %d operations timed out (inconclusive)", h.Len())
	}
	t.Logf("queue: %d acknowledged enqueues; locks: %d granted; kv: %d operations (%s)", qc.Acked(), lc.Grants(), h.Len(), res)
	t.Log(r.Summary())
	if dir := os.Getenv("OCTOPUSMQ_CHAOS_LOGS"); dir != "" {
		// The nodes' logs, to read a stall's server side (the cluster's folders are removed).
		for _, n := range c.Nodes {
			if b, err := os.ReadFile(n.LogPath); err == nil {
				_ = os.WriteFile(filepath.Join(dir, n.ID+".log"), b, 0o644)
			}
		}
	}
	if v := r.Violations(); len(v) > 0 {
		t.Errorf("%d violations", len(v))
	}
	return r
}
