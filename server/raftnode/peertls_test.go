package raftnode

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/certgen"
)

// testPKI writes a CA and a node certificate for 127.0.0.1 into a temp folder.
type testPKI struct {
	dir string
	ca  *certgen.CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := certgen.NewCA("test peer CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca}
	if _, _, err := ca.Write(p.dir, "ca"); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes name.crt/name.key and returns the node's PeerTLS files.
func (p *testPKI) issue(t *testing.T, kind certgen.Kind, name string, hosts ...string) (PeerTLS, *certgen.KeyPair) {
	t.Helper()
	kp, err := p.ca.Issue(kind, name, hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := kp.Write(p.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return PeerTLS{CertFile: cert, KeyFile: key, CAFile: p.dir + "/ca.crt"}, kp
}

func testLayer(t *testing.T, files PeerTLS) *tlsStreamLayer {
	t.Helper()
	creds, err := loadPeerCreds(files, "127.0.0.1", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	l, err := newTLSStreamLayer("127.0.0.1:0", nil, creds, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveOne accepts one connection, reads a byte and echoes it, and reports the
// connection's state (or the read error).
type accepted struct {
	state tls.ConnectionState
	err   error
}

func serveOne(l *tlsStreamLayer) <-chan accepted {
	out := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			out <- accepted{err: err}
			return
		}
		defer c.Close()
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			out <- accepted{err: err}
			return
		}
		if _, err := c.Write(b); err != nil {
			out <- accepted{err: err}
			return
		}
		out <- accepted{state: c.(*peerConn).ConnectionState()}
	}()
	return out
}

func TestPeerTLSMutualHandshake(t *testing.T) {
	pki := newTestPKI(t)
	aFiles, aKP := pki.issue(t, certgen.Node, "a", "127.0.0.1")
	bFiles, bKP := pki.issue(t, certgen.Node, "b", "127.0.0.1")
	a, b := testLayer(t, aFiles), testLayer(t, bFiles)

	got := serveOne(a)
	conn, err := b.Dial(raft.ServerAddress("127.0.0.1:"+port(a)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn)
	srv := <-got
	if srv.err != nil {
		t.Fatal(srv.err)
	}
	if s := srv.state.PeerCertificates[0].SerialNumber; s.Cmp(bKP.Cert.SerialNumber) != 0 {
		t.Fatalf("server saw client certificate %v, want b's %v", s, bKP.Cert.SerialNumber)
	}
	if s := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(aKP.Cert.SerialNumber) != 0 {
		t.Fatalf("client saw server certificate %v, want a's %v", s, aKP.Cert.SerialNumber)
	}
}

// TestPeerTLSRefusesStrangers: no certificate, another CA's node certificate, and this CA's
// client certificate (client authentication only) are all refused by the listener; a
// dialer refuses a server with another CA's certificate.
func TestPeerTLSRefusesStrangers(t *testing.T) {
	pki := newTestPKI(t)
	aFiles, _ := pki.issue(t, certgen.Node, "a", "127.0.0.1")
	a := testLayer(t, aFiles)
	other := newTestPKI(t)
	_, rogueKP := other.issue(t, certgen.Node, "rogue", "127.0.0.1")
	_, clientKP := pki.issue(t, certgen.Client, "alice")
	rogue, _ := rogueKP.TLSCertificate()
	client, _ := clientKP.TLSCertificate()

	for name, cfg := range map[string]*tls.Config{
		"no certificate":           {RootCAs: pki.ca.Pool(), ServerName: "127.0.0.1"},
		"another CA's certificate": {RootCAs: pki.ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{rogue}},
		"a client certificate":     {RootCAs: pki.ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{client}},
	} {
		t.Run(name, func(t *testing.T) {
			got := serveOne(a)
			conn, err := tls.Dial("tcp", "127.0.0.1:"+port(a), cfg)
			if err == nil {
				// TLS 1.3: the client's handshake ends before the server checks its
				// certificate; the refusal arrives on the first read.
				conn.Write([]byte{1})
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil {
				t.Fatal("the connection was accepted")
			}
			if srv := <-got; srv.err == nil {
				t.Fatal("the server read from a refused peer")
			}
		})
	}

	// A node of this cluster does not talk to a server whose certificate is not from its CA.
	rogueFiles, _ := other.issue(t, certgen.Node, "rogue2", "127.0.0.1")
	r := testLayer(t, rogueFiles)
	go func() {
		if c, err := r.Accept(); err == nil {
			c.Read(make([]byte, 1))
			c.Close()
		}
	}()
	b := testLayer(t, aFiles)
	if c, err := b.Dial(raft.ServerAddress("127.0.0.1:"+port(r)), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("dialed a server with another CA's certificate")
	}
}

// TestPeerTLSReload: replaced certificate files are used at the next handshake, on both
// the accepting and the dialing side; unusable files keep the previous ones.
func TestPeerTLSReload(t *testing.T) {
	pki := newTestPKI(t)
	aFiles, _ := pki.issue(t, certgen.Node, "a", "127.0.0.1")
	bFiles, _ := pki.issue(t, certgen.Node, "b", "127.0.0.1")
	a, b := testLayer(t, aFiles), testLayer(t, bFiles)

	_, a2 := pki.issue(t, certgen.Node, "a", "127.0.0.1") // rewrites a.crt and a.key
	_, b2 := pki.issue(t, certgen.Node, "b", "127.0.0.1")
	got := serveOne(a)
	conn, err := b.Dial(raft.ServerAddress("127.0.0.1:"+port(a)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, conn)
	conn.Close()
	srv := <-got
	if srv.err != nil {
		t.Fatal(srv.err)
	}
	if s := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(a2.Cert.SerialNumber) != 0 {
		t.Fatalf("a served certificate %v after rotation, want the new %v", s, a2.Cert.SerialNumber)
	}
	if s := srv.state.PeerCertificates[0].SerialNumber; s.Cmp(b2.Cert.SerialNumber) != 0 {
		t.Fatalf("b presented certificate %v after rotation, want the new %v", s, b2.Cert.SerialNumber)
	}

	// A broken rotation (a key that does not match) keeps the last good pair.
	other := newTestPKI(t)
	_, mismatch := other.issue(t, certgen.Node, "x", "127.0.0.1")
	if err := writeFile(aFiles.KeyFile, mismatch.KeyPEM); err != nil {
		t.Fatal(err)
	}
	got = serveOne(a)
	conn, err = b.Dial(raft.ServerAddress("127.0.0.1:"+port(a)), 5*time.Second)
	if err != nil {
		t.Fatalf("dial after a broken rotation: %v", err)
	}
	echo(t, conn)
	conn.Close()
	if srv := <-got; srv.err != nil {
		t.Fatal(srv.err)
	}
	if s := conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(a2.Cert.SerialNumber) != 0 {
		t.Fatalf("a served %v after a broken rotation, want the last good %v", s, a2.Cert.SerialNumber)
	}

	// A new CA (rotated everywhere) is trusted from the next handshake on.
	fresh := newTestPKI(t)
	if _, _, err := fresh.ca.Write(pki.dir, "ca"); err != nil {
		t.Fatal(err)
	}
	pki.ca = fresh.ca
	pki.issue(t, certgen.Node, "a", "127.0.0.1")
	_, b3 := pki.issue(t, certgen.Node, "b", "127.0.0.1")
	got = serveOne(a)
	conn, err = b.Dial(raft.ServerAddress("127.0.0.1:"+port(a)), 5*time.Second)
	if err != nil {
		t.Fatalf("dial after a CA rotation: %v", err)
	}
	echo(t, conn)
	conn.Close()
	if srv := <-got; srv.err != nil || srv.state.PeerCertificates[0].SerialNumber.Cmp(b3.Cert.SerialNumber) != 0 {
		t.Fatalf("after a CA rotation: %v", srv.err)
	}
}

func TestPeerTLSStartChecks(t *testing.T) {
	pki := newTestPKI(t)
	files, _ := pki.issue(t, certgen.Node, "a", "127.0.0.1", "node-a.example")
	clientFiles, _ := pki.issue(t, certgen.Client, "alice")
	other := newTestPKI(t)
	otherFiles, _ := other.issue(t, certgen.Node, "x", "127.0.0.1")
	for _, tc := range []struct {
		name  string
		files PeerTLS
		host  string
		want  string
	}{
		{"no cert", PeerTLS{KeyFile: files.KeyFile, CAFile: files.CAFile}, "127.0.0.1", "--peer-tls-cert is required"},
		{"no key", PeerTLS{CertFile: files.CertFile, CAFile: files.CAFile}, "127.0.0.1", "--peer-tls-key is required"},
		{"no ca", PeerTLS{CertFile: files.CertFile, KeyFile: files.KeyFile}, "127.0.0.1", "--peer-tls-ca is required"},
		{"missing file", PeerTLS{CertFile: files.CertFile + ".gone", KeyFile: files.KeyFile, CAFile: files.CAFile}, "127.0.0.1", ".gone"},
		{"other CA", PeerTLS{CertFile: otherFiles.CertFile, KeyFile: otherFiles.KeyFile, CAFile: files.CAFile}, "127.0.0.1", "not a node certificate"},
		{"client cert", clientFiles, "127.0.0.1", "not a node certificate"},
		{"wrong host", files, "10.1.2.3", `not valid for "10.1.2.3"`},
		{"ca is not pem", PeerTLS{CertFile: files.CertFile, KeyFile: files.KeyFile, CAFile: files.KeyFile}, "127.0.0.1", "--peer-tls-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadPeerCreds(tc.files, tc.host, slog.Default())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := loadPeerCreds(files, "node-a.example", slog.Default()); err != nil {
		t.Fatalf("a DNS name of the certificate: %v", err)
	}
}

func echo(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{42}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 42 {
		t.Fatalf("echo: %v %v", b, err)
	}
}

func port(l *tlsStreamLayer) string {
	_, p, _ := net.SplitHostPort(l.ln.Addr().String())
	return p
}

func writeFile(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
