package chaostest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// restClient sends JSON requests to one node with a bounded time per request.
var restClient = &http.Client{Timeout: 10 * time.Second}

// restError is a non-2xx answer.
type restError struct {
	code int
	body string
}

func (e *restError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.body) }

// rest sends body (JSON-encoded unless nil) and decodes a 2xx answer into out (unless nil).
func rest(ctx context.Context, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	traceNode(ctx, req.URL.Host)
	req.Header.Set("Content-Type", "application/json")
	resp, err := restClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &restError{code: resp.StatusCode, body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// statusOf is an error's HTTP status (0 when it is not an HTTP answer).
func statusOf(err error) int {
	if e, ok := err.(*restError); ok {
		return e.code
	}
	return 0
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func unb64(s string) string {
	b, _ := base64.StdEncoding.DecodeString(s)
	return string(b)
}
