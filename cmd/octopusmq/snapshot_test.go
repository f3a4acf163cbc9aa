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
	if err := os.WriteFile(bad, []byte("not a snapshot at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSnapshot([]string{"restore", "--addr", srv.Addr, bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "not a valid backup") {
		t.Fatalf("restoring garbage: %v", err)
	}
}

// `snapshot save` writes a private file that checks out and reports what it holds.
func TestSnapshotSaveWritesPrivateCheckedFile(t *testing.T) {
	srv := servertest.Start(t)
	post(t, srv.URL+"/v1/queues", `{"queueName":"kept"}`)
	file := filepath.Join(t.TempDir(), "backup.snap")
	var out bytes.Buffer
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, file}, &out); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v", fi.Mode().Perm())
	}
	if !strings.Contains(out.String(), "records of cluster") || !strings.Contains(out.String(), "applied index") {
		t.Fatalf("save said %q", out.String())
	}
	if _, err := os.Stat(file + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}
	// A server that does not answer a backup leaves no file.
	if err := runSnapshot([]string{"save", "--addr", srv.Addr + "0", filepath.Join(t.TempDir(), "x.snap")}, io.Discard); err == nil {
		t.Fatal("save from a wrong address succeeded")
	}
}

// `snapshot restore` checks the file first: an empty, truncated, bit-flipped, newer or
// foreign file is refused without contacting the server, and the state is untouched.
func TestSnapshotRestoreRefusesDamagedFiles(t *testing.T) {
	srv := servertest.Start(t)
	post(t, srv.URL+"/v1/queues", `{"queueName":"kept"}`)
	post(t, srv.URL+"/v1/queues/kept/items", `{"items":[{"value":"aGVsbG8="}]}`)
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, file}, io.Discard); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	post(t, srv.URL+"/v1/queues", `{"queueName":"later"}`)
	newer := append([]byte{}, good...)
	newer[11]++ // format version 2
	flipped := append([]byte{}, good...)
	flipped[len(good)/2] ^= 4
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":     {nil, "empty snapshot"},
		"truncated": {good[:len(good)-3], "truncated"},
		"cut":       {good[:len(good)/2], "truncated"},
		"flipped":   {flipped, "corrupt"},
		"newer":     {newer, "version 2 is not supported"},
		"garbage":   {[]byte("hello"), "does not start with the snapshot header"},
	} {
		bad := filepath.Join(dir, name+".snap")
		if err := os.WriteFile(bad, c.b, 0o600); err != nil {
			t.Fatal(err)
		}
		err := runSnapshot([]string{"restore", "--addr", srv.Addr, bad}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "nothing sent") || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	body := strings.ReplaceAll(get(t, srv.URL+"/v1/queues"), " ", "")
	if !strings.Contains(body, `"queueName":"later"`) || !strings.Contains(body, `"queueName":"kept"`) || !strings.Contains(body, `"count":1`) {
		t.Fatalf("state after refused restores: %s", body)
	}
}

// `snapshot restore` reports the server's refusal: a backup over --max-backup-bytes.
func TestSnapshotRestoreReportsServerError(t *testing.T) {
	srv := servertest.Start(t, servertest.WithMaxBackupBytes(1024))
	post(t, srv.URL+"/v1/storages", `{"storageName":"big"}`)
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/storages/big/keys/k", strings.NewReader(`{"value":"`+strings.Repeat("QUJD", 1000)+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set: %v %v", resp, err)
	}
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "big.snap")
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, file}, io.Discard); err != nil {
		t.Fatal(err)
	}
	err = runSnapshot([]string{"restore", "--addr", srv.Addr, file}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "413") || !strings.Contains(err.Error(), "--max-backup-bytes") {
		t.Fatalf("restore over the limit: %v", err)
	}
}
