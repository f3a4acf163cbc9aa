package server_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// httpBinding is one HTTP binding of api/http.yaml (a rule or one of its additional
// bindings).
type httpBinding struct {
	Get                string        `yaml:"get"`
	Post               string        `yaml:"post"`
	Put                string        `yaml:"put"`
	Patch              string        `yaml:"patch"`
	Delete             string        `yaml:"delete"`
	AdditionalBindings []httpBinding `yaml:"additional_bindings"`
}

// httpYAMLRoutes parses api/http.yaml into its path templates, each with the methods that
// serve it, in the order an Allow header lists them.
func httpYAMLRoutes(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "api", "http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HTTP struct {
			Rules []httpBinding `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("api/http.yaml: %v", err)
	}
	routes := map[string][]string{}
	var add func(httpBinding)
	add = func(r httpBinding) {
		for method, path := range map[string]string{"GET": r.Get, "POST": r.Post, "PUT": r.Put, "PATCH": r.Patch, "DELETE": r.Delete} {
			if path != "" {
				routes[path] = append(routes[path], method)
			}
		}
		for _, ab := range r.AdditionalBindings {
			add(ab)
		}
	}
	for _, r := range doc.HTTP.Rules {
		add(r)
	}
	if len(routes) < 20 {
		t.Fatalf("found %d paths in api/http.yaml", len(routes))
	}
	order := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	for path, methods := range routes {
		slices.SortFunc(methods, func(a, b string) int { return slices.Index(order, a) - slices.Index(order, b) })
		routes[path] = methods
	}
	return routes
}

// pathParam is a path variable of api/http.yaml: {name} or {name=**}.
var pathParam = regexp.MustCompile(`\{([a-z_]+)(=[^}]*)?\}`)

// samplePath fills a path template's variables with sample values.
func samplePath(t *testing.T, template string) string {
	values := map[string]string{"queue_name": "jobs", "storage_name": "kv", "key": "a/b", "binary_key": "YQ", "id": "n1"}
	return pathParam.ReplaceAllStringFunc(template, func(v string) string {
		name := pathParam.FindStringSubmatch(v)[1]
		val, ok := values[name]
		if !ok {
			t.Fatalf("%s: no sample value for {%s}; add one to samplePath", template, name)
		}
		return val
	})
}

// Every route of api/http.yaml, and the server's own backup routes, asked with a method it
// does not serve answers 405 with an Allow header listing exactly the methods that serve its
// path, custom-verb routes included: GET /v1/queues/jobs:purge is the purge route asked with
// GET, not GetQueue of a queue named "jobs:purge". HEAD is tried where GET is not served.
func TestHTTPWrongMethodEveryRoute(t *testing.T) {
	srv := servertest.Start(t)
	routes := httpYAMLRoutes(t)
	routes["/v1/cluster/snapshot"] = []string{"GET", "HEAD"}
	routes["/v1/cluster/snapshot:restore"] = []string{"POST"}
	checked := 0
	for template, methods := range routes {
		path := samplePath(t, template)
		allow := strings.Join(methods, ", ")
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) || m == "HEAD" && slices.Contains(methods, "GET") {
				continue
			}
			req, err := http.NewRequest(m, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != allow {
				t.Errorf("%s %s (%s): %d Allow %q %s; want 405 Allow %q", m, path, template, resp.StatusCode, resp.Header.Get("Allow"), b, allow)
				continue
			}
			if m != "HEAD" && !strings.Contains(string(b), "method "+m+" is not allowed") {
				t.Errorf("%s %s: 405 body %s does not name the method", m, path, b)
			}
			checked++
		}
	}
	if checked < 80 {
		t.Fatalf("checked %d wrong methods; the walk missed routes", checked)
	}
	t.Logf("%d paths, %d wrong methods answered 405", len(routes), checked)
}

// A name or key that contains ':' but does not end in a route's verb still reaches the plain
// route: a queue or storage name answers 400 naming the field, a key is a key. A key ending
// in ":lock" is reached with its colon escaped (%3A); unescaped, the path is the lock route.
func TestHTTPColonNamesAndKeys(t *testing.T) {
	srv := servertest.Start(t)
	u := srv.URL
	for _, c := range []struct{ method, path, field string }{
		{"GET", "/v1/queues/a:b", "queue_name"},
		{"DELETE", "/v1/queues/jobs:nosuchverb", "queue_name"},
		{"DELETE", "/v1/storages/a:b", "storage_name"},
		{"GET", "/v1/queues/a:b/stats", "queue_name"},
	} {
		code, body := servertest.HTTP(t, c.method, u+c.path, "")
		if code != http.StatusBadRequest || !strings.Contains(body, c.field) || !strings.Contains(body, "':'") {
			t.Errorf("%s %s: %d %s; want 400 naming %s and ':'", c.method, c.path, code, body, c.field)
		}
	}
	// An empty key that only the key route could mean stays its 400.
	if code, body := servertest.HTTP(t, "PUT", u+"/v1/storages/kv/keys/", `{"value":"eA=="}`); code != http.StatusBadRequest || !strings.Contains(body, "key must not be empty") {
		t.Errorf("PUT /keys/: %d %s; want 400 naming the key", code, body)
	}

	if code, body := servertest.HTTP(t, "POST", u+"/v1/storages", `{"storageName":"kv"}`); code != 200 {
		t.Fatalf("create storage: %d %s", code, body)
	}
	for _, c := range []struct{ put, get, key string }{
		{"/keys/k%3Alock", "/keys/k%3Alock", "k:lock"},
		{"/keys/user%3A123", "/keys/user:123", "user:123"},
	} {
		if code, body := servertest.HTTP(t, "PUT", u+"/v1/storages/kv"+c.put, `{"value":"eA=="}`); code != 200 {
			t.Fatalf("PUT %s: %d %s", c.put, code, body)
		}
		code, body := servertest.HTTP(t, "GET", u+"/v1/storages/kv"+c.get, "")
		if want := base64.StdEncoding.EncodeToString([]byte(c.key)); code != 200 || !strings.Contains(body, `"key":"`+want+`"`) {
			t.Fatalf("GET %s: %d %s; want the key %q", c.get, code, body, c.key)
		}
	}
	req, _ := http.NewRequest("GET", u+"/v1/storages/kv/keys/k:lock", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || !strings.Contains(string(b), "%3A") {
		t.Fatalf("GET /keys/k:lock: %d Allow %q %s; want 405 Allow POST with the %%3A hint", resp.StatusCode, resp.Header.Get("Allow"), b)
	}
	// The lock route itself locks the key before the verb.
	if code, body := servertest.HTTP(t, "POST", u+"/v1/storages/kv/keys/k%3Alock:lock", `{}`); code != 200 || !strings.Contains(body, base64.StdEncoding.EncodeToString([]byte("k:lock"))) {
		t.Fatalf("POST /keys/k%%3Alock:lock: %d %s", code, body)
	}
}
