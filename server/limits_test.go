package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/managementpb"
	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
	"github.com/clbs-io/octopusmq/server/service"
	"google.golang.org/grpc/codes"
)

// restItems is a REST pull answer.
type restItems struct {
	Items []struct {
		ID    string `json:"id"`
		Value []byte `json:"value"`
	} `json:"items"`
}

func decodeJSON(t *testing.T, what, body string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("%s: %v in %.200s", what, err, body)
	}
}

// twoMiB returns distinct 2 MiB values.
func twoMiB(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte('a' + i)}, 2<<20)
	}
	return out
}

// A pull whose answer is larger than gRPC's default 4 MiB message (3 items of 2 MiB) is
// delivered whole, over REST (through the gateway's connection) and over the Go client.
func TestPullOfLargeItemsOverRESTAndClient(t *testing.T) {
	e := qStart(t)
	e.createQueue(client.QueueConfig{Name: "big"})
	q, err := client.NewQueueClient(e.srv.Addr, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	values := twoMiB(3)
	enqueue := func() {
		for _, v := range values {
			if _, err := q.Enqueue(e.ctx, &client.InputItem{Value: v}); err != nil {
				t.Fatal(err)
			}
		}
	}

	enqueue()
	code, body := servertest.HTTP(t, "POST", e.srv.URL+"/v1/queues/big/items:pull", `{"batchSize":3,"timeout":"5s"}`)
	if code != http.StatusOK {
		t.Fatalf("REST pull of 3×2 MiB: %d %.300s", code, body)
	}
	var got restItems
	decodeJSON(t, "REST pull", body, &got)
	if len(got.Items) != 3 {
		t.Fatalf("REST pull answered %d items; want 3", len(got.Items))
	}
	for i, it := range got.Items {
		if !bytes.Equal(it.Value, values[i]) {
			t.Fatalf("REST item %d: value differs (%d bytes)", i, len(it.Value))
		}
	}
	ids := make([]string, len(got.Items))
	for i, it := range got.Items {
		ids[i] = fmt.Sprintf("%q", it.ID)
	}
	if code, body := servertest.HTTP(t, "POST", e.srv.URL+"/v1/queues/big/items:commit", `{"ids":[`+strings.Join(ids, ",")+`]}`); code != 200 {
		t.Fatalf("commit: %d %s", code, body)
	}

	enqueue()
	items, err := q.Pull(e.ctx, 3)
	if err != nil {
		t.Fatalf("client pull of 3×2 MiB: %v", err)
	}
	if len(items) != 3 {
		t.Fatalf("client pull answered %d items; want 3", len(items))
	}
	for i, it := range items {
		if !bytes.Equal(it.Value, values[i]) {
			t.Fatalf("client item %d: value differs (%d bytes)", i, len(it.Value))
		}
	}
}

// A pull stops at the response limit: it answers the items that fit and leases only those,
// so nothing is leased that is not delivered; the rest comes with the next pull.
func TestPullStopsAtResponseLimit(t *testing.T) {
	e := qStart(t, servertest.WithLimits(service.Limits{MaxResponseBytes: 5 << 20}))
	e.createQueue(client.QueueConfig{Name: "big"})
	q, err := client.NewQueueClient(e.srv.Addr, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	values := twoMiB(3)
	for _, v := range values {
		if _, err := q.Enqueue(e.ctx, &client.InputItem{Value: v, Compress: true}); err != nil {
			t.Fatal(err)
		}
	}
	// The values compress to almost nothing: the limit counts them uncompressed.
	pull := func() int {
		code, body := servertest.HTTP(t, "POST", e.srv.URL+"/v1/queues/big/items:pull", `{"batchSize":3,"timeout":"5s"}`)
		if code != http.StatusOK {
			t.Fatalf("REST pull: %d %.300s", code, body)
		}
		var got restItems
		decodeJSON(t, "REST pull", body, &got)
		return len(got.Items)
	}
	if n := pull(); n != 2 {
		t.Fatalf("a pull within 5 MiB answered %d items of 2 MiB; want 2", n)
	}
	_, body := servertest.HTTP(t, "GET", e.srv.URL+"/v1/queues/big", "")
	var info restQueue
	decodeJSON(t, "queue info", body, &info)
	if info.Queue.Count != 3 || info.Queue.Active != 2 {
		t.Fatalf("after the pull: count %d, active %d; want 3 items, 2 of them leased", info.Queue.Count, info.Queue.Active)
	}
	if n := pull(); n != 1 {
		t.Fatalf("the next pull answered %d items; want the 1 left", n)
	}
	// The stream pull is bounded the same way.
	for _, v := range values {
		if _, err := q.Enqueue(e.ctx, &client.InputItem{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := q.Pull(e.ctx, 3)
	if err != nil || len(items) != 2 {
		t.Fatalf("client pull within 5 MiB: %d items, %v; want 2", len(items), err)
	}
}

// get_by_ids whose values exceed the response limit is refused naming the limit (answering
// part of the keys would read as "not found"); fewer ids at a time work.
func TestGetByIDsWithinResponseLimit(t *testing.T) {
	e := startEnv(t, 60*time.Second, servertest.WithLimits(service.Limits{MaxResponseBytes: 5 << 20}))
	if err := e.admin.CreateStorage(e.ctx, "s"); err != nil {
		t.Fatal(err)
	}
	s, err := client.NewStorageClient(e.srv.Addr, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []uint64
	for i, v := range twoMiB(3) {
		id, err := s.SetKey(e.ctx, fmt.Appendf(nil, "k%d", i), v, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, err = s.GetKeys(e.ctx, ids)
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "--max-response-bytes") {
		t.Fatalf("get_by_ids of 3×2 MiB within 5 MiB: %v; want INVALID_ARGUMENT naming --max-response-bytes", err)
	}
	if kvs, err := s.GetKeys(e.ctx, ids[:2]); err != nil || len(kvs) != 2 {
		t.Fatalf("get_by_ids of 2×2 MiB: %d keys, %v", len(kvs), err)
	}
}

// Every size limit is checked where the request enters, with INVALID_ARGUMENT (400) naming
// the field and the limit's flag, and the server keeps serving.
func TestSizeLimitsAtTheEdge(t *testing.T) {
	e := qStart(t, servertest.WithLimits(service.Limits{
		MaxValueBytes: 100, MaxKeyBytes: 10, MaxUniqueKeyBytes: 12, MaxNameBytes: 20, MaxBatch: 3,
	}))
	e.createQueue(client.QueueConfig{Name: "q"})
	if err := e.admin.CreateStorage(e.ctx, "s"); err != nil {
		t.Fatal(err)
	}
	conn := servertest.Dial(t, e.srv.Addr)
	data := octopusmqv1.NewQueueDataServiceClient(conn)
	kv := octopusmqv1.NewStorageDataServiceClient(conn)
	enq := func(items ...*pb.InputItem) error {
		_, err := data.EnqueueItems(e.ctx, &octopusmqv1.EnqueueItemsRequest{QueueName: "q", Items: items})
		return err
	}
	x := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }

	// At each limit: accepted.
	if err := enq(&pb.InputItem{Value: x(100), Key: x(10), UniqueKey: x(12)}, &pb.InputItem{}, &pb.InputItem{}); err != nil {
		t.Fatalf("items at the limits: %v", err)
	}
	// One past: refused, naming the field and the flag.
	wantCode(t, enq(&pb.InputItem{Value: x(101)}), codes.InvalidArgument, "items[0].value is 101 bytes; at most 100 are allowed (--max-value-bytes)")
	wantCode(t, enq(&pb.InputItem{}, &pb.InputItem{Key: x(11)}), codes.InvalidArgument, "items[1].key is 11 bytes; at most 10 are allowed (--max-key-bytes)")
	wantCode(t, enq(&pb.InputItem{UniqueKey: x(13)}), codes.InvalidArgument, "items[0].unique_key is 13 bytes; at most 12 are allowed (--max-unique-key-bytes)")
	wantCode(t, enq(&pb.InputItem{}, &pb.InputItem{}, &pb.InputItem{}, &pb.InputItem{}), codes.InvalidArgument, "items has 4 entries; at most 3 are allowed (--max-batch)")
	_, err := data.CommitItems(e.ctx, &octopusmqv1.CommitItemsRequest{QueueName: "q", Ids: []uint64{1, 2, 3, 4}})
	wantCode(t, err, codes.InvalidArgument, "ids has 4 entries; at most 3 are allowed (--max-batch)")

	_, err = kv.PutKey(e.ctx, &octopusmqv1.PutKeyRequest{StorageName: "s", Key: string(x(11)), Value: []byte("v")})
	wantCode(t, err, codes.InvalidArgument, "key is 11 bytes; at most 10 are allowed (--max-key-bytes)")
	_, err = kv.PutKey(e.ctx, &octopusmqv1.PutKeyRequest{StorageName: "s", Key: "k", Value: x(101)})
	wantCode(t, err, codes.InvalidArgument, "value is 101 bytes; at most 100 are allowed (--max-value-bytes)")
	if _, err := kv.PutKey(e.ctx, &octopusmqv1.PutKeyRequest{StorageName: "s", Key: string(x(10)), Value: x(100)}); err != nil {
		t.Fatalf("key and value at the limits: %v", err)
	}

	m := managementpb.NewManagementServiceClient(conn)
	_, err = m.CreateQueue(e.ctx, &pb.CreateQueueRequest{QueueName: strings.Repeat("n", 21)})
	wantCode(t, err, codes.InvalidArgument, "queue_name is 21 characters long; at most 20 are allowed (--max-name-bytes)")
	// Over REST too, as 400.
	code, body := servertest.HTTP(t, "POST", e.srv.URL+"/v1/queues/q/items", fmt.Sprintf(`{"items":[{"value":%q}]}`, base64.StdEncoding.EncodeToString(x(101))))
	if code != http.StatusBadRequest || !strings.Contains(body, "--max-value-bytes") {
		t.Fatalf("REST enqueue over the value limit: %d %s", code, body)
	}
	// Still serving.
	if err := enq(&pb.InputItem{Value: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
}

// Names "." and ".." cannot be created: a REST path cannot name them.
func TestDotNamesRefused(t *testing.T) {
	e := startEnv(t, 30*time.Second)
	for _, c := range []struct{ path, body, field string }{
		{"/v1/queues", `{"queueName":"."}`, "queue_name"},
		{"/v1/queues", `{"queueName":".."}`, "queue_name"},
		{"/v1/storages", `{"storageName":"."}`, "storage_name"},
		{"/v1/storages", `{"storageName":".."}`, "storage_name"},
	} {
		code, body := servertest.HTTP(t, "POST", e.srv.URL+c.path, c.body)
		if code != http.StatusBadRequest || !strings.Contains(body, c.field) {
			t.Fatalf("POST %s %s: %d %s; want 400 naming %s", c.path, c.body, code, body, c.field)
		}
	}
	if code, body := servertest.HTTP(t, "POST", e.srv.URL+"/v1/queues", `{"queueName":"..a"}`); code != 200 {
		t.Fatalf("a name with dots that is not . or ..: %d %s", code, body)
	}
}

// HTTP bodies are bounded: 413 naming the limit, whether the length is declared or not; a
// request under the body limit whose encoding exceeds the request limit is 413 too. The
// snapshot upload is not bound by the body limit.
func TestHTTPBodyLimit(t *testing.T) {
	e := qStart(t, servertest.WithLimits(service.Limits{
		MaxValueBytes: 1000, MaxRequestBytes: 8 << 10, MaxHTTPBodyBytes: 64 << 10,
	}))
	e.createQueue(client.QueueConfig{Name: "q"})
	url := e.srv.URL + "/v1/queues/q/items"
	big := `{"items":[{"value":"` + strings.Repeat("A", 100<<10) + `"}]}`
	code, body := servertest.HTTP(t, "POST", url, big)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "65536") || !strings.Contains(body, "--max-http-body-bytes") {
		t.Fatalf("a 100 KiB body: %d %s; want 413 naming the 65536-byte limit", code, body)
	}
	// Without a declared length (chunked).
	resp, err := http.Post(url, "application/json", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "--max-http-body-bytes") {
		t.Fatalf("a chunked 100 KiB body: %d %s", resp.StatusCode, b)
	}
	// Ten 1000-byte values: under the body limit as JSON, over the 8 KiB request limit.
	var items []string
	for range 10 {
		items = append(items, fmt.Sprintf(`{"value":%q}`, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("v"), 1000))))
	}
	code, body = servertest.HTTP(t, "POST", url, `{"items":[`+strings.Join(items, ",")+`]}`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-request-bytes") {
		t.Fatalf("a request over the request limit: %d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "POST", url, `{"items":[`+strings.Join(items[:2], ",")+`]}`); code != 200 {
		t.Fatalf("a small request after: %d %s", code, body)
	}

	// A backup larger than the body limit restores.
	s, err := client.NewStorageClient(e.srv.Addr, "kv", client.WithLazyConnect())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := e.admin.CreateStorage(e.ctx, "kv"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := s.SetKey(e.ctx, fmt.Appendf(nil, "k%03d", i), bytes.Repeat([]byte("v"), 1000), nil, false); err != nil {
			t.Fatal(err)
		}
	}
	code, backup := servertest.HTTP(t, "GET", e.srv.URL+"/v1/cluster/snapshot", "")
	if code != 200 || len(backup) <= 64<<10 {
		t.Fatalf("backup: %d, %d bytes; want more than the 64 KiB body limit", code, len(backup))
	}
	resp, err = http.Post(e.srv.URL+"/v1/cluster/snapshot:restore", "application/octet-stream", strings.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("restoring a %d-byte backup: %d %s", len(backup), resp.StatusCode, b)
	}
}

// A known path asked with a method it does not serve answers 405 with an Allow header, on
// the gateway's routes and the server's own; an unknown path stays 404.
func TestHTTPMethodNotAllowed(t *testing.T) {
	e := startEnv(t, 30*time.Second)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/queues/q/items:pull", "POST"},
		{"PATCH", "/v1/queues", "GET, POST"},
		{"POST", "/v1/storages/s/keys/a", "GET, PUT, DELETE"},
		{"PUT", "/v1/queues/q", "GET, DELETE"},
		{"POST", "/healthz", "GET, HEAD"},
		{"DELETE", "/metrics", "GET, HEAD"},
		{"GET", "/v1/cluster/snapshot:restore", "POST"},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow {
			t.Fatalf("%s %s: %d Allow %q %s; want 405 Allow %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), b, c.allow)
		}
	}
	if code, body := servertest.HTTP(t, "GET", e.srv.URL+"/v1/nothing/here", ""); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d %s", code, body)
	}
}

// A REST key that is not UTF-8 text answers 400 naming the key; binary keys have their own
// routes with the key base64 in the path, and read back the same over the stream.
func TestRESTBinaryKeys(t *testing.T) {
	e := startEnv(t, 30*time.Second)
	if err := e.admin.CreateStorage(e.ctx, "s"); err != nil {
		t.Fatal(err)
	}
	base := e.srv.URL + "/v1/storages/s"
	code, body := servertest.HTTP(t, "PUT", base+"/keys/%FF%FE", `{"value":"eA=="}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "key is not UTF-8") || !strings.Contains(body, "binary-keys") {
		t.Fatalf("PUT of a key that is not UTF-8: %d %s; want 400 naming the key", code, body)
	}
	if code, body := servertest.HTTP(t, "GET", base+"/keys/%FF", ""); code != http.StatusBadRequest {
		t.Fatalf("GET of a key that is not UTF-8: %d %s", code, body)
	}

	key := []byte{0xff, 0x00, '/', 0xfe, '?'}
	enc := base64.RawURLEncoding.EncodeToString(key)
	if code, body := servertest.HTTP(t, "PUT", base+"/binary-keys/"+enc, `{"value":"dmFsdWU="}`); code != 200 {
		t.Fatalf("PUT binary key: %d %s", code, body)
	}
	code, body = servertest.HTTP(t, "GET", base+"/binary-keys/"+enc, "")
	var got struct {
		Item struct {
			ID    string `json:"id"`
			Key   []byte `json:"key"`
			Value []byte `json:"value"`
		} `json:"item"`
	}
	decodeJSON(t, "GET binary key", body, &got)
	if code != 200 || !bytes.Equal(got.Item.Key, key) || string(got.Item.Value) != "value" {
		t.Fatalf("GET binary key: %d %s", code, body)
	}
	// The same key through the Go client.
	s, err := client.NewStorageClient(e.srv.Addr, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.GetKey(e.ctx, key); err != nil || string(v) != "value" {
		t.Fatalf("client GetKey of the binary key: %q, %v", v, err)
	}
	// Standard base64 with padding works too; listing by a binary prefix finds it.
	std := strings.NewReplacer("/", "%2F", "+", "%2B").Replace(base64.StdEncoding.EncodeToString(key))
	code, body = servertest.HTTP(t, "POST", base+"/binary-keys/"+std+":lock", `{"lockTtl":"30s"}`)
	var locked struct {
		Item struct {
			LockToken string `json:"lockToken"`
		} `json:"item"`
	}
	decodeJSON(t, "lock binary key", body, &locked)
	if code != 200 || locked.Item.LockToken == "" || locked.Item.LockToken == "0" {
		t.Fatalf("lock binary key: %d %s", code, body)
	}
	code, body = servertest.HTTP(t, "GET", base+"/keys?activeIncluded=true&binaryPrefix="+base64.URLEncoding.EncodeToString(key[:2]), "")
	if code != 200 || !strings.Contains(body, base64.StdEncoding.EncodeToString(key)) {
		t.Fatalf("listing by binary prefix: %d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "DELETE", base+"/binary-keys/"+enc+"?lockToken="+locked.Item.LockToken, ""); code != 200 {
		t.Fatalf("DELETE binary key: %d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "GET", base+"/binary-keys/"+enc, ""); code != http.StatusNotFound {
		t.Fatalf("GET deleted binary key: %d %s", code, body)
	}
	if code, body := servertest.HTTP(t, "GET", base+"/binary-keys/not*base64", ""); code != http.StatusBadRequest || !strings.Contains(body, "binary_key") {
		t.Fatalf("GET with a binary key that is not base64: %d %s", code, body)
	}
}
