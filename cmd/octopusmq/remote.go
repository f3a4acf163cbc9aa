package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"
)

// remote holds the flags of a command that talks to a server's client port over HTTP:
// TLS and the bearer token.
type remote struct {
	token, tlsCA *string
	tls          *bool
}

func remoteFlags(fs *flag.FlagSet) *remote {
	return &remote{
		token: fs.String("token", os.Getenv("OCTOPUSMQ_TOKEN"), "bearer token (an admin's) to send (default $OCTOPUSMQ_TOKEN)"),
		tlsCA: fs.String("tls-ca", os.Getenv("OCTOPUSMQ_TLS_CA"), "connect with TLS, trusting this PEM CA bundle (default $OCTOPUSMQ_TLS_CA)"),
		tls:   fs.Bool("tls", false, "connect with TLS, trusting the system roots (implied by --tls-ca)"),
	}
}

// client returns an HTTP client for the server and the URL scheme to use. Redirects (a
// follower points at the leader) keep the Authorization header, which Go's client drops
// when the host changes.
func (r *remote) client(timeout time.Duration) (*http.Client, string, error) {
	hc := &http.Client{Timeout: timeout}
	scheme := "http"
	if *r.tlsCA != "" || *r.tls {
		scheme = "https"
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *r.tlsCA != "" {
			pem, err := os.ReadFile(*r.tlsCA)
			if err != nil {
				return nil, "", fmt.Errorf("--tls-ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, "", fmt.Errorf("--tls-ca %s: no PEM certificate in it", *r.tlsCA)
			}
		}
		hc.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		r.authorize(req)
		return nil
	}
	return hc, scheme, nil
}

// authorize adds the bearer token, if any, to req.
func (r *remote) authorize(req *http.Request) {
	if *r.token != "" {
		req.Header.Set("Authorization", "Bearer "+*r.token)
	}
}
