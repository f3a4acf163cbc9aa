package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestSnapshotWithTLSAndToken: `octopusmq snapshot save|restore` reach a TLS server with
// --tls-ca and --token, and a token that is not admin's is refused.
func TestSnapshotWithTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	ca := servertest.NewCA(t, "ca")
	cert, key, caFile := ca.WriteFiles(t, dir, "server")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ci admin "+auth.HashToken("s3cret")+"\nworker consumer "+auth.HashToken("w")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.WithAuth(auth.Config{TLSCert: cert, TLSKey: key, TokensFile: tokens}))
	file := filepath.Join(dir, "backup.snap")
	var out bytes.Buffer
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, "--tls-ca", caFile, file}, &out); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("save without a token: %v", err)
	}
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, "--tls-ca", caFile, "--token", "w", file}, &out); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("save with a consumer's token: %v", err)
	}
	t.Setenv("OCTOPUSMQ_TOKEN", "s3cret")
	if err := runSnapshot([]string{"save", "--addr", srv.Addr, "--tls-ca", caFile, file}, &out); err != nil {
		t.Fatalf("save with $OCTOPUSMQ_TOKEN: %v", err)
	}
	if err := runSnapshot([]string{"restore", "--addr", srv.Addr, "--tls-ca", caFile, file}, &out); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out.String(), "saved") || !strings.Contains(out.String(), "restored") {
		t.Fatalf("output %q", out.String())
	}
}

// TestDataFileModes: with the server binary's file modes, the data folders are 0700 and
// the Raft log and snapshot files 0600.
func TestDataFileModes(t *testing.T) {
	restrictFileModes()
	srv := servertest.Start(t)
	servertest.HTTP(t, "POST", srv.URL+"/v1/queues", `{"queueName":"q"}`)
	if err := srv.Server().Node().Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	files := 0
	err := filepath.WalkDir(srv.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v", path, perm)
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 { // the Raft log (raft/wal: its metadata database and a segment), a snapshot
		t.Fatalf("only %d files under %s", files, srv.DataDir)
	}
}
