package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/clbs-io/octopusmq/server/certgen"
)

var certName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// runCerts implements `octopusmq certs`: it creates (or reuses) a CA in --dir and issues
// node and client certificates with it, so a secure cluster needs no openssl.
func runCerts(args []string, out io.Writer) error {
	fset := flag.NewFlagSet("octopusmq certs", flag.ContinueOnError)
	dir := fset.String("dir", "./certs", "folder for the files (created with mode 0700); an existing ca.crt/ca.key there is reused")
	nodes := fset.String("nodes", "", "node certificates to issue, comma separated (NAME.crt, NAME.key): TLS server and client, for the Raft and client ports")
	clients := fset.String("clients", "", "client certificates to issue, comma separated (NAME.crt, NAME.key): TLS client only, not accepted on the Raft port")
	hosts := fset.String("hosts", "localhost,127.0.0.1", "host names and IPs the node certificates are valid for (wildcards like *.octopusmq-peers allowed): every address peers dial and clients connect to")
	valid := fset.Duration("valid", 365*24*time.Hour, "validity of the issued certificates")
	fset.Usage = func() {
		fmt.Fprintf(fset.Output(), "Usage: octopusmq certs [--dir DIR] [--nodes n1,n2,...] [--clients c1,...] [--hosts h1,h2,...]\n\nCreates a CA (DIR/ca.crt, DIR/ca.key) unless DIR holds one, and issues ECDSA P-256 certificates\nsigned by it. Keys are written with mode 0600. Existing certificates are not overwritten.\n\nFlags:\n")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("certs: unexpected argument %q", fset.Arg(0))
	}
	if *valid <= 0 {
		return fmt.Errorf("--valid %v: want a positive duration", *valid)
	}
	nodeNames, err := certNames("nodes", *nodes)
	if err != nil {
		return err
	}
	clientNames, err := certNames("clients", *clients)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range append(append([]string{}, nodeNames...), clientNames...) {
		if seen[n] {
			return fmt.Errorf("certs: %q is named twice in --nodes/--clients", n)
		}
		seen[n] = true
		for _, ext := range []string{".crt", ".key"} {
			if _, err := os.Stat(filepath.Join(*dir, n+ext)); err == nil {
				return fmt.Errorf("certs: %s exists: remove it to issue a new certificate for %q", filepath.Join(*dir, n+ext), n)
			}
		}
	}
	var hostList []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hostList = append(hostList, h)
		}
	}
	if len(nodeNames) > 0 && len(hostList) == 0 {
		return errors.New("--hosts is empty: node certificates must name the hosts peers and clients dial")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}

	caCrt, caKey := filepath.Join(*dir, "ca.crt"), filepath.Join(*dir, "ca.key")
	ca, err := certgen.LoadCA(caCrt, caKey)
	switch {
	case err == nil:
		fmt.Fprintf(out, "using the CA in %s\n", caCrt)
	case errors.Is(err, fs.ErrNotExist):
		if ca, err = certgen.NewCA("OctopusMQ CA", 10*365*24*time.Hour); err != nil {
			return err
		}
		if _, _, err := ca.Write(*dir, "ca"); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s and %s (keep the key secret: it signs certificates the cluster trusts)\n", caCrt, caKey)
	default:
		return fmt.Errorf("certs: the CA in %s: %w", *dir, err)
	}

	issue := func(kind certgen.Kind, name string, hosts []string) error {
		kp, err := ca.Issue(kind, name, hosts, *valid)
		if err != nil {
			return err
		}
		crt, key, err := kp.Write(*dir, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s and %s\n", crt, key)
		return nil
	}
	for _, n := range nodeNames {
		if err := issue(certgen.Node, n, hostList); err != nil {
			return err
		}
	}
	for _, n := range clientNames {
		if err := issue(certgen.Client, n, nil); err != nil {
			return err
		}
	}
	return nil
}

// certNames splits a comma-separated list of names that become file names.
func certNames(flagName, v string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !certName.MatchString(n) || n == "ca" {
			return nil, fmt.Errorf("--%s: %q is not a usable name (letters, digits, '.', '_', '-'; not \"ca\")", flagName, n)
		}
		out = append(out, n)
	}
	return out, nil
}
