package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/clbs-io/octopusmq/server/service"
)

// internalMaxMessage is the receive limit of the node's own gRPC connections (the gateway's
// and the forwarder's): above any response limit a node can be configured with, so an
// answer the leader built is always delivered.
const internalMaxMessage = service.MaxMessageCeiling + 1<<20

// internalCallOptions are the call options of the node's own gRPC connections.
func internalCallOptions() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(internalMaxMessage), grpc.MaxCallSendMsgSize(internalMaxMessage))
}

// gatewayDialOptions are the options of the gateway's connection to this node's gRPC server:
// requests are checked before they are encoded, so REST clients get 400 for text that is
// not UTF-8 (rather than a 500 from the encoder) and 413 for a request over the request
// limit.
func gatewayDialOptions(l service.Limits) []grpc.DialOption {
	return []grpc.DialOption{
		internalCallOptions(),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if m, ok := req.(proto.Message); ok {
				if err := checkUTF8(m); err != nil {
					return err
				}
				if n := proto.Size(m); n > l.MaxRequestBytes {
					return &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge, Err: status.Errorf(codes.ResourceExhausted,
						"the request is %d bytes encoded; at most %d are allowed (--max-request-bytes)", n, l.MaxRequestBytes)}
				}
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
	}
}

// checkUTF8 reports a text field of m (from the URL path or query) that is not UTF-8.
func checkUTF8(m proto.Message) error {
	var bad protoreflect.FieldDescriptor
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.StringKind && fd.Cardinality() != protoreflect.Repeated && !utf8.ValidString(v.String()) {
			bad = fd
			return false
		}
		return true
	})
	if bad == nil {
		return nil
	}
	hint := ""
	if bad.Name() == "key" {
		hint = "; give a binary key base64-encoded: /v1/storages/{storage_name}/binary-keys/{base64 key}"
	} else if bad.Name() == "prefix" {
		hint = "; give a binary prefix base64-encoded as binaryPrefix"
	}
	return status.Errorf(codes.InvalidArgument, "%s is not UTF-8 text%s", bad.Name(), hint)
}

// limitBody reads the request body up to limit bytes before next sees it, and answers 413
// naming the limit for a larger one. (The gateway would turn a read error into a 400.)
func limitBody(gw *runtime.ServeMux, limit int, next http.Handler) http.Handler {
	tooLarge := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, m := runtime.MarshalerForRequest(gw, r)
		runtime.HTTPError(r.Context(), gw, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusRequestEntityTooLarge,
			Err: status.Errorf(codes.ResourceExhausted, "the request body is larger than %d bytes (--max-http-body-bytes)", limit)})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > int64(limit) {
			tooLarge(w, r)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					tooLarge(w, r)
					return
				}
				_, m := runtime.MarshalerForRequest(gw, r)
				runtime.HTTPError(r.Context(), gw, m, w, r, status.Errorf(codes.InvalidArgument, "reading the request body: %v", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// routes answers 405 with an Allow header for a known path asked with a method it does not
// serve, on the gateway's routes and the HTTP mux's own alike. It finds the allowed methods
// by routing the request again with each method, marked as a probe, so that a matching
// gateway handler only records the match (the middleware) instead of running.
type routes struct {
	gw  *runtime.ServeMux
	mux *http.ServeMux
}

type probeKey struct{}

// probeMethods are the methods Allow may list.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (rt *routes) options() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithMiddlewares(func(next runtime.HandlerFunc) runtime.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
				if hit, ok := r.Context().Value(probeKey{}).(*bool); ok {
					*hit = true
					return
				}
				next(w, r, params)
			}
		}),
		runtime.WithRoutingErrorHandler(rt.routingError),
	}
}

func (rt *routes) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	if _, probe := ctx.Value(probeKey{}).(*bool); probe {
		return
	}
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		if allow := rt.allowed(r); len(allow) > 0 && !slices.Contains(allow, r.Method) {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed,
				Err: status.Errorf(codes.Unimplemented, "method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", "))})
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
}

// allowed lists the methods some route serves r's path with.
func (rt *routes) allowed(r *http.Request) []string {
	var out []string
	for _, method := range probeMethods {
		hit := false
		req := r.Clone(context.WithValue(r.Context(), probeKey{}, &hit))
		req.Method = method
		req.Body = http.NoBody
		req.Header = http.Header{}
		if _, pattern := rt.mux.Handler(req); pattern != "" && pattern != "/" {
			hit = true
		} else {
			rt.gw.ServeHTTP(discard{}, req)
		}
		if hit {
			out = append(out, method)
		}
	}
	return out
}

// discard is a ResponseWriter that drops what a probe writes.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
