package server_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/metricstest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// shiftClock is the system clock moved by shift, its wall and monotonic clocks together:
// the log's time follows it exactly, forward jumps included.
type shiftClock struct {
	origin time.Time
	shift  atomic.Int64
}

func (c *shiftClock) Wall() int64 { return time.Now().UnixNano() + c.shift.Load() }
func (c *shiftClock) Mono() time.Duration {
	return time.Since(c.origin) + time.Duration(c.shift.Load())
}

// The oldest waiting age is reported for a queue far above 100 000 items (what a pass over
// the items used to be limited to), and it is the oldest *waiting* item's: an older item
// that is leased does not count.
func TestMetricsOldestWaitingAgeOfALargeQueue(t *testing.T) {
	clock := &shiftClock{origin: time.Now()}
	clock.shift.Store(int64(-2 * time.Hour))
	srv := servertest.Start(t, servertest.WithClock(clock))
	u := srv.URL
	kvJSON(t, "POST", u+"/v1/queues", `{"queueName":"backlog"}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues/backlog/items", `{"items":[{"value":"YQ=="}]}`, http.StatusOK) // 2 h ago: leased below
	clock.shift.Store(int64(-time.Hour))
	start := time.Now()
	kvJSON(t, "POST", u+"/v1/queues/backlog/items", `{"items":[{"value":"Yg=="}]}`, http.StatusOK) // 1 h ago: the oldest waiting
	clock.shift.Store(int64(-30 * time.Minute))
	batch := `{"items":[` + strings.Repeat(`{"value":"eA=="},`, 999) + `{"value":"eA=="}]}`
	const batches = 110
	for range batches {
		kvJSON(t, "POST", u+"/v1/queues/backlog/items", batch, http.StatusOK)
	}
	clock.shift.Store(0)
	kvJSON(t, "POST", u+"/v1/queues/backlog/items:pull", `{"batchSize":1}`, http.StatusOK) // the 2-hour-old item

	fams := metricstest.Scrape(t, u, "")
	elapsed := time.Since(start).Seconds()
	if v, ok := metricstest.Value(fams, "octopusmq_queue_items", "queue", "backlog"); !ok || v != 2+batches*1000 {
		t.Fatalf("octopusmq_queue_items{queue=backlog} = %v (%v), want %d", v, ok, 2+batches*1000)
	}
	for _, name := range []string{"octopusmq_queue_oldest_waiting_age_seconds", "octopusmq_queues_oldest_waiting_age_seconds"} {
		var labels []string
		if name == "octopusmq_queue_oldest_waiting_age_seconds" {
			labels = []string{"queue", "backlog"}
		}
		v, ok := metricstest.Value(fams, name, labels...)
		// An hour plus the real time since that item was enqueued (a second of margin
		// for the rounding of the log's clock).
		if !ok || v < 3600-1 || v > 3600+elapsed+1 {
			t.Errorf("%s = %v (reported: %v), want 3600 s plus at most the %.1f s the test took", metricstest.Describe(name, labels...), v, ok, elapsed)
		}
	}
}
