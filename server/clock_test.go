package server_test

import (
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// jumpClock is the system clock with a wall clock the test can move.
type jumpClock struct {
	origin time.Time
	jump   atomic.Int64
}

func (c *jumpClock) Wall() int64         { return time.Now().UnixNano() + c.jump.Load() }
func (c *jumpClock) Mono() time.Duration { return time.Since(c.origin) }

// A leader whose wall clock jumps an hour ahead does not expire a 10-minute ttl, lease or
// lock: entry times follow its wall clock no faster than real time (plus the slew), also
// after a restart.
func TestWallClockJumpAheadExpiresNothingEarly(t *testing.T) {
	clock := &jumpClock{origin: time.Now()}
	srv := servertest.Start(t, servertest.WithClock(clock))
	u := srv.URL
	kvJSON(t, "POST", u+"/v1/queues", `{"queueName":"jobs","lease":"600s"}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues/jobs/items", `{"items":[{"value":"eA==","ttl":"600s"},{"value":"eQ==","ttl":"600s"}]}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues/jobs/items:pull", `{"batchSize":1}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/storages", `{"storageName":"kv"}`, http.StatusOK)
	kvJSON(t, "PUT", u+"/v1/storages/kv/keys/ttl", `{"value":"eA==","ttl":"600s"}`, http.StatusOK)
	kvJSON(t, "PUT", u+"/v1/storages/kv/keys/locked", `{"value":"eA=="}`, http.StatusOK)
	kvJSON(t, "POST", u+"/v1/storages/kv/keys/locked:lock", `{"lockTtl":"600s"}`, http.StatusOK)

	clock.jump.Store(int64(time.Hour))
	check := func(when string) {
		t.Helper()
		for range 5 { // entries stamped with the jumped wall clock
			kvJSON(t, "PUT", u+"/v1/storages/kv/keys/other", `{"value":"eA=="}`, http.StatusOK)
		}
		if code, body := servertest.HTTP(t, "GET", u+"/v1/storages/kv/keys/ttl", ""); code != http.StatusOK {
			t.Fatalf("%s: the key with a 10-minute ttl: %d %s", when, code, body)
		}
		kvWantHTTPError(t, "POST", u+"/v1/storages/kv/keys/locked:lock", `{}`, http.StatusConflict, "locked")
		q := kvJSON(t, "GET", u+"/v1/queues/jobs", "", http.StatusOK)["queue"].(map[string]any)
		if q["count"] != float64(2) || q["active"] != float64(1) {
			t.Fatalf("%s: queue %v, want 2 items, 1 of them active (leased)", when, q)
		}
		if skew := srv.Server().Node().ClockStats().Skew; skew < 50*time.Minute {
			t.Fatalf("%s: skew %v, want the hour the wall clock is ahead (less what the slew caught up)", when, skew)
		}
	}
	check("after the jump")
	_, metrics := servertest.HTTP(t, "GET", u+"/metrics", "")
	m := regexp.MustCompile(`octopusmq_clock_bounded_entries_total\{side="ahead"\} (\d+)`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatal("/metrics has no octopusmq_clock_bounded_entries_total{side=\"ahead\"}")
	}
	if n, _ := strconv.Atoi(m[1]); n < 5 {
		t.Fatalf("%d entries counted as bounded, want at least 5", n)
	}
	srv.Restart(t)
	check("after a restart")
}
