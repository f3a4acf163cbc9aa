package auth_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// The tokens of the secured test server.
const (
	tokAdmin    = "admin-secret"
	tokProducer = "producer-secret" // producer:jobs-
	tokConsumer = "consumer-secret" // consumer:jobs-
	tokKV       = "kv-secret"       // kv:cache-
	tokWrong    = "not-a-token"
)

// secure is a TLS + tokens + client CA test server with a queue (jobs-1, other) and a
// storage (cache-1, secret) of each kind.
type secure struct {
	t      *testing.T
	srv    *servertest.Server
	ca     *servertest.CA
	dir    string
	tokens string // tokens file
	cert   string // server certificate file
	key    string
	log    *syncBuffer
	ctx    context.Context
}

func tokenLine(name, roles, token string) string {
	return fmt.Sprintf("%s %s %s\n", name, roles, auth.HashToken(token))
}

func startSecure(t *testing.T) *secure {
	t.Helper()
	dir := t.TempDir()
	ca := servertest.NewCA(t, "test-ca")
	cert, key, caFile := ca.WriteFiles(t, dir, "server")
	tokens := filepath.Join(dir, "tokens")
	content := "# name roles sha256(token)\n" +
		tokenLine("root", "admin", tokAdmin) +
		tokenLine("pusher", "producer:jobs-", tokProducer) +
		tokenLine("worker", "consumer:jobs-", tokConsumer) + // a comment after an entry
		tokenLine("cacher", "kv:cache-", tokKV) +
		"alice producer:jobs-,consumer:jobs- -\n"
	if err := os.WriteFile(tokens, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := servertest.Start(t, servertest.WithAuth(auth.Config{TLSCert: cert, TLSKey: key, TLSClientCA: caFile, TokensFile: tokens}),
		func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	s := &secure{t: t, srv: srv, ca: ca, dir: dir, tokens: tokens, cert: cert, key: key, log: logs, ctx: ctx}
	admin := s.admin(tokAdmin)
	for _, q := range []string{"jobs-1", "other"} {
		if err := admin.CreateQueue(ctx, client.QueueConfig{Name: q}); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []string{"cache-1", "secret"} {
		if err := admin.CreateStorage(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *secure) tlsConfig() *tls.Config { return &tls.Config{RootCAs: s.ca.Pool} }

func (s *secure) opts(token string) []client.Option {
	o := []client.Option{client.WithTLS(s.tlsConfig()), client.WithConnectTimeout(5 * time.Second)}
	if token != "" {
		o = append(o, client.WithToken(token))
	}
	return o
}

func (s *secure) admin(token string) *client.AdminClient {
	a, err := client.NewAdminClient(s.srv.Addr, s.opts(token)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { a.Close() })
	return a
}

// conn is a raw gRPC connection over TLS sending token (none when "").
func (s *secure) conn(token string, certs ...tls.Certificate) *grpc.ClientConn {
	cfg := s.tlsConfig()
	cfg.Certificates = certs
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if token != "" {
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), method, req, reply, cc, o...)
		}))
	}
	cc, err := grpc.NewClient(s.srv.Addr, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { cc.Close() })
	return cc
}

// http sends a REST request with token (none when "") and returns status and body.
func (s *secure) http(method, path, body, token string, certs ...tls.Certificate) (int, string) {
	s.t.Helper()
	cfg := s.tlsConfig()
	cfg.Certificates = certs
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer hc.CloseIdleConnections()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(s.ctx, method, s.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAuthUnary: every management and cluster call refuses a missing or wrong token (401),
// a non-admin (403, naming admin), and serves admin.
func TestAuthUnary(t *testing.T) {
	s := startSecure(t)
	calls := []struct {
		name string
		call func(cc *grpc.ClientConn) error
	}{
		{"CreateQueue", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewManagementServiceClient(cc).CreateQueue(s.ctx, &pb.CreateQueueRequest{QueueName: "jobs-new"})
			return err
		}},
		{"ResizeQueue", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewManagementServiceClient(cc).ResizeQueue(s.ctx, &pb.ResizeQueueRequest{QueueName: "jobs-1", MaxSize: 100})
			return err
		}},
		{"PauseQueue", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewManagementServiceClient(cc).PauseQueue(s.ctx, &pb.PauseQueueRequest{QueueName: "jobs-1"})
			return err
		}},
		{"ResumeQueue", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewManagementServiceClient(cc).ResumeQueue(s.ctx, &pb.ResumeQueueRequest{QueueName: "jobs-1"})
			return err
		}},
		{"DeleteQueue", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewManagementServiceClient(cc).DeleteQueue(s.ctx, &pb.DeleteQueueRequest{QueueName: "jobs-new"})
			return err
		}},
		{"CreateStorage", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewStorageManagementServiceClient(cc).CreateStorage(s.ctx, &pb.CreateStorageRequest{StorageName: "cache-new"})
			return err
		}},
		{"DeleteStorage", func(cc *grpc.ClientConn) error {
			_, err := managementpb.NewStorageManagementServiceClient(cc).DeleteStorage(s.ctx, &pb.DeleteStorageRequest{StorageName: "cache-new"})
			return err
		}},
		{"TransferLeadership", func(cc *grpc.ClientConn) error {
			_, err := octopusmqv1.NewClusterServiceClient(cc).TransferLeadership(s.ctx, &octopusmqv1.TransferLeadershipRequest{})
			if status := grpcCode(err); status == codes.FailedPrecondition || status == codes.InvalidArgument || status == codes.Unavailable {
				return nil // authorised; a single node has nobody to transfer to
			}
			return err
		}},
		{"RemoveMember", func(cc *grpc.ClientConn) error {
			_, err := octopusmqv1.NewClusterServiceClient(cc).RemoveMember(s.ctx, &octopusmqv1.RemoveMemberRequest{Id: "nobody"})
			if grpcCode(err) == codes.NotFound {
				return nil // authorised, and there is no such member
			}
			return err
		}},
	}
	none, wrong, worker, root := s.conn(""), s.conn(tokWrong), s.conn(tokConsumer), s.conn(tokAdmin)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.call(none), codes.Unauthenticated, "authorization: Bearer")
			wantCode(t, c.call(wrong), codes.Unauthenticated, "unknown or revoked bearer token")
			wantCode(t, c.call(worker), codes.PermissionDenied, "permission denied: admin required")
			if err := c.call(root); err != nil {
				t.Fatalf("admin: %v", err)
			}
		})
	}
	// Read-only listing: any authenticated caller, nobody else.
	_, err := managementpb.NewManagementServiceClient(none).ListQueues(s.ctx, &emptypb.Empty{})
	wantCode(t, err, codes.Unauthenticated, "")
	for _, cc := range []*grpc.ClientConn{worker, s.conn(tokKV)} {
		if _, err := managementpb.NewManagementServiceClient(cc).ListQueues(s.ctx, &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := managementpb.NewStorageManagementServiceClient(cc).ListStorages(s.ctx, &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		if _, err := octopusmqv1.NewClusterServiceClient(cc).GetCluster(s.ctx, &octopusmqv1.GetClusterRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	// gRPC health stays open.
	hr, err := healthpb.NewHealthClient(none).Check(s.ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health without a credential: %v %v", hr, err)
	}
	// The Go client reports the typed errors.
	if err := s.admin("").CreateQueue(s.ctx, client.QueueConfig{Name: "x"}); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	if err := s.admin(tokProducer).CreateQueue(s.ctx, client.QueueConfig{Name: "x"}); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("producer creating a queue: %v", err)
	}
	// The audit log names who did what, and the outcome.
	logs := s.log.String()
	for _, want := range []string{
		`logger=audit who=root by=token`, `op=CreateQueue target=jobs-new outcome=ok`,
		`who=worker by=token`, `outcome=denied`, `outcome=unauthenticated`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs)
		}
	}
}

func grpcCode(err error) codes.Code { return status.Code(err) }

// TestAuthREST: every REST route refuses a missing or wrong token (401) and a token of the
// wrong role or prefix (403), and serves the right one; health, readiness and the OpenAPI
// document stay open.
func TestAuthREST(t *testing.T) {
	s := startSecure(t)
	routes := []struct {
		method, path, body string
		good, bad          string // tokens
		want               int    // 0: anything but 401 and 403
	}{
		{"POST", "/v1/queues", `{"queueName":"jobs-rest"}`, tokAdmin, tokProducer, 200},
		{"GET", "/v1/queues", "", tokKV, "", 200},
		{"POST", "/v1/queues/jobs-1:pause", `{}`, tokAdmin, tokConsumer, 200},
		{"POST", "/v1/queues/jobs-1:resume", `{}`, tokAdmin, tokConsumer, 200},
		{"POST", "/v1/queues/jobs-1:resize", `{"maxSize":500}`, tokAdmin, tokConsumer, 200},
		{"DELETE", "/v1/queues/jobs-rest", "", tokAdmin, tokConsumer, 200},
		{"POST", "/v1/storages", `{"storageName":"cache-rest"}`, tokAdmin, tokKV, 200},
		{"GET", "/v1/storages", "", tokProducer, "", 200},
		{"DELETE", "/v1/storages/cache-rest", "", tokAdmin, tokKV, 200},
		{"GET", "/v1/cluster", "", tokConsumer, "", 200},
		{"POST", "/v1/cluster/members", `{"id":"","raftAddress":"127.0.0.1:1"}`, tokAdmin, tokConsumer, 0},
		{"DELETE", "/v1/cluster/members/nobody", "", tokAdmin, tokConsumer, 0},
		{"POST", "/v1/cluster:transferLeadership", `{}`, tokAdmin, tokConsumer, 0},
		{"POST", "/v1/queues/jobs-1/items", `{"items":[{"value":"aGk="},{"value":"aGk="},{"value":"aGk="},{"value":"aGk="}]}`, tokProducer, tokConsumer, 200},
		{"POST", "/v1/queues/other/items", `{"items":[{"value":"aGk="}]}`, tokAdmin, tokProducer, 200}, // prefix
		{"POST", "/v1/queues/jobs-1/items:pull", `{"batchSize":4,"timeout":"1s"}`, tokConsumer, tokProducer, 200},
		{"POST", "/v1/queues/jobs-1/items:extend", `{"ids":["1"],"lease":"60s"}`, tokConsumer, tokProducer, 200},
		{"POST", "/v1/queues/jobs-1/items:requeue", `{"items":[{"id":"1"}]}`, tokConsumer, tokProducer, 200},
		{"POST", "/v1/queues/jobs-1/items:commit", `{"ids":["2"]}`, tokConsumer, tokProducer, 200},
		{"POST", "/v1/queues/jobs-1/items:delete", `{"ids":["3"]}`, tokConsumer, tokProducer, 200},
		{"GET", "/v1/queues/jobs-1", "", tokProducer, tokKV, 200},
		{"GET", "/v1/queues/other", "", tokAdmin, tokConsumer, 200}, // prefix
		{"GET", "/v1/queues/jobs-1/items:peek", "", tokConsumer, tokProducer, 200},
		{"GET", "/v1/queues/jobs-1/stats", "", tokProducer, tokKV, 200},
		{"POST", "/v1/queues/jobs-1:redrive", `{}`, tokAdmin, tokConsumer, 0},
		{"POST", "/v1/queues/jobs-1:purge", `{}`, tokAdmin, tokConsumer, 200},
		{"PUT", "/v1/storages/cache-1/keys/k1", `{"value":"aGk="}`, tokKV, tokConsumer, 200},
		{"PUT", "/v1/storages/secret/keys/k1", `{"value":"aGk="}`, tokAdmin, tokKV, 200}, // prefix
		{"GET", "/v1/storages/cache-1/keys/k1", "", tokKV, tokProducer, 200},
		{"GET", "/v1/storages/cache-1/keys", "", tokKV, tokProducer, 200},
		{"POST", "/v1/storages/cache-1/keys/k1:lock", `{"lockTtl":"30s"}`, tokKV, tokProducer, 200},
		{"POST", "/v1/storages/cache-1:release", `{"id":"1","lockToken":"1"}`, tokKV, tokProducer, 0},
		{"POST", "/v1/storages/cache-1:lockAny", `{"keyPrefix":"aw==","lockTtl":"30s","timeout":"0.1s"}`, tokKV, tokProducer, 0},
		{"PUT", "/v1/storages/cache-1/keys/k2", `{"value":"aGk="}`, tokKV, tokConsumer, 200},
		{"DELETE", "/v1/storages/cache-1/keys/k2", "", tokKV, tokProducer, 200},
		{"GET", "/metrics", "", tokConsumer, "", 200},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			if code, body := s.http(r.method, r.path, r.body, ""); code != 401 {
				t.Fatalf("no token: %d %s", code, body)
			}
			if code, body := s.http(r.method, r.path, r.body, tokWrong); code != 401 {
				t.Fatalf("wrong token: %d %s", code, body)
			}
			if r.bad != "" {
				if code, body := s.http(r.method, r.path, r.body, r.bad); code != 403 || !strings.Contains(body, "permission denied: ") {
					t.Fatalf("wrong role: %d %s", code, body)
				}
			}
			if r.good != "" {
				code, body := s.http(r.method, r.path, r.body, r.good)
				if (r.want != 0 && code != r.want) || code == 401 || code == 403 {
					t.Fatalf("right role: %d %s", code, body)
				}
			}
		})
	}
	if code, body := s.http("POST", "/v1/queues/other/items", `{"items":[{"value":"aGk="}]}`, tokProducer); !strings.Contains(body, `producer on queue \"other\" required`) {
		t.Fatalf("the refusal names the missing permission: %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if code, body := s.http("GET", p, "", ""); code != 200 {
			t.Fatalf("%s without a credential: %d %s", p, code, body)
		}
	}
}

// TestAuthStreams: stream setup checks the caller's role on the queue or storage (refusal:
// PermissionDenied), and each command kind its role; a refused command fails alone and the
// stream goes on.
func TestAuthStreams(t *testing.T) {
	s := startSecure(t)
	ctx := s.ctx
	if _, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts("")...); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	if _, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts(tokWrong)...); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts(tokKV)...); !errors.Is(err, client.ErrPermissionDenied) ||
		!strings.Contains(err.Error(), `producer or consumer on queue "jobs-1" required`) {
		t.Fatalf("kv on a queue: %v", err)
	}
	if _, err := client.NewQueueClient(s.srv.Addr, "other", s.opts(tokProducer)...); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("producer outside its prefix: %v", err)
	}
	prod, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts(tokProducer)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts(tokConsumer)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	item := &client.InputItem{Value: []byte("v")}
	if _, err := prod.Enqueue(ctx, item); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.BatchEnqueue(ctx, []*client.InputItem{item, item, item, item, item}); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Info(ctx); err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error, perm string) {
		t.Helper()
		if !errors.Is(err, client.ErrPermissionDenied) || !strings.Contains(err.Error(), perm+` on queue "jobs-1" required`) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// The producer may not consume...
	_, err = prod.Pull(ctx, 1)
	denied("producer Pull", err, "consumer")
	_, err = prod.PullSingle(ctx)
	denied("producer PullSingle", err, "consumer")
	denied("producer CommitSingle", prod.CommitSingle(ctx, 1), "consumer")
	denied("producer Commit", prod.Commit(ctx, []uint64{1}), "consumer")
	denied("producer RequeueSingle", prod.RequeueSingle(ctx, 1, nil, 0), "consumer")
	_, err = prod.Requeue(ctx, []*client.RequeueItem{{Id: 1}})
	denied("producer Requeue", err, "consumer")
	denied("producer DeleteSingle", prod.DeleteSingle(ctx, 1), "consumer")
	denied("producer Delete", prod.Delete(ctx, []uint64{1}), "consumer")
	_, err = prod.Extend(ctx, []uint64{1}, time.Minute)
	denied("producer Extend", err, "consumer")
	// ...and its stream goes on.
	if _, err := prod.Enqueue(ctx, item); err != nil {
		t.Fatalf("enqueue after refusals: %v", err)
	}
	// The consumer may not produce, and does every consumer command.
	_, err = cons.Enqueue(ctx, item)
	denied("consumer Enqueue", err, "producer")
	_, err = cons.BatchEnqueue(ctx, []*client.InputItem{item})
	denied("consumer BatchEnqueue", err, "producer")
	items, err := cons.Pull(ctx, 5)
	if err != nil || len(items) != 5 {
		t.Fatalf("pull: %v %v", items, err)
	}
	one, err := cons.PullSingle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Extend(ctx, []uint64{items[0].Id}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := cons.CommitSingle(ctx, items[0].Id); err != nil {
		t.Fatal(err)
	}
	if err := cons.Commit(ctx, []uint64{items[1].Id}); err != nil {
		t.Fatal(err)
	}
	if err := cons.RequeueSingle(ctx, items[2].Id, nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Requeue(ctx, []*client.RequeueItem{{Id: items[3].Id}}); err != nil {
		t.Fatal(err)
	}
	if err := cons.DeleteSingle(ctx, items[4].Id); err != nil {
		t.Fatal(err)
	}
	if err := cons.Delete(ctx, []uint64{one.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Info(ctx); err != nil {
		t.Fatal(err)
	}

	// Storage streams: kv on the storage's prefix.
	if _, err := client.NewStorageClient(s.srv.Addr, "cache-1", s.opts(tokConsumer)...); !errors.Is(err, client.ErrPermissionDenied) ||
		!strings.Contains(err.Error(), `kv on storage "cache-1" required`) {
		t.Fatalf("consumer on a storage: %v", err)
	}
	if _, err := client.NewStorageClient(s.srv.Addr, "secret", s.opts(tokKV)...); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("kv outside its prefix: %v", err)
	}
	if _, err := client.NewStorageClient(s.srv.Addr, "cache-1", s.opts("")...); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	kv, err := client.NewStorageClient(s.srv.Addr, "cache-1", s.opts(tokKV)...)
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	id, err := kv.SetKey(ctx, []byte("k"), []byte("v"), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.GetKey(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.GetKeys(ctx, []uint64{id}); err != nil {
		t.Fatal(err)
	}
	lid, err := kv.LockKey(ctx, []byte("k"), durationpb.New(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.UnlockKey(ctx, lid); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.LockAny(ctx, []byte("k"), durationpb.New(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.ListKeys(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := kv.Info(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAuthRawStreamSetup: on the raw wire, a refused setup ends the stream with
// PermissionDenied, and a stream cannot rebind to another queue after its setup.
func TestAuthRawStreamSetup(t *testing.T) {
	s := startSecure(t)
	cc := s.conn("")
	ctx := metadata.AppendToOutgoingContext(s.ctx, "authorization", "Bearer "+tokProducer)
	st, err := grpcpbConnect(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	send := func(r *pb.QueueRequest) *pb.QueueResponse {
		t.Helper()
		if err := st.Send(r); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	setup := func(name string) *pb.QueueRequest {
		return &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: name}}}
	}
	if r := send(setup("jobs-1")); r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("setup: %v", r)
	}
	r := send(&pb.QueueRequest{CorrelationId: 7, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "jobs-2"}}})
	if r.GetCorrelationId() != 7 || r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT {
		t.Fatalf("rebinding: %v", r)
	}
	r = send(&pb.QueueRequest{CorrelationId: 8, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 1}}})
	if r.GetCorrelationId() != 8 || !strings.HasPrefix(r.GetStatus().GetMessage(), `permission denied: consumer on queue "jobs-1" required`) {
		t.Fatalf("pull by a producer: %v", r)
	}
	st2, err := grpcpbConnect(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Send(setup("other")); err != nil {
		t.Fatal(err)
	}
	_, err = st2.Recv()
	wantCode(t, err, codes.PermissionDenied, `permission denied: producer or consumer on queue "other" required`)
}

// TestAuthClientCertificates: a client certificate names its holder; the tokens file gives
// the name its roles (or none).
func TestAuthClientCertificates(t *testing.T) {
	s := startSecure(t)
	alice := s.ca.IssueTLS(t, "alice")
	mallory := s.ca.IssueTLS(t, "mallory")
	if code, body := s.http("GET", "/v1/queues/jobs-1", "", "", alice); code != 200 {
		t.Fatalf("alice reads her queue: %d %s", code, body)
	}
	if code, body := s.http("POST", "/v1/queues/jobs-1/items", `{"items":[{"value":"aGk="}]}`, "", alice); code != 200 {
		t.Fatalf("alice enqueues: %d %s", code, body)
	}
	if code, body := s.http("POST", "/v1/queues", `{"queueName":"jobs-9"}`, "", alice); code != 403 || !strings.Contains(body, `caller \"alice\"`) {
		t.Fatalf("alice creates a queue: %d %s", code, body)
	}
	if code, body := s.http("GET", "/v1/queues/jobs-1", "", "", mallory); code != 403 || !strings.Contains(body, "no roles") {
		t.Fatalf("an unlisted certificate: %d %s", code, body)
	}
	// A token wins over the certificate.
	if code, body := s.http("POST", "/v1/queues", `{"queueName":"jobs-9"}`, tokAdmin, mallory); code != 200 {
		t.Fatalf("admin token with a certificate: %d %s", code, body)
	}
	// gRPC streams and calls identify the certificate too.
	cfg := s.tlsConfig()
	cfg.Certificates = []tls.Certificate{alice}
	q, err := client.NewQueueClient(s.srv.Addr, "jobs-1", client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Enqueue(s.ctx, &client.InputItem{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = managementpb.NewManagementServiceClient(s.conn("", alice)).DeleteQueue(s.ctx, &pb.DeleteQueueRequest{QueueName: "jobs-1"})
	wantCode(t, err, codes.PermissionDenied, "admin required")
	// A certificate of another CA does not get past the handshake.
	other := servertest.NewCA(t, "other-ca").IssueTLS(t, "root")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool,
		// Sent although the server asks for its own CA's (tls.Config.Certificates would not).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other, nil }}}}
	if resp, err := hc.Get(s.srv.URL + "/v1/queues"); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of an unknown CA was accepted: %s", resp.Status)
	}
}

// TestAuthTokensReload: a rewritten tokens file applies to the next request, and to the
// next command of an open stream.
func TestAuthTokensReload(t *testing.T) {
	s := startSecure(t)
	cons, err := client.NewQueueClient(s.srv.Addr, "jobs-1", append(s.opts(tokConsumer), client.WithPullTimeout(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if _, err := cons.Info(s.ctx); err != nil {
		t.Fatal(err)
	}
	content := tokenLine("root", "admin", tokAdmin) + tokenLine("newbie", "producer:jobs-", "new-secret") +
		tokenLine("worker", "producer:jobs-", tokConsumer) // the worker's roles change
	if err := os.WriteFile(s.tokens, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := s.http("POST", "/v1/queues/jobs-1/items", `{"items":[{"value":"aGk="}]}`, "new-secret"); code != 200 {
		t.Fatalf("a new token: %d %s", code, body)
	}
	if code, body := s.http("GET", "/v1/queues/jobs-1", "", tokKV); code != 401 {
		t.Fatalf("a removed token: %d %s", code, body)
	}
	// The open stream's next command sees the worker's new roles.
	if _, err := cons.Pull(s.ctx, 1); !errors.Is(err, client.ErrPermissionDenied) {
		t.Fatalf("pull after the worker became a producer: %v", err)
	}
	if _, err := cons.Enqueue(s.ctx, &client.InputItem{Value: []byte("x")}); err != nil {
		t.Fatalf("enqueue after the worker became a producer: %v", err)
	}
	// A broken file keeps the previous version.
	if err := os.WriteFile(s.tokens, []byte("root admin nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := s.http("GET", "/v1/queues", "", "new-secret"); code != 200 {
		t.Fatalf("after a broken rewrite: %d %s", code, body)
	}
	if !strings.Contains(s.log.String(), "keeping the previous version") {
		t.Fatal("a broken tokens file is not logged")
	}
}

// TestAuthCertificateRotation: rewritten certificate files are served to the next
// handshakes without a restart, and established connections go on.
func TestAuthCertificateRotation(t *testing.T) {
	s := startSecure(t)
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", s.srv.Addr, &tls.Config{RootCAs: s.ca.Pool, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "server" {
		t.Fatalf("served %q", cn)
	}
	q, err := client.NewQueueClient(s.srv.Addr, "jobs-1", s.opts(tokProducer)...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	c, k := s.ca.Issue(t, "server-rotated")
	if err := os.WriteFile(s.cert, c, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.key, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if cn := served(); cn != "server-rotated" {
		t.Fatalf("after rotation served %q", cn)
	}
	if _, err := q.Enqueue(s.ctx, &client.InputItem{Value: []byte("x")}); err != nil {
		t.Fatalf("an established client after rotation: %v", err)
	}
	if code, body := s.http("GET", "/v1/queues/jobs-1", "", tokProducer); code != 200 {
		t.Fatalf("REST after rotation: %d %s", code, body)
	}
}

// TestAuthBackupRoutes: snapshot save and restore need admin and are audited.
func TestAuthBackupRoutes(t *testing.T) {
	s := startSecure(t)
	for _, tok := range []string{"", tokWrong} {
		if code, body := s.http("GET", "/v1/cluster/snapshot", "", tok); code != 401 {
			t.Fatalf("save with %q: %d %s", tok, code, body)
		}
		if code, body := s.http("POST", "/v1/cluster/snapshot:restore", "x", tok); code != 401 {
			t.Fatalf("restore with %q: %d %s", tok, code, body)
		}
	}
	if code, body := s.http("GET", "/v1/cluster/snapshot", "", tokConsumer); code != 403 || !strings.Contains(body, "admin required") {
		t.Fatalf("save by a consumer: %d %s", code, body)
	}
	if code, body := s.http("POST", "/v1/cluster/snapshot:restore", "x", tokKV); code != 403 {
		t.Fatalf("restore by kv: %d %s", code, body)
	}
	code, snap := s.http("GET", "/v1/cluster/snapshot", "", tokAdmin)
	if code != 200 || len(snap) == 0 {
		t.Fatalf("save by admin: %d (%d bytes)", code, len(snap))
	}
	if code, body := s.http("POST", "/v1/cluster/snapshot:restore", snap, tokAdmin); code != 200 {
		t.Fatalf("restore by admin: %d %s", code, body)
	}
	logs := s.log.String()
	for _, want := range []string{"op=SnapshotSave remote=", "op=SnapshotRestore remote=", "who=root by=token status=200", "who=worker by=token outcome=Forbidden"} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs)
		}
	}
}

func grpcpbConnect(ctx context.Context, cc *grpc.ClientConn) (grpc.BidiStreamingClient[pb.QueueRequest, pb.QueueResponse], error) {
	return grpcpb.NewQueuesServiceClient(cc).Connect(ctx)
}

// TestAuthRESTOverTLSWithH2: an HTTP client offering h2 and http/1.1 (as curl does) is
// served HTTP/1.1 on the TLS port; gRPC clients, which offer only h2, get h2.
func TestAuthRESTOverTLSWithH2(t *testing.T) {
	s := startSecure(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.tlsConfig(), ForceAttemptHTTP2: true}}
	resp, err := hc.Get(s.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" {
		t.Fatalf("%s %s", resp.Proto, resp.Status)
	}
	c, err := tls.Dial("tcp", s.srv.Addr, &tls.Config{RootCAs: s.ca.Pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("a gRPC-like client negotiated %q", p)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if !strings.Contains(status.Convert(err).Message(), msgPart) {
		t.Fatalf("message %q does not mention %q", status.Convert(err).Message(), msgPart)
	}
}
