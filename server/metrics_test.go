package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// /metrics stays bounded however many queues and storages exist: series of their own only
// for the largest (--metrics-top, default 100), totals over all of them.
func TestMetricsBoundedWithManyQueues(t *testing.T) {
	e := startEnv(t, 120*time.Second)
	u := e.srv.URL
	const queues, storages = 1000, 150
	work := make(chan func() error)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := f(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range queues {
		work <- func() error { return e.admin.CreateQueue(e.ctx, client.QueueConfig{Name: fmt.Sprintf("q%04d", i)}) }
	}
	for i := range storages {
		work <- func() error { return e.admin.CreateStorage(e.ctx, fmt.Sprintf("s%03d", i)) }
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	kvJSON(t, "POST", u+"/v1/queues/q0999/items", `{"items":[{"value":"eA=="},{"value":"eA=="},{"value":"eA=="},{"value":"eA=="},{"value":"eA=="}]}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues/q0500/items", `{"items":[{"value":"eA=="},{"value":"eA=="}]}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues/q0500/items:pull", `{"batchSize":1}`, http.StatusOK)
	kvJSON(t, "PUT", u+"/v1/storages/s149/keys/k", `{"value":"eA=="}`, http.StatusOK)

	code, body := servertest.HTTP(t, "GET", u+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	t.Logf("/metrics with %d queues and %d storages: %d bytes", queues, storages, len(body))
	// Four series per reported queue (items, active, delayed, oldest age) and two per
	// storage, plus the process's and the data path's own.
	if len(body) > 128<<10 {
		t.Fatalf("/metrics is %d bytes, want it bounded (at most 128 KiB)", len(body))
	}
	series := func(prefix string) int {
		n := 0
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}
	for prefix, want := range map[string]int{
		"octopusmq_queue_items{": 100, "octopusmq_queue_active_items{": 100,
		"octopusmq_storage_keys{": 100, "octopusmq_storage_locked_keys{": 100,
		"octopusmq_queue_delayed_items{": 100, "octopusmq_queue_oldest_waiting_age_seconds{": 100,
		// Only priorities holding items: q0999's 5 and q0500's 1 waiting, all at priority 0.
		"octopusmq_queue_waiting_items{": 2,
	} {
		if got := series(prefix); got != want {
			t.Errorf("%d series %s...}, want %d", got, prefix, want)
		}
	}
	for _, want := range []string{
		"octopusmq_queues 1000\n", "octopusmq_queues_items 7\n", "octopusmq_queues_active_items 1\n",
		"octopusmq_storages 150\n", "octopusmq_storages_keys 1\n", "octopusmq_storages_locked_keys 0\n",
		// The largest first, then by name.
		`octopusmq_queue_items{queue="q0999"} 5` + "\n", `octopusmq_queue_items{queue="q0500"} 2` + "\n",
		`octopusmq_queue_active_items{queue="q0500"} 1` + "\n", `octopusmq_queue_items{queue="q0000"} 0` + "\n",
		`octopusmq_storage_keys{storage="s149"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	for _, absent := range []string{`queue="q0998"`, `storage="s148"`} {
		if strings.Contains(body, absent) {
			t.Errorf("/metrics reports %s, beyond the 100 largest", absent)
		}
	}
}
