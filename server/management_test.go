package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

func queueNames(l *pb.ListQueuesResponse) []string {
	var out []string
	for _, q := range l.GetQueues() {
		out = append(out, q.GetQueueName())
	}
	return out
}

func TestManagementGRPC(t *testing.T) {
	srv := servertest.Start(t)
	conn := servertest.Dial(t, srv.Addr)
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
	conn := servertest.Dial(t, srv.Addr)
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
