package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/cmd/internal/backupfile"
)

// snapshot save|restore: backups through the server's HTTP backup endpoints
// (GET /v1/cluster/snapshot, POST /v1/cluster/snapshot:restore) on the client port, with
// a progress bar on standard error and a summary.

func newSnapshotCmd(g *globals) *cobra.Command {
	return newGroup("snapshot", "Save the cluster's state to a file, or restore it from one",
		`  octopusctl snapshot save backup.snap
  octopusctl snapshot restore backup.snap --yes`,
		snapshotSaveCmd(g), snapshotRestoreCmd(g))
}

// snapshotFlags are the flags of both snapshot commands.
type snapshotFlags struct {
	timeout  time.Duration
	progress string
}

func (f *snapshotFlags) add(c *cobra.Command) {
	c.Flags().DurationVar(&f.timeout, "transfer-timeout", 30*time.Minute, "bound of the whole transfer (--timeout bounds connecting)")
	c.Flags().StringVar(&f.progress, "progress", "auto", "progress bar on standard error: auto (when it is a terminal), always or never")
}

func (f *snapshotFlags) showProgress(cmd *cobra.Command) (bool, error) {
	switch f.progress {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		fi, err := os.Stderr.Stat()
		return err == nil && fi.Mode()&os.ModeCharDevice != 0 && cmd.ErrOrStderr() == os.Stderr, nil
	}
	return false, usagef("--progress must be auto, always or never, not %q", f.progress)
}

// httpClient is an HTTP client for the client port with --tls-ca and --token, and the URL
// scheme to use. Redirects (a follower points at the leader) keep the token.
func (g *globals) httpClient(timeout time.Duration) (*http.Client, string, error) {
	hc := &http.Client{Timeout: timeout}
	scheme := "http"
	if g.tlsCA != "" {
		pem, err := os.ReadFile(g.tlsCA)
		if err != nil {
			return nil, "", fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--tls-ca %s: no PEM certificate in it", g.tlsCA)
		}
		scheme = "https"
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		g.authorize(req)
		return nil
	}
	return hc, scheme, nil
}

func (g *globals) authorize(req *http.Request) {
	if g.token != "" {
		req.Header.Set("Authorization", "Bearer "+g.token)
	}
}

// addrs are the addresses of --addr.
func (g *globals) addrs() []string {
	var out []string
	for _, a := range strings.Split(g.addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// doFirst sends the request build makes to each address of --addr until one answers.
func (g *globals) doFirst(hc *http.Client, scheme string, build func(base string) (*http.Request, error)) (*http.Response, error) {
	var errs []error
	for _, a := range g.addrs() {
		req, err := build(scheme + "://" + a)
		if err != nil {
			return nil, err
		}
		g.authorize(req)
		resp, err := hc.Do(req)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, usagef("--addr names no address")
	}
	return nil, &unavailableError{errors.Join(errs...)}
}

// unavailableError: no node answered (exit code 5).
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// progressBar draws "label [=====>    ]  42% 1.2 MiB/2.9 MiB" on w, at most every 100 ms.
type progressBar struct {
	w           io.Writer
	label       string
	total, done int64
	last        time.Time
	show, drawn bool
}

func (p *progressBar) add(n int) {
	p.done += int64(n)
	if p.show && time.Since(p.last) >= 100*time.Millisecond {
		p.draw()
	}
}

func (p *progressBar) draw() {
	p.last = time.Now()
	p.drawn = true
	const width = 30
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%s %s", p.label, size(p.done))
		return
	}
	frac := min(float64(p.done)/float64(p.total), 1)
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	if n > 0 && n < width {
		bar = strings.Repeat("=", n-1) + ">" + strings.Repeat(" ", width-n)
	}
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s/%s", p.label, bar, frac*100, size(p.done), size(p.total))
}

// finish draws the final state and ends the line.
func (p *progressBar) finish() {
	if p.show {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type progressReader struct {
	r io.Reader
	p *progressBar
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}

// snapshotSummary is the result of save and restore as -o json/yaml print it.
type snapshotSummary struct {
	Action        string  `json:"action" yaml:"action"`
	File          string  `json:"file" yaml:"file"`
	Bytes         int64   `json:"bytes" yaml:"bytes"`
	Records       uint64  `json:"records" yaml:"records"`
	ClusterID     string  `json:"clusterId" yaml:"clusterId"`
	AppliedIndex  uint64  `json:"appliedIndex" yaml:"appliedIndex"`
	NextID        uint64  `json:"nextId" yaml:"nextId"`
	LastLockToken uint64  `json:"lastLockToken" yaml:"lastLockToken"`
	Seconds       float64 `json:"seconds" yaml:"seconds"`
}

func snapshotSaveCmd(g *globals) *cobra.Command {
	var f snapshotFlags
	c := &cobra.Command{
		Use:   "save FILE",
		Short: "Download a consistent backup of the whole cluster state into FILE",
		Long: `save downloads a backup from the leader (any node redirects there) into FILE (mode
0600), checks every record and the checksum of what it wrote, and only then puts FILE in
place, printing a summary. Needs an admin token on a secured cluster.`,
		Example: `  octopusctl snapshot save backup.snap
  octopusctl --addr n1:4123,n2:4123 --tls-ca ca.crt --token "$ADMIN" snapshot save /backups/$(date +%F).snap -o json`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			show, err := f.showProgress(cmd)
			if err != nil {
				return err
			}
			file := args[0]
			hc, scheme, err := g.httpClient(f.timeout)
			if err != nil {
				return err
			}
			start := time.Now()
			resp, err := g.doFirst(hc, scheme, func(base string) (*http.Request, error) {
				return http.NewRequestWithContext(cmd.Context(), http.MethodGet, base+"/v1/cluster/snapshot", nil)
			})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if err := backupfile.CheckStatus(resp); err != nil {
				return fmt.Errorf("snapshot save: %w", err)
			}
			p := &progressBar{w: cmd.ErrOrStderr(), label: "saving", total: resp.ContentLength, show: show}
			info, err := backupfile.Save(&progressReader{resp.Body, p}, file)
			p.finish()
			if err != nil {
				return fmt.Errorf("snapshot save: %w", err)
			}
			s := snapshotSummary{Action: "saved", File: file, Bytes: info.Size, Records: info.Records, ClusterID: info.ClusterID,
				AppliedIndex: info.AppliedIndex, NextID: info.Counters.NextID, LastLockToken: info.Counters.LastToken,
				Seconds: time.Since(start).Seconds()}
			t := &table{}
			t.add(fmt.Sprintf("saved %s to %s in %.1fs: %d records of cluster %s at applied index %d (next id %d, last lock token %d)",
				size(s.Bytes), file, s.Seconds, s.Records, s.ClusterID, s.AppliedIndex, s.NextID, s.LastLockToken))
			return emit(cmd.OutOrStdout(), g.output, s, t)
		}),
	}
	f.add(c)
	return c
}

func snapshotRestoreCmd(g *globals) *cobra.Command {
	var (
		f   snapshotFlags
		yes bool
	)
	c := &cobra.Command{
		Use:   "restore FILE --yes",
		Short: "Replace the whole cluster state with a backup (asks for --yes)",
		Long: `restore checks FILE as the server will, then uploads it to the leader, which replaces
the state of every member with it. Ids, fencing tokens and the clock never run back: the
cluster keeps the larger of its own and the backup's counters. Everything written since the
backup is lost, so restore acts only with --yes.`,
		Example: `  octopusctl snapshot restore backup.snap --yes
  octopusctl snapshot restore backup.snap --yes --progress always -o json`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			show, err := f.showProgress(cmd)
			if err != nil {
				return err
			}
			file := args[0]
			info, err := backupfile.Check(file)
			if err != nil {
				return usagef("snapshot restore: %s is not a valid backup (nothing sent): %v", file, err)
			}
			if !yes {
				return usagef("snapshot restore replaces the whole cluster state with %s (%d records of cluster %s at applied index %d): add --yes to go ahead",
					file, info.Records, info.ClusterID, info.AppliedIndex)
			}
			hc, scheme, err := g.httpClient(f.timeout)
			if err != nil {
				return err
			}
			backupfile.NoRedirects(hc)
			start := time.Now()
			res, err := backupfile.Restore(file, 4, func(url string, body io.Reader) (*http.Response, error) {
				p := &progressBar{w: cmd.ErrOrStderr(), label: "restoring", total: info.Size, show: show}
				defer p.finish()
				build := func(base string) (*http.Request, error) {
					return backupfile.NewRestoreRequest(cmd.Context(), base+"/v1/cluster/snapshot:restore", &progressReader{body, p}, info.Size)
				}
				if url == "" {
					return g.doFirst(hc, scheme, build)
				}
				req, err := backupfile.NewRestoreRequest(cmd.Context(), url, &progressReader{body, p}, info.Size)
				if err != nil {
					return nil, err
				}
				g.authorize(req)
				return hc.Do(req)
			})
			if err != nil {
				return fmt.Errorf("snapshot restore: %w", err)
			}
			s := snapshotSummary{Action: "restored", File: file, Bytes: res.Bytes, Records: res.Records, ClusterID: res.FromClusterID,
				AppliedIndex: res.FromIndex, NextID: res.NextID, LastLockToken: res.LastLockToken, Seconds: time.Since(start).Seconds()}
			t := &table{}
			t.add(fmt.Sprintf("restored %s from %s in %.1fs: %d records of cluster %s at applied index %d; next id %d, last lock token %d",
				size(s.Bytes), file, s.Seconds, s.Records, s.ClusterID, s.AppliedIndex, s.NextID, s.LastLockToken))
			return emit(cmd.OutOrStdout(), g.output, s, t)
		}),
	}
	f.add(c)
	c.Flags().BoolVar(&yes, "yes", false, "go ahead: replace the cluster's state")
	return c
}
