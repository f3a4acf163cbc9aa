package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/clbs-io/octopusmq/cmd/internal/backupfile"
)

// runSnapshot implements `octopusmq snapshot save|restore [--addr host:port] FILE`.
func runSnapshot(args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "save" && args[0] != "restore") {
		return fmt.Errorf("usage: octopusmq snapshot save|restore [--addr host:port] FILE")
	}
	verb := args[0]
	fs := flag.NewFlagSet("octopusmq snapshot "+verb, flag.ContinueOnError)
	addr := fs.String("addr", "localhost:4123", "client address of any member (followers redirect to the leader)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	rf := remoteFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: octopusmq snapshot %s [--addr host:port] FILE", verb)
	}
	hc, scheme, err := rf.client(*timeout)
	if err != nil {
		return err
	}
	base := scheme + "://" + *addr + "/v1/cluster/snapshot"
	if verb == "save" {
		return saveSnapshot(hc, rf, base, fs.Arg(0), out)
	}
	return restoreSnapshot(hc, rf, base+":restore", fs.Arg(0), out)
}

// saveSnapshot downloads a backup into file (mode 0600), checks what it wrote, and only
// then puts it in place.
func saveSnapshot(hc *http.Client, rf *remote, url, file string, out io.Writer) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	rf.authorize(req)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := backupfile.CheckStatus(resp); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	info, err := backupfile.Save(resp.Body, file)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	fmt.Fprintf(out, "saved %d bytes to %s: %d records of cluster %s at applied index %d\n", info.Size, file, info.Records, info.ClusterID, info.AppliedIndex)
	return nil
}

// restoreSnapshot checks file locally, then uploads it, following the leader redirect.
func restoreSnapshot(hc *http.Client, rf *remote, target, file string, out io.Writer) error {
	info, err := backupfile.Check(file)
	if err != nil {
		return fmt.Errorf("restore: %s is not a valid backup (nothing sent): %w", file, err)
	}
	backupfile.NoRedirects(hc)
	res, err := backupfile.Restore(file, 3, func(url string, body io.Reader) (*http.Response, error) {
		if url == "" {
			url = target
		}
		req, err := backupfile.NewRestoreRequest(context.Background(), url, body, info.Size)
		if err != nil {
			return nil, err
		}
		rf.authorize(req)
		return hc.Do(req)
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(out, "restored %d records (%d bytes) of cluster %s at applied index %d; next id %d, last lock token %d\n",
		res.Records, res.Bytes, res.FromClusterID, res.FromIndex, res.NextID, res.LastLockToken)
	return nil
}
