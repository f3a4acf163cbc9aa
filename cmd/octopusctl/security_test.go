package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestSecureServer: --tls-ca and --token (or their environment variables) reach a server
// with TLS and tokens; a missing token is refused.
func TestSecureServer(t *testing.T) {
	dir := t.TempDir()
	ca := servertest.NewCA(t, "ca")
	cert, key, caFile := ca.WriteFiles(t, dir, "server")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ops admin "+auth.HashToken("ops-secret")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithAuth(auth.Config{TLSCert: cert, TLSKey: key, TokensFile: tokens}))
	ok(t, srv.Addr, "", "--tls-ca", caFile, "--token", "ops-secret", "queue", "create", "jobs")
	r := ctl(t, srv.Addr, "", "--tls-ca", caFile, "queue", "create", "other")
	if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "unauthenticated") {
		t.Fatalf("without a token: %+v", r)
	}
	if r := ctl(t, srv.Addr, "", "--tls-ca", filepath.Join(dir, "missing.crt"), "queue", "create", "other"); r.code == 0 || !strings.Contains(r.stderr, "--tls-ca") {
		t.Fatalf("a missing CA file: %+v", r)
	}
}
