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
