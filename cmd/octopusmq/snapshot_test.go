package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSnapshotSaveRestore backs a server up with `octopusmq snapshot save`, changes it, and
// restores the backup with `octopusmq snapshot restore`: the state is the backup's again.
func TestSnapshotSaveRestore(t *testing.T) {
	srv := servertest.Start(t)
	post(t, srv.URL+"/v1/queues", `{"queueName":"kept"}`)
	post(t, srv.URL+"/v1/queues/kept/items", `{"items":[{"value":"aGVsbG8="}]}`)
	file := filepath.Join(t.TempDir(), "backup.snap")
	var out bytes.Buffer
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, file}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "saved") {
		t.Fatalf("save said %q", out.String())
	}
	post(t, srv.URL+"/v1/queues", `{"queueName":"later"}`)
	post(t, srv.URL+"/v1/queues/kept/items:pull", `{}`)

	out.Reset()
	if err := runSnapshot([]string{"restore", "--addr", srv.Addr, file}, &out); err != nil {
		t.Fatal(err)
	}
	body := strings.ReplaceAll(get(t, srv.URL+"/v1/queues"), " ", "")
	if strings.Contains(body, "later") || !strings.Contains(body, `"queueName":"kept"`) || !strings.Contains(body, `"count":1,"active":0`) {
		t.Fatalf("after restore: %s", body)
	}
	// The restored state survives a restart (it was replicated through Raft).
	srv.Restart(t)
	body = strings.ReplaceAll(get(t, srv.URL+"/v1/queues"), " ", "")
	if strings.Contains(body, "later") || !strings.Contains(body, `"queueName":"kept"`) {
		t.Fatalf("after restart: %s", body)
	}
	// A file that is not a snapshot is refused and changes nothing.
	bad := filepath.Join(t.TempDir(), "bad.snap")
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, bad}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a snapshot at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSnapshot([]string{"restore", "--addr", srv.Addr, bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("restoring garbage: %v", err)
	}
}
