package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// preflight sends a CORS preflight for POST /v1/queues from origin.
func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url+"/v1/queues", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORSPreflightAllowedAndDisallowedOrigins(t *testing.T) {
	srv := servertest.Start(t, servertest.WithCORSOrigins("https://dash.example", "http://localhost:8080"))

	resp := preflight(t, srv.URL, "https://dash.example")
	if resp.StatusCode/100 != 2 {
		t.Fatalf("allowed preflight: status %d, want 2xx", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://dash.example" {
		t.Errorf("allowed preflight: Access-Control-Allow-Origin %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("allowed preflight: Access-Control-Allow-Methods %q lacks POST", got)
	}
	if got := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "content-type") || !strings.Contains(got, "authorization") {
		t.Errorf("allowed preflight: Access-Control-Allow-Headers %q", got)
	}

	resp = preflight(t, srv.URL, "https://evil.example")
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
		if got := resp.Header.Get(h); got != "" {
			t.Errorf("disallowed preflight: %s %q, want none", h, got)
		}
	}

	// The actual request from an allowed origin carries the header too; the API still works.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/queues", nil)
	req.Header.Set("Origin", "http://localhost:8080")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Errorf("GET from allowed origin: status %d, Access-Control-Allow-Origin %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	srv := servertest.Start(t, servertest.WithCORSOrigins("*"))
	resp := preflight(t, srv.URL, "https://anywhere.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != "https://anywhere.example" {
		t.Errorf("preflight with *: Access-Control-Allow-Origin %q", got)
	}
}

func TestCORSOffByDefault(t *testing.T) {
	srv := servertest.Start(t)
	resp := preflight(t, srv.URL, "https://dash.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("no --cors-origins: Access-Control-Allow-Origin %q, want none", got)
	}
}
