package server

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/openapi"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/ui"
)

// newHTTPHandler builds the HTTP side of the client port: grpc-gateway (which calls this
// node's own gRPC server over an in-process connection, so REST passes through exactly the
// code gRPC clients reach, authorisation included), /openapi.json, /healthz, /readyz and
// /metrics, the dashboard (/ui) and the API docs (/docs), behind CORS when --cors-origins lists
// origins.
func newHTTPHandler(node *raftnode.Node, s *Server) (http.Handler, *grpc.ClientConn, error) {
	limits := s.svc.Limits()
	conn, err := s.internal.Dial(gatewayDialOptions(limits)...)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway connection: %w", err)
	}
	rt := &routes{}
	gw := runtime.NewServeMux(append(append(rt.options(), auth.GatewayOptions()...),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
			// Unknown fields are an error, so a misspelt field is reported, not ignored.
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithUnescapingMode(runtime.UnescapingModeAllCharacters),
	)...)
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		managementpb.RegisterManagementServiceHandler,
		managementpb.RegisterStorageManagementServiceHandler,
		octopusmqv1.RegisterClusterServiceHandler,
		octopusmqv1.RegisterQueueDataServiceHandler,
		octopusmqv1.RegisterStorageDataServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.Spec)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.failed.Load() {
			http.Error(w, "not ready: the client port failed", http.StatusServiceUnavailable)
			return
		}
		if !node.Ready() {
			http.Error(w, "not ready: no leader known, the leader's client address not known here, or the log not applied yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	// Process-wide metrics plus this server's state (its own registry, so several servers
	// can live in one process, as in tests).
	reg := prometheus.NewRegistry()
	reg.MustRegister(stateCollector{s})
	mux.Handle("GET /metrics", s.auth.RequireAny(promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, reg}, promhttp.HandlerOpts{})))
	ui.Register(mux)
	s.registerPprof(mux)
	mux.Handle("GET /v1/cluster/snapshot", s.auth.RequireAdmin("SnapshotSave", http.HandlerFunc(s.handleSnapshot)))
	mux.Handle("POST /v1/cluster/snapshot:restore", s.auth.RequireAdmin("SnapshotRestore", http.HandlerFunc(s.handleRestore)))
	// Request bodies are bounded (413), except the snapshot upload above (its own handler).
	mux.Handle("/", limitBody(gw, limits.MaxHTTPBodyBytes, gw))
	rt.gw, rt.mux = gw, mux
	return withCORS(s.cfg.CORSOrigins, mux), conn, nil
}
