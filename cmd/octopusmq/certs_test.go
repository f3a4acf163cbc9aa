package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsCommand: the generated CA, node and client certificates verify against the CA
// for their usages and hosts, keys are private, and they work for a mutual TLS handshake.
func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := run([]string{"certs", "--dir", dir, "--nodes", "n1,n2", "--clients", "admin", "--hosts", "127.0.0.1,localhost,*.octopusmq-peers"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca", "n1", "n2", "admin"} {
		fi, err := os.Stat(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s.key has mode %v, want 0600", name, m)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode: %v %v", fi.Mode(), err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	leaf := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	verify := func(c *x509.Certificate, usage x509.ExtKeyUsage, host string) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: host})
		return err
	}
	for _, n := range []string{"n1", "n2"} {
		c := leaf(n)
		for _, host := range []string{"127.0.0.1", "localhost", "octopusmq-1.octopusmq-peers"} {
			if err := verify(c, x509.ExtKeyUsageServerAuth, host); err != nil {
				t.Errorf("%s as server for %s: %v", n, host, err)
			}
		}
		if err := verify(c, x509.ExtKeyUsageClientAuth, ""); err != nil {
			t.Errorf("%s as client: %v", n, err)
		}
		if err := verify(c, x509.ExtKeyUsageServerAuth, "other.example"); err == nil {
			t.Errorf("%s verifies for a host it does not name", n)
		}
		if c.Subject.CommonName != n {
			t.Errorf("%s: common name %q", n, c.Subject.CommonName)
		}
	}
	admin := leaf("admin")
	if err := verify(admin, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("admin as client: %v", err)
	}
	if err := verify(admin, x509.ExtKeyUsageServerAuth, ""); err == nil {
		t.Error("a client certificate is valid for server authentication")
	}

	// A real mutual TLS handshake: n1 serves, requiring a client certificate from the CA;
	// admin (and n2) connect verifying n1 against the CA.
	load := func(name string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{load("n1")}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	for _, client := range []string{"admin", "n2"} {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{load(client)}})
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		conn.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(conn, b); err != nil {
			t.Fatalf("%s: handshake accepted but no echo: %v", client, err)
		}
		conn.Close()
	}
	// Without a client certificate the server refuses.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err == nil {
		conn.Write([]byte("x"))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

// TestCertsCommandReusesCA: a second run adds certificates signed by the existing CA and
// refuses to overwrite existing ones; bad names are rejected naming the flag.
func TestCertsCommandReusesCA(t *testing.T) {
	dir := t.TempDir()
	if err := run([]string{"certs", "--dir", dir, "--nodes", "n1"}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err := run([]string{"certs", "--dir", dir, "--nodes", "n4", "--hosts", "10.0.0.4"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if !bytes.Equal(before, after) {
		t.Fatal("the second run replaced the CA")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(after)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "n4.crt"), filepath.Join(dir, "n4.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.0.0.4"}); err != nil {
		t.Fatalf("n4 from the reused CA: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "n1"}, "n1.crt exists"},
		{[]string{"--nodes", "../evil"}, "--nodes"},
		{[]string{"--clients", "ca"}, "--clients"},
		{[]string{"--nodes", "a,a"}, "twice"},
		{[]string{"--nodes", "n9", "--hosts", ""}, "--hosts"},
		{[]string{"--valid", "-1h"}, "--valid"},
	} {
		err := run(append([]string{"certs", "--dir", dir}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
