package ui_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// chromiumPath finds a Chromium binary; without one the test skips, except in CI (CI=true),
// where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium binary on PATH (install it: apt-get install -y chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a fresh headless Chromium; the returned context drives one tab.
func browser(t *testing.T) context.Context {
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	// A fresh profile, removed after the browser exits (its helpers may still write while
	// t.TempDir's own cleanup would run, failing the test).
	profile, err := os.MkdirTemp("", "octopusmq-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1100),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf), chromedp.WithErrorf(func(format string, args ...any) {
		// CDP events newer than this chromedp knows are harmless; log real errors.
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled node event") {
			t.Log(msg)
		}
	}))
	t.Cleanup(func() {
		// Close the browser gracefully (waits for it) before the allocator kills what is left.
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("closing the browser: %v", err)
		}
		bcancel()
	})
	return bctx
}

// artifactDir is $OCTOPUSMQ_ARTIFACTS when set, else the test's temporary folder.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("OCTOPUSMQ_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// clickNow clicks the element at once in the page (the dashboard re-renders its rows at
// every refresh, so a node found first and clicked later may be gone).
func clickNow(sel string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).click()`, sel), nil)
}

func enc64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func post(t *testing.T, url, body string) {
	t.Helper()
	if code, resp := servertest.HTTP(t, http.MethodPost, url, body); code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, code, resp)
	}
}

// TestDashboardInBrowser drives /ui in headless Chromium against a real server: it creates a
// queue through the form and the confirmation dialog, watches the depth follow items
// enqueued over REST, sees a server error as a readable message, and browses a storage key.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	srv := servertest.Start(t)

	// Any uncaught JavaScript exception fails the test.
	exceptions := make(chan string, 8)
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			select {
			case exceptions <- e.ExceptionDetails.Error():
			default:
			}
		}
	})
	defer func() {
		select {
		case e := <-exceptions:
			t.Errorf("JavaScript exception in the dashboard: %s", e)
		default:
		}
	}()

	var node string
	createQueue := func(name string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.SetValue(`#create-queue input[name=queueName]`, name, chromedp.ByQuery),
			chromedp.SetValue(`#create-queue input[name=maxSize]`, "50", chromedp.ByQuery),
			chromedp.SetValue(`#create-queue input[name=priorities]`, "3", chromedp.ByQuery),
			chromedp.Click(`#create-queue button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#confirm[open]`, chromedp.ByQuery),
			chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		}
	}
	if err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/ui"),
		chromedp.WaitVisible(`#members tr`, chromedp.ByQuery),
		chromedp.Text(`#node`, &node, chromedp.ByQuery),
		createQueue("orders"),
		chromedp.WaitVisible(`tr[data-queue="orders"]`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("creating a queue in the dashboard: %v", err)
	}
	if !strings.Contains(node, "test-node") {
		t.Errorf("header shows %q, want the node id test-node", node)
	}
	code, body := servertest.HTTP(t, http.MethodGet, srv.URL+"/v1/queues/orders", "")
	if code != http.StatusOK || !strings.Contains(body, `"maxSize":50`) || !strings.Contains(body, `"priorities":3`) {
		t.Fatalf("queue created through the UI: %d %s", code, body)
	}

	// Items enqueued over REST show up as the new depth at the next refresh.
	post(t, srv.URL+"/v1/queues/orders/items", `{"items":[{"value":"YQ=="},{"value":"Yg=="},{"value":"Yw=="}]}`)
	post(t, srv.URL+"/v1/storages", `{"storageName":"sessions"}`)
	if code, resp := servertest.HTTP(t, http.MethodPut, srv.URL+"/v1/storages/sessions/keys/user/42", `{"value":"aGVsbG8gd29ybGQ="}`); code != http.StatusOK {
		t.Fatalf("put key: %d %s", code, resp)
	}
	depth := func(want int) chromedp.Action {
		return chromedp.Poll(fmt.Sprintf(`document.querySelector('tr[data-queue="orders"] td.depth')?.textContent === "%d"`, want), nil,
			chromedp.WithPollingTimeout(30*time.Second))
	}
	if err := chromedp.Run(ctx, depth(3)); err != nil {
		t.Fatalf("waiting for the dashboard to show depth 3: %v", err)
	}

	// A refused change is shown as the server's message.
	var errText string
	if err := chromedp.Run(ctx,
		createQueue("orders"),
		chromedp.WaitVisible(`#errors div`, chromedp.ByQuery),
		chromedp.Text(`#errors div span`, &errText, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("creating a duplicate queue: %v", err)
	}
	if !strings.HasPrefix(errText, "409: ") || !strings.Contains(errText, "orders") {
		t.Errorf("duplicate queue error shown as %q, want 409 and the server's message naming the queue", errText)
	}

	// The key browser lists the storage's keys and shows a value as text and as base64.
	var text, b64 string
	if err := chromedp.Run(ctx,
		chromedp.WaitVisible(`tr[data-storage="sessions"]`, chromedp.ByQuery),
		clickNow(`tr[data-storage="sessions"] button`),
		chromedp.WaitVisible(`#keys li[data-key] a`, chromedp.ByQuery),
		chromedp.Click(`#keys li[data-key] a`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#value-body').textContent !== ""`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(`#value-body`, &text, chromedp.ByQuery),
		chromedp.Click(`input[name=enc][value=base64]`, chromedp.ByQuery),
		chromedp.Text(`#value-body`, &b64, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("browsing keys: %v", err)
	}
	if text != "hello world" || b64 != "aGVsbG8gd29ybGQ=" {
		t.Errorf("value shown as text %q and base64 %q", text, b64)
	}

	// Pause through the dashboard (with confirmation), then a commit-side drain over REST.
	if err := chromedp.Run(ctx,
		clickNow(`tr[data-queue="orders"] td:last-child button:first-child`),
		chromedp.WaitVisible(`#confirm[open]`, chromedp.ByQuery),
		chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('tr[data-queue="orders"] td.state')?.textContent === "paused"`, nil, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("pausing the queue in the dashboard: %v", err)
	}
	post(t, srv.URL+"/v1/queues/orders/items", `{"items":[{"value":"ZA=="},{"value":"ZQ=="}]}`)
	if err := chromedp.Run(ctx, depth(5)); err != nil {
		t.Fatalf("waiting for depth 5: %v", err)
	}

	// A queue with a dead-letter queue: items of several priorities, two dead-lettered over
	// REST (pulled, then requeued past max deliveries); the row shows them per priority and
	// dead-lettered, and peek lists the waiting ones without leasing them.
	post(t, srv.URL+"/v1/queues", `{"queueName":"jobs-dlq"}`)
	post(t, srv.URL+"/v1/queues", `{"queueName":"jobs","priorities":4,"maxDeliveries":1,"deadLetterQueue":"jobs-dlq"}`)
	post(t, srv.URL+"/v1/queues/jobs/items", `{"items":[{"value":"`+enc64("resize image 17")+`","priority":3},{"value":"`+enc64("send mail 4")+`","priority":3},
		{"value":"`+enc64("reindex")+`","priority":1},{"value":"`+enc64("report")+`"},{"value":"`+enc64("cleanup")+`","delay":"600s"}]}`)
	var pulled struct {
		Items []struct{ ID string } `json:"items"`
	}
	code, body = servertest.HTTP(t, http.MethodPost, srv.URL+"/v1/queues/jobs/items:pull", `{"batchSize":2}`)
	if err := json.Unmarshal([]byte(body), &pulled); code != http.StatusOK || err != nil || len(pulled.Items) != 2 {
		t.Fatalf("pull: %d %s", code, body)
	}
	post(t, srv.URL+"/v1/queues/jobs/items:requeue", `{"items":[{"id":"`+pulled.Items[0].ID+`"},{"id":"`+pulled.Items[1].ID+`"}]}`)
	cell := func(queue, class, want string) chromedp.Action {
		return chromedp.Poll(fmt.Sprintf(`document.querySelector('tr[data-queue="%s"] td.%s')?.textContent === %q`, queue, class, want), nil,
			chromedp.WithPollingTimeout(30*time.Second))
	}
	if err := chromedp.Run(ctx,
		cell("jobs", "dead", "2"), cell("jobs", "prio", "1:1 0:1"), cell("jobs", "delayed", "1"), cell("jobs-dlq", "depth", "2"),
		clickNow(`tr[data-queue="jobs"] button.peek`),
		chromedp.Poll(`document.querySelectorAll('#peek-rows tr[data-item]').length === 3`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("dead-lettered items and peek in the dashboard: %v", err)
	}
	if code, body := servertest.HTTP(t, http.MethodGet, srv.URL+"/v1/queues/jobs", ""); code != http.StatusOK || !strings.Contains(body, `"active":0`) {
		t.Fatalf("peek leased items: %d %s", code, body)
	}

	var png []byte
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelectorAll('#errors div button').forEach((b) => b.click())`, nil), // the 409 above, seen
		chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(artifactDir(t), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	// OCTOPUSMQ_SCREENSHOT=server/ui/screenshot.png (relative to the repository) refreshes
	// the README's picture.
	if p := os.Getenv("OCTOPUSMQ_SCREENSHOT"); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join("..", "..", p)
		}
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README screenshot: %s", p)
	}

	// Redrive and purge through the dashboard, each confirmed: the dead-lettered items come
	// back, then every waiting item goes.
	var note string
	if err := chromedp.Run(ctx,
		clickNow(`tr[data-queue="jobs"] button.redrive`),
		chromedp.WaitVisible(`#confirm[open]`, chromedp.ByQuery),
		chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		chromedp.WaitVisible(`#notices div`, chromedp.ByQuery),
		chromedp.Text(`#notices div`, &note, chromedp.ByQuery),
		cell("jobs", "dead", "0"), cell("jobs-dlq", "depth", "0"), cell("jobs", "depth", "5"),
	); err != nil {
		t.Fatalf("redrive in the dashboard: %v", err)
	}
	if !strings.Contains(note, "2 dead-lettered items moved back") {
		t.Errorf("redrive notice %q", note)
	}
	if err := chromedp.Run(ctx,
		clickNow(`tr[data-queue="jobs"] button.purge`),
		chromedp.WaitVisible(`#confirm[open]`, chromedp.ByQuery),
		chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		cell("jobs", "depth", "0"), cell("jobs", "delayed", "0"),
		chromedp.Poll(`document.querySelector('#peek-rows td.muted')?.textContent === "no waiting items"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("purge in the dashboard: %v", err)
	}

	// Resize asks for the new size; delete asks for confirmation and the row goes away.
	if err := chromedp.Run(ctx,
		clickNow(`tr[data-queue="orders"] button.resize`),
		chromedp.WaitVisible(`#confirm-input`, chromedp.ByQuery),
		chromedp.SetValue(`#confirm-input`, "80", chromedp.ByQuery),
		chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('tr[data-queue="orders"] td.max')?.textContent === "80"`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		clickNow(`tr[data-queue="orders"] button.delete`),
		chromedp.WaitVisible(`#confirm[open]`, chromedp.ByQuery),
		chromedp.Click(`#confirm-ok`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('tr[data-queue="orders"]') === null`, nil, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("resizing and deleting the queue in the dashboard: %v", err)
	}
	if code, body := servertest.HTTP(t, http.MethodGet, srv.URL+"/v1/queues/orders", ""); code != http.StatusNotFound {
		t.Errorf("queue deleted through the UI: GET answers %d %s, want 404", code, body)
	}
}

// TestDocsInBrowser loads /docs and waits until Swagger UI has rendered the node's OpenAPI
// document (its title and an operation from it).
func TestDocsInBrowser(t *testing.T) {
	ctx := browser(t)
	srv := servertest.Start(t)
	var title string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/docs"),
		chromedp.WaitVisible(`.swagger-ui .info .title`, chromedp.ByQuery),
		chromedp.Text(`.swagger-ui .info .title`, &title, chromedp.ByQuery),
		chromedp.WaitVisible(`#operations-ManagementService-ManagementService_CreateQueue`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("Swagger UI at /docs: %v", err)
	}
	if !strings.Contains(title, "OctopusMQ HTTP/JSON API") {
		t.Errorf("docs title %q, want the OpenAPI document's title", title)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(artifactDir(t), "docs.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

// TestDashboardWithToken: against a server with a tokens file the dashboard shows the 401
// until a token is entered, then the cluster.
func TestDashboardWithToken(t *testing.T) {
	ctx := browser(t)
	const token = "dashboard-secret-token"
	sum := sha256.Sum256([]byte(token))
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("ops admin "+hex.EncodeToString(sum[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithAuth(auth.Config{TokensFile: tokens}))
	var errText string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/ui/"),
		chromedp.WaitVisible(`#errors div`, chromedp.ByQuery),
		chromedp.Text(`#errors div span`, &errText, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("dashboard without a token: %v", err)
	}
	if !strings.HasPrefix(errText, "401: ") {
		t.Errorf("without a token the dashboard shows %q, want the 401", errText)
	}
	if err := chromedp.Run(ctx,
		chromedp.SetValue(`#token`, token, chromedp.ByQuery),
		chromedp.Click(`#token-form button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#members tr`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#errors').children.length === 0`, nil, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("dashboard with a token: %v", err)
	}
}
