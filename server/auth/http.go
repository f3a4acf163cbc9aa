package auth

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type tlsStateKey struct{}

// ConnContext (http.Server.ConnContext) keeps a connection's TLS state: the connection
// mux hides the *tls.Conn from the HTTP server, which would leave Request.TLS nil.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if st, ok := tlsState(c); ok {
		return context.WithValue(ctx, tlsStateKey{}, &st)
	}
	return ctx
}

// WithTLSState fills Request.TLS from ConnContext for the handlers behind it.
func WithTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				r.TLS = st
			}
		}
		h.ServeHTTP(w, r)
	})
}

// GatewayOptions make the REST gateway pass a request's client certificate names to the
// gRPC server over the in-process connection (the Authorization header passes as
// authorization metadata by itself). The annotator's keys replace any a request's headers
// could produce.
func GatewayOptions() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
		md := metadata.Pairs(viaKey, "gateway")
		if r.TLS != nil {
			for _, n := range certIdentities(*r.TLS) {
				md.Append(certNamesKey, n)
			}
		}
		return md
	})}
}

// NodeContext marks an outgoing call on the in-process connection as made by the node
// itself (publishing its address), which is authorised as admin.
func NodeContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, viaKey, "node")
}

// RequireAdmin guards an HTTP route outside the gateway (backups): the caller must be
// admin. op names the operation in the audit log.
func (a *Auth) RequireAdmin(op string, h http.Handler) http.Handler {
	return a.require(needAdmin, op, h)
}

// RequireAny guards an HTTP route that any authenticated caller may read (/metrics).
func (a *Auth) RequireAny(h http.Handler) http.Handler { return a.require(needAny, "", h) }

func (a *Auth) require(n need, op string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := a.fromHTTP(r)
		if err == nil {
			err = id.check(n, "")
		}
		label := op
		if label == "" {
			label = r.URL.Path
		}
		attrs := []slog.Attr{slog.String("op", label), slog.String("remote", r.RemoteAddr)}
		if id != nil {
			attrs = append(attrs, slog.String("who", id.Name), slog.String("by", id.By))
		}
		if err != nil {
			st := status.Convert(err)
			code := http.StatusForbidden
			if st.Code() == codes.Unauthenticated {
				code = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="octopusmq"`)
			}
			a.audit.LogAttrs(r.Context(), slog.LevelWarn, "audit", append(attrs,
				slog.String("outcome", http.StatusText(code)), slog.String("err", st.Message()))...)
			http.Error(w, st.Message(), code)
			return
		}
		if op == "" {
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if rec.code >= 400 {
			level = slog.LevelWarn
		}
		a.audit.LogAttrs(r.Context(), level, "audit", append(attrs, slog.Int("status", rec.code))...)
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets a streamed download (a snapshot) reach the client as it is written.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the writer to http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
