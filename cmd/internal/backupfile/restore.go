package backupfile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/clbs-io/octopusmq/server/state"
)

// StatusError is an answer other than 200 (and other than a redirect Restore follows).
type StatusError struct {
	Code   int    // the HTTP status code
	Status string // "413 Request Entity Too Large"
	Body   string // the server's message, trimmed
}

func (e *StatusError) Error() string { return e.Status + ": " + e.Body }

// CheckStatus returns a *StatusError, with the body the server sent, unless resp is a 200.
func CheckStatus(resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	return &StatusError{Code: resp.StatusCode, Status: resp.Status, Body: string(bytes.TrimSpace(b))}
}

// Post sends one upload attempt: a POST of body (made by NewRestoreRequest) to url, the
// restore endpoint of the address(es) the user named when url is "", and the leader's
// restore endpoint (a redirect's Location) otherwise. It must not follow redirects.
type Post func(url string, body io.Reader) (*http.Response, error)

// NewRestoreRequest is the POST of a backup of size bytes to url.
func NewRestoreRequest(ctx context.Context, url string, body io.Reader, size int64) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// NoRedirects makes hc hand a redirect back instead of following it: not every client
// replays a POST body on a redirect, so Restore follows the leader's redirect itself.
func NoRedirects(hc *http.Client) {
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
}

// Restore uploads the backup file (checked already) with post, from the start of the file
// on each of at most attempts tries: a follower answers 307 with the leader's endpoint,
// which the next try goes to. An answer other than 200 is a *StatusError.
func Restore(file string, attempts int, post Post) (*state.RestoreResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	url := ""
	for range attempts {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		resp, err := post(url, f)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusTemporaryRedirect {
			loc, err := resp.Location()                                   // relative to the request's URL
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
			resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", resp.Status, err)
			}
			url = loc.String()
			continue
		}
		if err := CheckStatus(resp); err != nil {
			resp.Body.Close()
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the answer: %w", err)
		}
		var res state.RestoreResult
		if err := json.Unmarshal(b, &res); err != nil {
			return nil, fmt.Errorf("unexpected answer %q: %w", b, err)
		}
		return &res, nil
	}
	return nil, fmt.Errorf("too many redirects (%d)", attempts)
}
