package service

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// ObserveCommand labels a command by service, the request's command field and the
// answer's status code.
func TestObserveCommandLabels(t *testing.T) {
	enq := &pb.QueueRequest{Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{}}}
	lock := &pb.StorageRequest{Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{}}}
	for _, c := range []struct {
		req, resp            any
		service, kind, state string
	}{
		{enq, &pb.QueueResponse{Response: &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: 1}}}, "queue", "enqueue", "ok"},
		{enq, queueStatus(1, nil), "queue", "enqueue", "ok"},
		{&pb.QueueRequest{}, &pb.QueueResponse{Response: &pb.QueueResponse_Status{Status: &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT}}}, "queue", "unknown", "invalid_argument"},
		{lock, &pb.StorageResponse{Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_ITEM_BUSY}}}, "storage", "lock_key", "item_busy"},
	} {
		// Twice: the first observation resolves the series, the second uses the kept ones.
		for range 2 {
			before := testutil.ToFloat64(streamCommands.WithLabelValues(c.service, c.kind, c.state))
			timed := latencySamples(t, c.service, c.kind)
			ObserveCommand(c.req, c.resp, time.Now())
			if got := testutil.ToFloat64(streamCommands.WithLabelValues(c.service, c.kind, c.state)); got != before+1 {
				t.Errorf("%T %s: %s/%s/%s counted %v times, want once", c.req, c.kind, c.service, c.kind, c.state, got-before)
			}
			if got := latencySamples(t, c.service, c.kind); got != timed+1 {
				t.Errorf("%s/%s: timed %d times, want once", c.service, c.kind, got-timed)
			}
		}
	}
}

// latencySamples is how many commands the latency histogram of service and kind holds.
func latencySamples(t *testing.T, service, kind string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := streamCommandSeconds.WithLabelValues(service, kind).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// The hook costs no allocation per command.
func BenchmarkObserveCommand(b *testing.B) {
	req := &pb.QueueRequest{Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{}}}
	resp := &pb.QueueResponse{Response: &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: 1}}}
	began := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		ObserveCommand(req, resp, began)
	}
}
