package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

func TestUIAndDocsServed(t *testing.T) {
	srv := servertest.Start(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/ui", "/docs"} {
		resp, err := noRedirect.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != p+"/" {
			t.Errorf("GET %s: %d Location %q, want 301 to %s/", p, resp.StatusCode, resp.Header.Get("Location"), p)
		}
	}
	for _, c := range []struct{ path, ctype, contains string }{
		{"/ui/", "text/html", `src="app.js"`},
		{"/ui/app.js", "javascript", "/v1/queues"},
		{"/ui/style.css", "text/css", "body"},
		{"/docs/", "text/html", "../openapi.json"},
		{"/docs/swagger-ui-bundle.js", "javascript", "SwaggerUIBundle"},
		{"/docs/swagger-ui.css", "text/css", ".swagger-ui"},
	} {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body := new(strings.Builder)
		_, _ = io.Copy(body, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), c.ctype) || !strings.Contains(body.String(), c.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains, strings.Contains(body.String(), c.contains))
		}
	}
	if code, _ := servertest.HTTP(t, http.MethodGet, srv.URL+"/ui/missing.js", ""); code != http.StatusNotFound {
		t.Errorf("GET /ui/missing.js: %d, want 404", code)
	}
}
