package certgen

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	node, err := ca.Issue(Node, "n1", []string{"127.0.0.1", "node1.example", " *.peers ", ""}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := node.Cert
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("node usages %v", c.ExtKeyUsage)
	}
	if !slices.Equal(c.DNSNames, []string{"node1.example", "*.peers"}) || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("names %v %v", c.DNSNames, c.IPAddresses)
	}
	if c.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("certificate outlives its CA: %v > %v", c.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "a.peers"}); err != nil {
		t.Errorf("wildcard: %v", err)
	}
	client, err := ca.Issue(Client, "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verifies for server authentication")
	}
	if _, err := ca.Issue(Node, "", nil, time.Hour); err == nil {
		t.Error("a certificate without a name was issued")
	}
	if _, err := node.TLSCertificate(); err != nil {
		t.Error(err)
	}
}

func TestWriteAndLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.Write(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v %v", fi.Mode(), err)
	}
	back, err := LoadCA(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := back.Issue(Node, "n2", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("issued by the loaded CA: %v", err)
	}
	leafCrt, leafKey, err := kp.Write(dir, "n2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(leafCrt, leafKey); err == nil {
		t.Fatal("a node certificate loaded as a CA")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}
