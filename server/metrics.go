package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
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

// stateCollector reports the replicated state at scrape time: items per queue, keys per
// storage, and this node's Raft position.
type stateCollector struct{ s *Server }

var (
	descQueueItems   = prometheus.NewDesc("octopusmq_queue_items", "Items in a queue (waiting + active).", []string{"queue"}, nil)
	descQueueActive  = prometheus.NewDesc("octopusmq_queue_active_items", "Pulled, uncommitted items in a queue.", []string{"queue"}, nil)
	descStorageKeys  = prometheus.NewDesc("octopusmq_storage_keys", "Keys in a storage.", []string{"storage"}, nil)
	descStorageLocks = prometheus.NewDesc("octopusmq_storage_locked_keys", "Locked keys in a storage.", []string{"storage"}, nil)
	descApplied      = prometheus.NewDesc("octopusmq_raft_applied_index", "Last Raft log index applied on this node.", nil, nil)
	descLeader       = prometheus.NewDesc("octopusmq_raft_leader", "1 when this node is the Raft leader.", nil, nil)
	descClockBounded = prometheus.NewDesc("octopusmq_clock_bounded_entries_total",
		"Log entries this node stamped with a bounded time because its wall clock was ahead of or behind the log's clock (side).", []string{"side"}, nil)
	descClockSkew = prometheus.NewDesc("octopusmq_clock_skew_seconds", "This node's wall clock minus the log's clock as this node estimates it.", nil, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueItems, descQueueActive, descStorageKeys, descStorageLocks, descApplied, descLeader, descClockBounded, descClockSkew} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.node.State()
	for _, q := range st.ListQueues() {
		ch <- prometheus.MustNewConstMetric(descQueueItems, prometheus.GaugeValue, float64(q.GetCount()), q.GetQueueName())
		ch <- prometheus.MustNewConstMetric(descQueueActive, prometheus.GaugeValue, float64(q.GetActive()), q.GetQueueName())
	}
	for _, s := range st.ListStorages() {
		ch <- prometheus.MustNewConstMetric(descStorageKeys, prometheus.GaugeValue, float64(s.GetCount()), s.GetStorageName())
		ch <- prometheus.MustNewConstMetric(descStorageLocks, prometheus.GaugeValue, float64(s.GetActive()), s.GetStorageName())
	}
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(c.s.node.AppliedIndex()))
	leader := 0.0
	if c.s.node.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	cs := c.s.node.ClockStats()
	ch <- prometheus.MustNewConstMetric(descClockBounded, prometheus.CounterValue, float64(cs.BoundedAhead), "ahead")
	ch <- prometheus.MustNewConstMetric(descClockBounded, prometheus.CounterValue, float64(cs.BoundedBehind), "behind")
	ch <- prometheus.MustNewConstMetric(descClockSkew, prometheus.GaugeValue, cs.Skew.Seconds())
}
