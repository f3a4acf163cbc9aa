// Package metricstest drives real traffic through the Go client against running servers
// and scrapes their /metrics, for tests that check which series a live server exports
// (the metrics list in the README, the names the deploy/ dashboards and alerts use).
package metricstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
)

// Traffic names the queues and storage Traffic creates.
const (
	WorkQueue = "metrics-work"
	DeadQueue = "metrics-dlq"
	Storage   = "metrics-locks"
)

// Traffic runs, through the Go client against target (one address or several,
// comma-separated), the traffic every metric of the list needs: enqueues at two priorities,
// a delayed item, pulls, commits, a requeue and a redelivery, an item dead-lettered at max
// deliveries, one expired by ttl (dead-lettered too), a lock granted and a lock that waits on
// a busy key until its timeout, and management calls (unary). opts are the clients' options
// (TLS, token). It fails t on any unexpected outcome. Until done is called, the expired
// item stays pulled (active) in the dead-letter queue and the lock stays held.
func Traffic(t testing.TB, target string, opts ...client.Option) (done func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := client.NewAdminClient(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var closers []func() error
	done = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	closers = append(closers, admin.Close)
	ok := false
	defer func() {
		if !ok {
			done()
		}
	}()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("create dlq", admin.CreateQueue(ctx, client.QueueConfig{Name: DeadQueue}))
	must("create work", admin.CreateQueue(ctx, client.QueueConfig{Name: WorkQueue, Priorities: 4, MaxDeliveries: 2, DeadLetterQueue: DeadQueue}))
	must("create storage", admin.CreateStorage(ctx, Storage))
	if _, err := admin.ListQueues(ctx); err != nil {
		t.Fatal(err)
	}

	work, err := client.NewQueueClient(target, WorkQueue, append(opts, client.WithPullTimeout(10*time.Second))...)
	must("queue client", err)
	closers = append(closers, work.Close)
	dlq, err := client.NewQueueClient(target, DeadQueue, append(opts, client.WithPullTimeout(20*time.Second))...)
	must("dlq client", err)
	closers = append(closers, dlq.Close)

	// An item dead-lettered at max deliveries (2): pulled, requeued, pulled again (a
	// redelivery), requeued again.
	id, err := work.Enqueue(ctx, &client.InputItem{Priority: 3, Value: []byte("poison")})
	must("enqueue", err)
	for round := range 2 {
		it, err := work.PullSingle(ctx)
		must("pull", err)
		if it.Id != id {
			t.Fatalf("pull %d: got item %d, want %d", round, it.Id, id)
		}
		must("requeue", work.RequeueSingle(ctx, id, nil, 3))
	}
	dead, err := dlq.PullSingle(ctx)
	must("pull the dead-lettered item", err)
	if dead.Id != id {
		t.Fatalf("dead-letter queue: got item %d, want %d", dead.Id, id)
	}
	must("commit the dead-lettered item", dlq.CommitSingle(ctx, dead.Id))

	// An item whose ttl passes while it waits: the leader's tick expires it into the
	// dead-letter queue, where the pull waiting on it receives it.
	expiring, err := work.Enqueue(ctx, &client.InputItem{Priority: 0, Value: []byte("late"), TTL: durationpb.New(50 * time.Millisecond), Delay: durationpb.New(time.Hour)})
	must("enqueue with ttl", err)
	exp, err := dlq.PullSingle(ctx)
	must("pull the expired item", err)
	if exp.Id != expiring {
		t.Fatalf("dead-letter queue: got item %d, want the expired %d", exp.Id, expiring)
	}
	// Left in the dead-letter queue (active) so its gauge is not zero.

	// Waiting items at two priorities, one delayed, one committed.
	_, err = work.BatchEnqueue(ctx, []*client.InputItem{{Priority: 1, Value: []byte("a")}, {Priority: 2, Value: []byte("b")}, {Priority: 2, Value: []byte("c")}})
	must("batch enqueue", err)
	_, err = work.Enqueue(ctx, &client.InputItem{Priority: 1, Value: []byte("later"), Delay: durationpb.New(time.Hour)})
	must("enqueue delayed", err)
	items, err := work.Pull(ctx, 1)
	must("pull", err)
	if len(items) != 1 {
		t.Fatalf("pull: %d items, want 1", len(items))
	}
	must("commit", work.CommitSingle(ctx, items[0].Id))
	if _, err := work.Info(ctx); err != nil {
		t.Fatal(err)
	}

	// Locks: one granted; another client waits for the busy key until its timeout.
	holder, err := client.NewStorageClient(target, Storage, opts...)
	must("storage client", err)
	closers = append(closers, holder.Close)
	other, err := client.NewStorageClient(target, Storage, opts...)
	must("storage client", err)
	closers = append(closers, other.Close)
	_, err = holder.SetKey(ctx, []byte("k"), []byte("v"), nil, false)
	must("set", err)
	_, err = holder.LockKeyToken(ctx, []byte("k"), durationpb.New(time.Minute), 0)
	must("lock", err)
	if _, err := other.LockKeyToken(ctx, []byte("k"), durationpb.New(time.Minute), 200*time.Millisecond); !errors.Is(err, client.ErrItemBusy) && !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("lock of a busy key: %v, want busy or timeout after waiting", err)
	}
	if _, err := holder.GetKey(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	ok = true
	return done
}

// Scrape reads url's /metrics (token: a bearer token, "" for none) into metric families by
// name.
func Scrape(t testing.TB, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s/metrics: %v", url, err)
	}
	return fams
}

// Value sums the values of family's series whose labels include every name=value pair of
// labels (a counter's or gauge's value, a histogram's or summary's count); ok is false when
// no series matches.
func Value(fams map[string]*dto.MetricFamily, family string, labels ...string) (v float64, ok bool) {
	f := fams[family]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		ok = true
		switch {
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.GetSummary() != nil:
			v += float64(m.GetSummary().GetSampleCount())
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, ok
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Describe formats a series selector for messages.
func Describe(family string, labels ...string) string {
	s := family
	if len(labels) > 0 {
		s += "{"
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf("%s=%q", labels[i], labels[i+1])
		}
		s += "}"
	}
	return s
}
