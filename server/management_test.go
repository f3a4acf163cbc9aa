package server_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
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

func queueNames(l *pb.ListQueuesResponse) []string {
	var out []string
	for _, q := range l.GetQueues() {
		out = append(out, q.GetQueueName())
	}
	return out
}

func TestManagementGRPC(t *testing.T) {
	srv := servertest.Start(t)
	conn := dial(t, srv.Addr)
	m := managementpb.NewManagementServiceClient(conn)
	sm := managementpb.NewStorageManagementServiceClient(conn)
	ctx := ctxT(t)

	if _, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "dlq"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "jobs", Priorities: 5, MaxSize: 10,
		Lease: durationpb.New(30 * time.Second), MaxDeliveries: 3, DeadLetterQueue: "dlq"}); err != nil {
		t.Fatal(err)
	}
	_, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "jobs"})
	wantCode(t, err, codes.AlreadyExists, `queue "jobs" already exists`)
	_, err = m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "x", DeadLetterQueue: "nope"})
	wantCode(t, err, codes.InvalidArgument, "dead_letter_queue")

	l, err := m.ListQueues(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if got := queueNames(l); !slices.Equal(got, []string{"dlq", "jobs"}) {
		t.Fatalf("queues %v", got)
	}
	jobs := l.GetQueues()[1]
	if jobs.GetPriorities() != 5 || jobs.GetMaxSize() != 10 || jobs.GetLease().AsDuration() != 30*time.Second ||
		jobs.GetMaxDeliveries() != 3 || jobs.GetDeadLetterQueue() != "dlq" || jobs.GetPaused() {
		t.Fatalf("jobs listed as %v", jobs)
	}
	if dlq := l.GetQueues()[0]; dlq.GetPriorities() != 32 || dlq.GetLease().AsDuration() != 60*time.Second {
		t.Fatalf("defaults not applied: %v", dlq)
	}

	if _, err := m.PauseQueue(ctx, &pb.PauseQueueRequest{QueueName: "jobs"}); err != nil {
		t.Fatal(err)
	}
	l, _ = m.ListQueues(ctx, &emptypb.Empty{})
	if !l.GetQueues()[1].GetPaused() {
		t.Fatal("pause not listed")
	}
	if _, err := m.ResumeQueue(ctx, &pb.ResumeQueueRequest{QueueName: "jobs"}); err != nil {
		t.Fatal(err)
	}
	l, _ = m.ListQueues(ctx, &emptypb.Empty{})
	if l.GetQueues()[1].GetPaused() {
		t.Fatal("resume not listed")
	}

	// Resize below the current count fails and names the count.
	data := octopusmqv1.NewQueueDataServiceClient(conn)
	if _, err := data.EnqueueItems(ctx, &octopusmqv1.EnqueueItemsRequest{QueueName: "jobs", Items: []*pb.InputItem{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}}); err != nil {
		t.Fatal(err)
	}
	_, err = m.ResizeQueue(ctx, &pb.ResizeQueueRequest{QueueName: "jobs", MaxSize: 2})
	wantCode(t, err, codes.FailedPrecondition, "3")
	if _, err := m.ResizeQueue(ctx, &pb.ResizeQueueRequest{QueueName: "jobs", MaxSize: 3}); err != nil {
		t.Fatal(err)
	}

	// The dead-letter queue cannot go while jobs uses it.
	_, err = m.DeleteQueue(ctx, &pb.DeleteQueueRequest{QueueName: "dlq"})
	wantCode(t, err, codes.FailedPrecondition, "dead_letter_queue")
	if _, err := m.DeleteQueue(ctx, &pb.DeleteQueueRequest{QueueName: "jobs"}); err != nil {
		t.Fatal(err)
	}
	_, err = m.DeleteQueue(ctx, &pb.DeleteQueueRequest{QueueName: "jobs"})
	wantCode(t, err, codes.NotFound, `queue "jobs" not found`)

	if _, err := sm.CreateStorage(ctx, &pb.CreateStorageRequest{StorageName: "kv"}); err != nil {
		t.Fatal(err)
	}
	_, err = sm.CreateStorage(ctx, &pb.CreateStorageRequest{StorageName: "kv"})
	wantCode(t, err, codes.AlreadyExists, `storage "kv" already exists`)
	ls, err := sm.ListStorages(ctx, &emptypb.Empty{})
	if err != nil || len(ls.GetStorages()) != 1 || ls.GetStorages()[0].GetStorageName() != "kv" {
		t.Fatalf("storages %v %v", ls, err)
	}
	if _, err := sm.DeleteStorage(ctx, &pb.DeleteStorageRequest{StorageName: "kv"}); err != nil {
		t.Fatal(err)
	}
	_, err = sm.DeleteStorage(ctx, &pb.DeleteStorageRequest{StorageName: "kv"})
	wantCode(t, err, codes.NotFound, `storage "kv" not found`)
}

func TestManagementBadInput(t *testing.T) {
	srv := servertest.Start(t)
	conn := dial(t, srv.Addr)
	m := managementpb.NewManagementServiceClient(conn)
	sm := managementpb.NewStorageManagementServiceClient(conn)
	ctx := ctxT(t)
	long := strings.Repeat("a", 201)
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"empty queue name", func() error { _, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{}); return err }, codes.InvalidArgument, "queue_name must not be empty"},
		{"long queue name", func() error { _, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: long}); return err }, codes.InvalidArgument, "queue_name is 201 characters"},
		{"bad character", func() error { _, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "a/b"}); return err }, codes.InvalidArgument, "queue_name"},
		{"priorities 33", func() error {
			_, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "q", Priorities: 33})
			return err
		}, codes.InvalidArgument, "priorities"},
		{"self dead letter", func() error {
			_, err := m.CreateQueue(ctx, &pb.CreateQueueRequest{QueueName: "q", DeadLetterQueue: "q"})
			return err
		}, codes.InvalidArgument, "dead_letter_queue"},
		{"delete missing queue", func() error { _, err := m.DeleteQueue(ctx, &pb.DeleteQueueRequest{QueueName: "nope"}); return err }, codes.NotFound, `queue "nope" not found`},
		{"pause missing queue", func() error { _, err := m.PauseQueue(ctx, &pb.PauseQueueRequest{QueueName: "nope"}); return err }, codes.NotFound, "nope"},
		{"resize missing queue", func() error { _, err := m.ResizeQueue(ctx, &pb.ResizeQueueRequest{QueueName: "nope"}); return err }, codes.NotFound, "nope"},
		{"empty storage name", func() error { _, err := sm.CreateStorage(ctx, &pb.CreateStorageRequest{}); return err }, codes.InvalidArgument, "storage_name must not be empty"},
		{"long storage name", func() error { _, err := sm.CreateStorage(ctx, &pb.CreateStorageRequest{StorageName: long}); return err }, codes.InvalidArgument, "storage_name"},
		{"delete missing storage", func() error {
			_, err := sm.DeleteStorage(ctx, &pb.DeleteStorageRequest{StorageName: "nope"})
			return err
		}, codes.NotFound, `storage "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code, tc.msg) })
	}
	// Nothing was created by the failures.
	l, err := m.ListQueues(ctx, &emptypb.Empty{})
	if err != nil || len(l.GetQueues()) != 0 {
		t.Fatalf("queues after bad input: %v %v", l, err)
	}
}

func TestManagementREST(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL
	steps := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"POST", "/v1/queues", `{"queueName":"jobs","priorities":32}`, 200, "{}"},
		{"POST", "/v1/queues", `{"queue_name":"other","maxSize":5}`, 200, "{}"},
		{"GET", "/v1/queues", "", 200, `"queueName":"jobs"`},
		{"POST", "/v1/queues", `{"queueName":"jobs"}`, 409, `queue \"jobs\" already exists`},
		{"POST", "/v1/queues", `{"queueName":"bad name"}`, 400, "queue_name"},
		{"POST", "/v1/queues", `{"queueName":"q33","priorities":33}`, 400, "priorities"},
		{"POST", "/v1/queues", `{"queueName":`, 400, ""},
		{"POST", "/v1/queues", `{"queueNam":"typo"}`, 400, "queueNam"},
		{"POST", "/v1/queues/jobs:pause", `{}`, 200, "{}"},
		{"GET", "/v1/queues/jobs", "", 200, `"paused":true`},
		{"POST", "/v1/queues/jobs:resume", `{}`, 200, "{}"},
		{"POST", "/v1/queues/jobs:resize", `{"maxSize":100}`, 200, "{}"},
		{"GET", "/v1/queues/jobs", "", 200, `"maxSize":100`},
		{"DELETE", "/v1/queues/nope", "", 404, `queue \"nope\" not found`},
		{"DELETE", "/v1/queues/other", "", 200, "{}"},
		{"POST", "/v1/storages", `{"storageName":"kv"}`, 200, "{}"},
		{"POST", "/v1/storages", `{"storageName":"kv"}`, 409, "already exists"},
		{"GET", "/v1/storages", "", 200, `"storageName":"kv"`},
		{"DELETE", "/v1/storages/kv", "", 200, "{}"},
		{"DELETE", "/v1/storages/kv", "", 404, `storage \"kv\" not found`},
		{"GET", "/v1/cluster", "", 200, `"state":"Leader"`},
	}
	for _, st := range steps {
		code, body := servertest.HTTP(t, st.method, u+st.path, st.body)
		compact := strings.ReplaceAll(body, " ", "")
		if code != st.status || !strings.Contains(compact, strings.ReplaceAll(st.contains, " ", "")) {
			t.Fatalf("%s %s %s: got %d %s, want %d containing %s", st.method, st.path, st.body, code, body, st.status, st.contains)
		}
	}
	code, body := servertest.HTTP(t, "GET", u+"/v1/queues", "")
	if code != 200 || strings.Contains(body, "other") || !strings.Contains(body, "jobs") {
		t.Fatalf("final list %d %s", code, body)
	}
}

func TestServesSpecHealthAndReflection(t *testing.T) {
	srv := servertest.Start(t)
	code, body := servertest.HTTP(t, "GET", srv.URL+"/openapi.json", "")
	if code != 200 || !strings.Contains(body, `"swagger": "2.0"`) || !strings.Contains(body, "/v1/queues/{queueName}/items:pull") {
		t.Fatalf("openapi: %d %.200s", code, body)
	}
	if code, _ := servertest.HTTP(t, "GET", srv.URL+"/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := servertest.HTTP(t, "POST", srv.URL+"/v1/queues", `{"queueName":"metered"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "POST", srv.URL+"/v1/queues/metered/items", `{"items":[{"value":"eA=="},{"value":"eQ=="}]}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	code, metrics := servertest.HTTP(t, "GET", srv.URL+"/metrics", "")
	for _, want := range []string{`octopusmq_queue_items{queue="metered"} 2`, "octopusmq_raft_leader 1", "octopusmq_grpc_requests_total"} {
		if code != 200 || !strings.Contains(metrics, want) {
			t.Fatalf("metrics %d lack %q", code, want)
		}
	}
	conn := dial(t, srv.Addr)
	ctx := ctxT(t)
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v", h, err)
	}
	rs, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{
		"io.clbs.octopusmq.grpc.QueuesService", "io.clbs.octopusmq.grpc.StorageService",
		"io.clbs.octopusmq.grpc.management.ManagementService", "io.clbs.octopusmq.grpc.management.StorageManagementService",
		"io.clbs.octopusmq.v1.ClusterService",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func TestRestartKeepsCatalogAndItems(t *testing.T) {
	srv := servertest.Start(t)
	for _, st := range []struct{ path, body string }{
		{"/v1/queues", `{"queueName":"jobs","priorities":4,"maxSize":9}`},
		{"/v1/storages", `{"storageName":"kv"}`},
		{"/v1/queues/jobs/items", `{"items":[{"value":"aGVsbG8=","priority":3}]}`},
	} {
		if code, body := servertest.HTTP(t, "POST", srv.URL+st.path, st.body); code != 200 {
			t.Fatalf("%s: %d %s", st.path, code, body)
		}
	}
	srv.Restart(t)
	code, body := servertest.HTTP(t, "GET", srv.URL+"/v1/queues/jobs", "")
	if code != 200 || !strings.Contains(body, `"count":1`) || !strings.Contains(body, `"maxSize":9`) {
		t.Fatalf("after restart: %d %s", code, body)
	}
	code, body = servertest.HTTP(t, "GET", srv.URL+"/v1/storages", "")
	if code != 200 || !strings.Contains(body, `"storageName":"kv"`) {
		t.Fatalf("storages after restart: %d %s", code, body)
	}
	code, body = servertest.HTTP(t, "POST", srv.URL+"/v1/queues/jobs/items:pull", `{"batchSize":5}`)
	if code != 200 || !strings.Contains(body, `"value":"aGVsbG8="`) || !strings.Contains(body, `"priority":3`) {
		t.Fatalf("pull after restart: %d %s", code, body)
	}
}

func TestRestartFromSnapshot(t *testing.T) {
	srv := servertest.Start(t)
	// Enough entries to trigger snapshots and log truncation.
	for i := 0; i < 60; i++ {
		if code, body := servertest.HTTP(t, "POST", srv.URL+"/v1/queues", `{"queueName":"q`+string(rune('A'+i%26))+string(rune('a'+i/26))+`"}`); code != 200 {
			t.Fatalf("create %d: %d %s", i, code, body)
		}
	}
	// A snapshot now, then more entries: the restart restores the snapshot and replays the
	// log tail after it.
	if err := srv.Server().Node().Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"after1", "after2"} {
		if code, body := servertest.HTTP(t, "POST", srv.URL+"/v1/queues", `{"queueName":"`+name+`"}`); code != 200 {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
	}
	srv.Restart(t)
	snaps, _ := filepath.Glob(filepath.Join(srv.DataDir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		entries, _ := os.ReadDir(filepath.Join(srv.DataDir, "raft"))
		t.Fatalf("no snapshot written; raft dir has %v", entries)
	}
	code, body := servertest.HTTP(t, "GET", srv.URL+"/v1/queues", "")
	if code != 200 || strings.Count(body, `"queueName"`) != 62 || !strings.Contains(body, "after2") {
		t.Fatalf("after snapshot restart: %d, %d queues", code, strings.Count(body, `"queueName"`))
	}
}

// TestShutdownDrainsStreams: closing the server ends open streams at once (clients are
// told to reconnect) instead of waiting out the shutdown grace period.
func TestShutdownDrainsStreams(t *testing.T) {
	srv := servertest.Start(t)
	if code, body := servertest.HTTP(t, "POST", srv.URL+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	conn := dial(t, srv.Addr)
	stream, err := grpcpb.NewQueuesServiceClient(conn).Connect(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.QueueRequest{Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "jobs"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	// A long poll is waiting when the server stops.
	if err := stream.Send(&pb.QueueRequest{CorrelationId: 7, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{Timeout: durationpb.New(time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv.Stop() // the test server's grace period is 2 s
	if took := time.Since(start); took >= 2*time.Second {
		t.Fatalf("shutdown waited %v: streams were not drained", took)
	}
	// The waiting pull is not answered (its outcome is for the client to treat as lost);
	// the stream ends with UNAVAILABLE.
	resp, err := stream.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v %v, want UNAVAILABLE", resp, err)
	}
}
