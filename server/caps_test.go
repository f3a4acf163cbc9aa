package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// The number of queues and storages is capped; a create beyond the cap answers
// RESOURCE_EXHAUSTED (HTTP 429) naming the cap, and room comes back with a delete.
func TestCapsOnQueuesAndStorages(t *testing.T) {
	e := startEnv(t, 30*time.Second, servertest.WithCaps(3, 2))
	u := e.srv.URL
	for i := range 3 {
		if err := e.admin.CreateQueue(e.ctx, client.QueueConfig{Name: fmt.Sprint("q", i)}); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, e.admin.CreateQueue(e.ctx, client.QueueConfig{Name: "q3"}), codes.ResourceExhausted, "--max-queues")
	kvWantHTTPError(t, "POST", u+"/v1/queues", `{"queueName":"q3"}`, http.StatusTooManyRequests, "the cap (--max-queues) is 3")
	for i := range 2 {
		kvJSON(t, "POST", u+"/v1/storages", fmt.Sprintf(`{"storageName":"s%d"}`, i), http.StatusOK)
	}
	kvWantHTTPError(t, "POST", u+"/v1/storages", `{"storageName":"s2"}`, http.StatusTooManyRequests, "the cap (--max-storages) is 2")
	wantCode(t, e.admin.CreateStorage(e.ctx, "s2"), codes.ResourceExhausted, "--max-storages")

	// The caps count what exists: a delete makes room again.
	kvJSON(t, "DELETE", u+"/v1/queues/q0", "", http.StatusOK)
	kvJSON(t, "POST", u+"/v1/queues", `{"queueName":"q3"}`, http.StatusOK)
	kvJSON(t, "DELETE", u+"/v1/storages/s0", "", http.StatusOK)
	kvJSON(t, "POST", u+"/v1/storages", `{"storageName":"s2"}`, http.StatusOK)
	qs, err := e.admin.ListQueues(e.ctx)
	if err != nil || len(qs) != 3 {
		t.Fatalf("%d queues (%v), want 3", len(qs), err)
	}
}
