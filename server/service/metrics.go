package service

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// Stream command metrics: the Go client's whole data path goes through the two streams, so
// every answered command is counted by service (queue, storage), kind (the request's
// command field: enqueue, pull, lock_key, ...) and status (the answer's status code, "ok"
// for data answers), and timed from its arrival to its answer. Every label takes values
// from a closed set (the protocol's enums), so the series stay bounded.
var (
	streamCommands = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_stream_commands_total",
		Help: "Stream commands answered, by service (queue, storage), kind (the command) and status (the answer's status code).",
	}, []string{"service", "kind", "status"})
	streamCommandSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "octopusmq_stream_command_seconds",
		Help:    "Stream command latency from arrival to answer, by service and kind (pulls and locks include their wait).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"service", "kind"})
	waitsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "octopusmq_waits_total",
		Help: "Commands that had to wait for a change (kind: pull with nothing visible, lock of a busy key, enqueue into a full queue).",
	}, []string{"kind"})
	waiting = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "octopusmq_waiting_commands",
		Help: "Commands waiting for a change now, by kind (pull, lock, enqueue).",
	}, []string{"kind"})
)

// ObserveCommand records one answered stream command: req is a *pb.QueueRequest or a
// *pb.StorageRequest, resp its answer, began when it arrived. It is the one hook of the
// stream path (called where a command is answered) so the handlers can change around it.
func ObserveCommand(req, resp any, began time.Time) {
	var service string
	var r protoreflect.Message
	var od protoreflect.OneofDescriptor
	switch q := req.(type) {
	case *pb.QueueRequest:
		service, r, od = "queue", q.ProtoReflect(), queueCommandOneof
	case *pb.StorageRequest:
		service, r, od = "storage", q.ProtoReflect(), storageCommandOneof
	default:
		return
	}
	var field protoreflect.FieldNumber // 0: no (known) command
	if fd := r.WhichOneof(od); fd != nil {
		field = fd.Number()
	}
	s := seriesOf(commandSeriesKey{service: service, field: field, status: answerStatus(resp)}, r)
	s.seconds.Observe(time.Since(began).Seconds())
	s.answered.Inc()
}

// The command oneofs of the two stream requests, looked up once.
var (
	queueCommandOneof   = (&pb.QueueRequest{}).ProtoReflect().Descriptor().Oneofs().ByName("command")
	storageCommandOneof = (&pb.StorageRequest{}).ProtoReflect().Descriptor().Oneofs().ByName("command")
)

// commandSeriesKey names the series one answered command is counted in.
type commandSeriesKey struct {
	service string
	field   protoreflect.FieldNumber
	status  string
}

// commandSeries are a command's two series, resolved once per label set: a label lookup
// (hash of the values, a locked map) per command was a measurable share of the stream
// path's CPU.
type commandSeries struct {
	seconds  prometheus.Observer
	answered prometheus.Counter
}

var commandSeriesCache sync.Map // commandSeriesKey → *commandSeries

func seriesOf(k commandSeriesKey, r protoreflect.Message) *commandSeries {
	if s, ok := commandSeriesCache.Load(k); ok {
		return s.(*commandSeries)
	}
	kind := commandKind(r.Interface())
	s := &commandSeries{
		seconds:  streamCommandSeconds.WithLabelValues(k.service, kind),
		answered: streamCommands.WithLabelValues(k.service, kind, k.status),
	}
	got, _ := commandSeriesCache.LoadOrStore(k, s)
	return got.(*commandSeries)
}

// commandKind is the name of the command field set in a stream request ("unknown": none,
// or one this server does not know).
func commandKind(m proto.Message) string {
	r := m.ProtoReflect()
	od := r.Descriptor().Oneofs().ByName("command")
	if od == nil {
		return "unknown"
	}
	fd := r.WhichOneof(od)
	if fd == nil {
		return "unknown"
	}
	return string(fd.Name())
}

// statusNames are the status label values, "ok" for STATUS_CODE_OK and so on.
var statusNames = func() map[pb.StatusCode]string {
	out := map[pb.StatusCode]string{}
	vals := pb.StatusCode(0).Descriptor().Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		out[pb.StatusCode(v.Number())] = strings.ToLower(strings.TrimPrefix(string(v.Name()), "STATUS_CODE_"))
	}
	return out
}()

// answerStatus is the status label of an answer: its status code, "ok" for a data answer.
func answerStatus(resp any) string {
	r, ok := resp.(interface{ GetStatus() *pb.StatusResponse })
	if !ok {
		return "none"
	}
	code := r.GetStatus().GetCode()
	if name, ok := statusNames[code]; ok {
		return name
	}
	return "other"
}

// waitBegin counts a command of kind ("pull", "lock", "enqueue") that starts waiting for
// a change; the function it returns ends the wait.
func waitBegin(kind string) (end func()) {
	waitsTotal.WithLabelValues(kind).Inc()
	g := waiting.WithLabelValues(kind)
	g.Inc()
	return g.Dec
}
