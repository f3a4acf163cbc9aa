package backupfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clbs-io/octopusmq/server/state"
)

// post is the Post of a client that does not follow redirects.
func post(t *testing.T, first string, size int64) Post {
	hc := &http.Client{}
	NoRedirects(hc)
	return func(url string, body io.Reader) (*http.Response, error) {
		if url == "" {
			url = first
		}
		req, err := NewRestoreRequest(context.Background(), url, body, size)
		if err != nil {
			t.Fatal(err)
		}
		return hc.Do(req)
	}
}

func backup(t *testing.T) (string, []byte) {
	b := bytes.Repeat([]byte("backup bytes "), 1000)
	file := filepath.Join(t.TempDir(), "b.snap")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, b
}

// A follower's redirect is followed with the whole file sent again, to the leader, whose
// answer Restore returns.
func TestRestoreFollowsTheLeaderRedirect(t *testing.T) {
	file, content := backup(t)
	want := state.RestoreResult{Bytes: 123, Records: 4, FromClusterID: "c1", FromIndex: 1 << 60, NextID: 1<<53 + 1, LastLockToken: 7, ClockUnixNano: 9}
	var leaderPosts, followerPosts atomic.Int32
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderPosts.Add(1)
		got, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.ContentLength != int64(len(content)) || r.Header.Get("Content-Type") != "application/octet-stream" || !bytes.Equal(got, content) {
			http.Error(w, "bad upload", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(want)
	}))
	defer leader.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followerPosts.Add(1)
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 100)) // reads a little, as a real one may
		http.Redirect(w, r, leader.URL+"/v1/cluster/snapshot:restore", http.StatusTemporaryRedirect)
	}))
	defer follower.Close()

	res, err := Restore(file, 3, post(t, follower.URL+"/v1/cluster/snapshot:restore", int64(len(content))))
	if err != nil {
		t.Fatal(err)
	}
	if followerPosts.Load() != 1 || leaderPosts.Load() != 1 {
		t.Fatalf("posts: follower %d, leader %d, want 1 and 1", followerPosts.Load(), leaderPosts.Load())
	}
	if *res != want {
		t.Fatalf("result %+v, the leader wrote %+v", *res, want)
	}
}

// Redirects end after the given number of attempts; another status is a *StatusError with
// the server's message.
func TestRestoreGivesUp(t *testing.T) {
	file, content := backup(t)
	var posts atomic.Int32
	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
	}))
	defer loop.Close()
	_, err := Restore(file, 4, post(t, loop.URL+"/r", int64(len(content))))
	if err == nil || !strings.Contains(err.Error(), "too many redirects") || posts.Load() != 4 {
		t.Fatalf("endless redirects: %v after %d posts, want too many redirects after 4", err, posts.Load())
	}

	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "restore: not confirmed in time\n", http.StatusGatewayTimeout)
	}))
	defer fail.Close()
	_, err = Restore(file, 4, post(t, fail.URL, int64(len(content))))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusGatewayTimeout || se.Body != "restore: not confirmed in time" {
		t.Fatalf("a 504: %#v", err)
	}
	if _, err := Restore(filepath.Join(t.TempDir(), "missing"), 4, post(t, fail.URL, 0)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}
