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
//
// A path whose last segment ends in a custom verb (":purge", ":lock") that a route of some
// method serves belongs to that route: another method's route without a verb that would
// take the verb as part of a name or key (GET /v1/queues/{queue_name} for
// GET /v1/queues/jobs:purge) does not serve it, so the request answers 405. A name or key
// that really ends in such a suffix escapes its colon (%3A). A deep wildcard ({key=**})
// needs a segment (strict matching), so PUT /v1/storages/kv/keys is the list route asked
// with PUT, not PutKey of an empty key.
type routes struct {
	gw  *runtime.ServeMux
	mux *http.ServeMux
}

type probeKey struct{}

// probe is what routing a probe found: whether a route matched, and its pattern's verb.
type probe struct {
	hit  bool
	verb string
}

// probeMethods are the methods Allow may list.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (rt *routes) options() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithMiddlewares(func(next runtime.HandlerFunc) runtime.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
				if p, ok := r.Context().Value(probeKey{}).(*probe); ok {
					p.hit = true
					if pat, ok := runtime.HTTPPattern(r.Context()); ok {
						p.verb = pat.Verb()
					}
					return
				}
				if rt.verbOfAnotherMethod(w, r) {
					return
				}
				next(w, r, params)
			}
		}),
		runtime.WithRoutingErrorHandler(rt.routingError),
		runtime.WithStrictDeepWildcardMatching(),
	}
}

func (rt *routes) routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
	if _, isProbe := ctx.Value(probeKey{}).(*probe); isProbe {
		return
	}
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		if allow := rt.allowed(r); len(allow) > 0 && !slices.Contains(allow, r.Method) {
			notAllowed(ctx, mux, m, w, r, allow, "")
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
}

// verbOfAnotherMethod answers 405 (and reports true) when r matched a gateway route without
// a verb while its last path segment ends in the verb of a route served with other methods.
// Otherwise (a name that merely contains ':') the matched route runs and names the field.
func (rt *routes) verbOfAnotherMethod(w http.ResponseWriter, r *http.Request) bool {
	if pat, ok := runtime.HTTPPattern(r.Context()); !ok || pat.Verb() != "" {
		return false
	}
	// The gateway matches the escaped path: an escaped colon (%3A) is part of a name or key.
	path := r.URL.EscapedPath()
	if !strings.Contains(path[strings.LastIndexByte(path, '/')+1:], ":") {
		return false
	}
	allow := rt.allowed(r)
	if len(allow) == 0 || slices.Contains(allow, r.Method) {
		return false
	}
	_, m := runtime.MarshalerForRequest(rt.gw, r)
	notAllowed(r.Context(), rt.gw, m, w, r, allow, "; a key or name with this suffix escapes its ':' as %3A")
	return true
}

// notAllowed answers 405 with the Allow header.
func notAllowed(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, allow []string, hint string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{HTTPStatus: http.StatusMethodNotAllowed,
		Err: status.Errorf(codes.Unimplemented, "method %s is not allowed on %s; allowed: %s%s", r.Method, r.URL.Path, strings.Join(allow, ", "), hint)})
}

// allowed lists the methods some route serves r's path with. When a route with a verb
// matches, only such routes count (see routes).
func (rt *routes) allowed(r *http.Request) []string {
	var all, verbs []string
	for _, method := range probeMethods {
		p := &probe{}
		req := r.Clone(context.WithValue(r.Context(), probeKey{}, p))
		req.Method = method
		req.Body = http.NoBody
		req.Header = http.Header{}
		if _, pattern := rt.mux.Handler(req); pattern != "" && pattern != "/" {
			p.hit = true
			if i := strings.LastIndexByte(pattern, ':'); i > strings.LastIndexByte(pattern, '/') {
				p.verb = pattern[i+1:]
			}
		} else {
			rt.gw.ServeHTTP(discard{}, req)
		}
		if p.hit {
			all = append(all, method)
			if p.verb != "" {
				verbs = append(verbs, method)
			}
		}
	}
	if len(verbs) > 0 {
		return verbs
	}
	return all
}

// discard is a ResponseWriter that drops what a probe writes.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
