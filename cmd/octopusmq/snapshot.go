package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
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
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: octopusmq snapshot %s [--addr host:port] FILE", verb)
	}
	file := fs.Arg(0)
	hc := &http.Client{Timeout: *timeout}
	base := "http://" + *addr + "/v1/cluster/snapshot"
	if verb == "save" {
		resp, err := hc.Get(base)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("snapshot: %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		tmp := file + ".partial"
		f, err := os.Create(tmp)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, file); err != nil {
			return err
		}
		fmt.Fprintf(out, "saved %d bytes (applied index %s) to %s\n", n, resp.Header.Get("X-Octopusmq-Applied-Index"), file)
		return nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// POST bodies are not replayed on a redirect by every client: resolve it first.
	target := base + ":restore"
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(data))
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTemporaryRedirect:
			target = resp.Header.Get("Location")
			continue
		case resp.StatusCode != http.StatusOK:
			return fmt.Errorf("restore: %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		fmt.Fprintf(out, "%s", b)
		return nil
	}
	return fmt.Errorf("restore: too many redirects")
}
