package server_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

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
	conn := servertest.Dial(t, srv.Addr)
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
	conn := servertest.Dial(t, srv.Addr)
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
