package raftnode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// PeerTLS names the files of mutual TLS on the Raft port. With all three set, a node
// accepts Raft connections only from peers presenting a node certificate signed by the CA,
// and dials peers with its own certificate, verifying theirs against the CA and the dialed
// host name. The files are read again when they change (as cert-manager rotates them), for
// the next handshake.
type PeerTLS struct {
	CertFile string // PEM certificate (chain) of this node
	KeyFile  string // PEM private key of CertFile
	CAFile   string // PEM bundle of the CA(s) that sign peer certificates
}

// Enabled reports whether any file is set.
func (p PeerTLS) Enabled() bool { return p.CertFile != "" || p.KeyFile != "" || p.CAFile != "" }

// handshakeTimeout bounds an incoming peer's TLS handshake, so a connection that never
// completes one does not hold a goroutine.
const handshakeTimeout = 10 * time.Second

// peerCreds holds the node's current key pair and CA pool, reloaded from their files when
// a file changes. Handshakes are rare (Raft pools its connections), so each checks the
// files' stat, which is cheaper than a watcher and sees atomic symlink swaps of mounted
// Kubernetes Secrets.
type peerCreds struct {
	files PeerTLS
	log   *slog.Logger

	mu    sync.Mutex
	stamp [3]os.FileInfo
	cert  *tls.Certificate
	pool  *x509.CertPool
}

// loadPeerCreds reads the files and checks that the node's certificate is a node
// certificate signed by the CA and valid for advertiseHost, the name peers dial.
func loadPeerCreds(files PeerTLS, advertiseHost string, log *slog.Logger) (*peerCreds, error) {
	switch {
	case files.CertFile == "":
		return nil, errors.New("--peer-tls-cert is required with --peer-tls-key and --peer-tls-ca")
	case files.KeyFile == "":
		return nil, errors.New("--peer-tls-key is required with --peer-tls-cert and --peer-tls-ca")
	case files.CAFile == "":
		return nil, errors.New("--peer-tls-ca is required with --peer-tls-cert and --peer-tls-key")
	}
	c := &peerCreds{files: files, log: log}
	stamp, cert, pool, err := c.read()
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if err := verifyNode(leaf, cert.Certificate, pool); err != nil {
		return nil, fmt.Errorf("--peer-tls-cert %s: %w", files.CertFile, err)
	}
	if err := leaf.VerifyHostname(advertiseHost); err != nil {
		return nil, fmt.Errorf("--peer-tls-cert %s is not valid for %q, the Raft advertise host peers dial (names: %v, IPs: %v)",
			files.CertFile, advertiseHost, leaf.DNSNames, leaf.IPAddresses)
	}
	c.stamp, c.cert, c.pool = stamp, cert, pool
	return c, nil
}

// read loads the three files.
func (c *peerCreds) read() (stamp [3]os.FileInfo, cert *tls.Certificate, pool *x509.CertPool, err error) {
	for i, f := range []string{c.files.CertFile, c.files.KeyFile, c.files.CAFile} {
		if stamp[i], err = os.Stat(f); err != nil {
			return stamp, nil, nil, err
		}
	}
	pair, err := tls.LoadX509KeyPair(c.files.CertFile, c.files.KeyFile)
	if err != nil {
		return stamp, nil, nil, fmt.Errorf("--peer-tls-cert/--peer-tls-key: %w", err)
	}
	caPEM, err := os.ReadFile(c.files.CAFile)
	if err != nil {
		return stamp, nil, nil, err
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return stamp, nil, nil, fmt.Errorf("--peer-tls-ca %s: no PEM certificate in it", c.files.CAFile)
	}
	return stamp, &pair, pool, nil
}

// current returns the key pair and pool, reloading them first when a file changed. A
// reload that fails (a half-written rotation, say) keeps the previous credentials and is
// tried again at the next handshake.
func (c *peerCreds) current() (*tls.Certificate, *x509.CertPool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for i, f := range []string{c.files.CertFile, c.files.KeyFile, c.files.CAFile} {
		fi, err := os.Stat(f)
		if err != nil || !sameStamp(fi, c.stamp[i]) {
			changed = true
			break
		}
	}
	if !changed {
		return c.cert, c.pool
	}
	stamp, cert, pool, err := c.read()
	if err == nil {
		err = verifyNode(cert.Leaf, cert.Certificate, pool)
	}
	if err != nil {
		c.log.Warn("peer TLS files changed but cannot be used; keeping the previous ones", "err", err)
		return c.cert, c.pool
	}
	c.stamp, c.cert, c.pool = stamp, cert, pool
	c.log.Info("reloaded peer TLS certificate", "subject", cert.Leaf.Subject.String(), "serial", cert.Leaf.SerialNumber.String(), "not_after", cert.Leaf.NotAfter)
	return cert, pool
}

func sameStamp(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// verifyNode checks that leaf (with the chain sent beside it) is signed by a CA in pool and
// is a node certificate: valid for both TLS server and client authentication. A client
// certificate from the same CA (client authentication only) is not a peer.
func verifyNode(leaf *x509.Certificate, chain [][]byte, pool *x509.CertPool) error {
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		inter.AddCert(c)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return fmt.Errorf("not a node certificate of the peer CA: %w", err)
		}
	}
	return nil
}

// verifyPeer is tls.Config.VerifyConnection for both ends: crypto/tls has checked the
// chain for one usage; the peer must be a node certificate (both usages).
func verifyPeer(pool *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer sent no certificate")
		}
		chain := make([][]byte, len(cs.PeerCertificates))
		for i, c := range cs.PeerCertificates {
			chain[i] = c.Raw
		}
		return verifyNode(cs.PeerCertificates[0], chain, pool)
	}
}

// serverConfig is the listener's configuration; each handshake gets the current files.
func (c *peerCreds) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool := c.current()
			return &tls.Config{
				MinVersion:       tls.VersionTLS13,
				Certificates:     []tls.Certificate{*cert},
				ClientAuth:       tls.RequireAndVerifyClientCert,
				ClientCAs:        pool,
				VerifyConnection: verifyPeer(pool),
			}, nil
		},
	}
}

// clientConfig is the configuration to dial a peer at host.
func (c *peerCreds) clientConfig(host string) *tls.Config {
	_, pool := c.current()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: host,
		RootCAs:    pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := c.current()
			return cert, nil
		},
		VerifyConnection: verifyPeer(pool),
	}
}

// tlsStreamLayer is raft.StreamLayer over mutual TLS: hashicorp/raft's NetworkTransport
// runs on it unchanged.
type tlsStreamLayer struct {
	ln        net.Listener // tls.NewListener over TCP
	advertise net.Addr
	creds     *peerCreds
	log       *slog.Logger
}

func newTLSStreamLayer(bind string, advertise net.Addr, creds *peerCreds, log *slog.Logger) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tlsStreamLayer{ln: tls.NewListener(ln, creds.serverConfig()), advertise: advertise, creds: creds, log: log}, nil
}

// Accept returns the next connection; its handshake runs on first use, in the transport's
// per-connection goroutine, so a slow or hostile peer does not hold up the accept loop.
func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &peerConn{Conn: c.(*tls.Conn), log: l.log}, nil
}

func (l *tlsStreamLayer) Close() error   { return l.ln.Close() }
func (l *tlsStreamLayer) Addr() net.Addr { return l.advertise }

// Dial connects to a peer and completes the handshake within timeout.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: l.creds.clientConfig(host)}
	return d.DialContext(ctx, "tcp", string(address))
}

// peerConn is an accepted connection whose handshake completes (or fails, closing it)
// before the first read or write, within handshakeTimeout.
type peerConn struct {
	*tls.Conn
	log  *slog.Logger
	once sync.Once
	err  error
}

func (c *peerConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.log.Warn("refused a Raft connection: peer TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			// The transport would log a decode error too; the reason is logged above.
			c.err = io.EOF
		}
	})
	return c.err
}

func (c *peerConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *peerConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// newTransport builds the Raft transport: plain TCP, or mutual TLS when cfg.PeerTLS is set
// (then the TLS layer is returned too).
func newTransport(cfg Config, advertise *net.TCPAddr, logger hclog.Logger) (*raft.NetworkTransport, *tlsStreamLayer, error) {
	const maxPool, timeout = 8, 10 * time.Second
	if !cfg.PeerTLS.Enabled() {
		t, err := raft.NewTCPTransportWithLogger(cfg.RaftBind, advertise, maxPool, timeout, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("raft transport on %q: %w", cfg.RaftBind, err)
		}
		return t, nil, nil
	}
	if advertise.IP == nil || advertise.IP.IsUnspecified() {
		return nil, nil, fmt.Errorf("raft advertise address %q is not advertisable", cfg.RaftAdvertise)
	}
	host, _, err := net.SplitHostPort(cfg.RaftAdvertise)
	if err != nil {
		return nil, nil, fmt.Errorf("raft advertise address %q: %w", cfg.RaftAdvertise, err)
	}
	creds, err := loadPeerCreds(cfg.PeerTLS, host, cfg.Logger)
	if err != nil {
		return nil, nil, err
	}
	layer, err := newTLSStreamLayer(cfg.RaftBind, advertise, creds, cfg.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("raft transport on %q: %w", cfg.RaftBind, err)
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: maxPool, Timeout: timeout, Logger: logger,
	}), layer, nil
}

// ErrPeerRefused is the cause when a would-be member's Raft address does not complete a
// peer TLS handshake.
var ErrPeerRefused = errors.New("no node certificate of the cluster's CA at that address")

// VerifyPeer checks, before a server is added to the configuration, that addr is the Raft
// port of a node holding a node certificate of this cluster's CA (valid for addr's host):
// it completes a mutual TLS handshake there and sends nothing. Without peer TLS any address
// passes. A node that could never take part (no certificate, another CA's) is refused
// instead of becoming a member that counts toward quorums but never answers.
func (n *Node) VerifyPeer(ctx context.Context, addr string) error {
	if n.peerTLS == nil {
		return nil
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	c, err := n.peerTLS.Dial(raft.ServerAddress(addr), timeout)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPeerRefused, err)
	}
	return c.Close()
}
