package server

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

var (
	rpcTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_grpc_requests_total", Help: "Unary gRPC requests (REST included) by method and code.",
	}, []string{"method", "code"})
	rpcSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "octopusmq_grpc_request_seconds", Help: "Unary gRPC request latency by method.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
	}, []string{"method"})
	streamsOpen = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "octopusmq_grpc_streams_open", Help: "Open gRPC streams by method.",
	}, []string{"method"})
)

func unaryMetrics(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	rpcSeconds.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	rpcTotal.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	return resp, err
}

func streamMetrics(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	g := streamsOpen.WithLabelValues(info.FullMethod)
	g.Inc()
	defer g.Dec()
	return handler(srv, ss)
}

// stateCollector reports the replicated state at scrape time: totals over every queue and
// storage, series per queue and per storage for the largest ones only (Config.MetricsTop,
// so the body stays bounded however many exist), and this node's Raft position and clock.
type stateCollector struct{ s *Server }

// DefaultMetricsTop is how many queues (and storages) get series of their own by default.
const DefaultMetricsTop = 100

var (
	descQueues        = prometheus.NewDesc("octopusmq_queues", "Queues that exist.", nil, nil)
	descQueuesItems   = prometheus.NewDesc("octopusmq_queues_items", "Items in all queues (waiting + active).", nil, nil)
	descQueuesActive  = prometheus.NewDesc("octopusmq_queues_active_items", "Pulled, uncommitted items in all queues.", nil, nil)
	descStorages      = prometheus.NewDesc("octopusmq_storages", "Storages that exist.", nil, nil)
	descStoragesKeys  = prometheus.NewDesc("octopusmq_storages_keys", "Keys in all storages.", nil, nil)
	descStoragesLocks = prometheus.NewDesc("octopusmq_storages_locked_keys", "Locked keys in all storages.", nil, nil)
	descQueueItems    = prometheus.NewDesc("octopusmq_queue_items", "Items in a queue (waiting + active); only the queues with the most items are reported (--metrics-top).", []string{"queue"}, nil)
	descQueueActive   = prometheus.NewDesc("octopusmq_queue_active_items", "Pulled, uncommitted items in a queue; the queues of octopusmq_queue_items.", []string{"queue"}, nil)
	descStorageKeys   = prometheus.NewDesc("octopusmq_storage_keys", "Keys in a storage; only the storages with the most keys are reported (--metrics-top).", []string{"storage"}, nil)
	descStorageLocks  = prometheus.NewDesc("octopusmq_storage_locked_keys", "Locked keys in a storage; the storages of octopusmq_storage_keys.", []string{"storage"}, nil)
	descApplied       = prometheus.NewDesc("octopusmq_raft_applied_index", "Last Raft log index applied on this node.", nil, nil)
	descLeader        = prometheus.NewDesc("octopusmq_raft_leader", "1 when this node is the Raft leader.", nil, nil)
	descClockBounded  = prometheus.NewDesc("octopusmq_clock_bounded_entries_total",
		"Log entries this node stamped with a bounded time because its wall clock was ahead of or behind the log's clock (side).", []string{"side"}, nil)
	descClockSkew = prometheus.NewDesc("octopusmq_clock_skew_seconds", "This node's wall clock minus the log's clock as this node estimates it.", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descQueues, descQueuesItems, descQueuesActive, descStorages, descStoragesKeys, descStoragesLocks,
		descQueueItems, descQueueActive, descStorageKeys, descStorageLocks, descApplied, descLeader, descClockBounded, descClockSkew,
	} {
		ch <- d
	}
	for _, d := range stateDescs {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st := c.s.node.State()
	top := c.s.cfg.MetricsTop

	queues := st.ListQueues()
	var items, active float64
	for _, q := range queues {
		items += float64(q.GetCount())
		active += float64(q.GetActive())
	}
	gauge(descQueues, float64(len(queues)))
	gauge(descQueuesItems, items)
	gauge(descQueuesActive, active)
	topQueues := largest(slices.Clone(queues), top, (*pb.ListQueueItem).GetCount)
	for _, q := range topQueues {
		gauge(descQueueItems, float64(q.GetCount()), q.GetQueueName())
		gauge(descQueueActive, float64(q.GetActive()), q.GetQueueName())
	}
	c.collectQueues(ch, queues, topQueues)

	storages := st.ListStorages()
	var keys, locked float64
	for _, s := range storages {
		keys += float64(s.GetCount())
		locked += float64(s.GetActive())
	}
	gauge(descStorages, float64(len(storages)))
	gauge(descStoragesKeys, keys)
	gauge(descStoragesLocks, locked)
	for _, s := range largest(storages, top, (*pb.ListStorageItem).GetCount) {
		gauge(descStorageKeys, float64(s.GetCount()), s.GetStorageName())
		gauge(descStorageLocks, float64(s.GetActive()), s.GetStorageName())
	}

	gauge(descApplied, float64(c.s.node.AppliedIndex()))
	leader := 0.0
	if c.s.node.IsLeader() {
		leader = 1
	}
	gauge(descLeader, leader)
	cs := c.s.node.ClockStats()
	ch <- prometheus.MustNewConstMetric(descClockBounded, prometheus.CounterValue, float64(cs.BoundedAhead), "ahead")
	ch <- prometheus.MustNewConstMetric(descClockBounded, prometheus.CounterValue, float64(cs.BoundedBehind), "behind")
	gauge(descClockSkew, cs.Skew.Seconds())
	c.collectRaft(ch)
}

// largest returns the n elements of xs (ordered by name) with the largest size, keeping
// name order among equal sizes, so the same ones are reported scrape after scrape.
func largest[T any](xs []T, n int, size func(T) uint32) []T {
	if len(xs) <= n {
		return xs
	}
	slices.SortStableFunc(xs, func(a, b T) int { return cmp.Compare(size(b), size(a)) })
	return xs[:max(n, 0)]
}
