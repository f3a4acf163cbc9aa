package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/soheilhy/cmux"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// loadServerTLS builds the client port's TLS configuration from the certificate, key and
// client CA files.
func (a *Auth) loadServerTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(a.cfg.TLSCert, a.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// gRPC clients offer only h2 and get it; clients that also offer http/1.1 (curl,
		// browsers) get HTTP/1.1, which the HTTP side of the port serves.
		NextProtos: []string{"http/1.1", "h2"},
	}
	if a.cfg.TLSClientCA != "" {
		pool, err := loadPool("--tls-client-ca", a.cfg.TLSClientCA)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// loadClientTLS builds what this node dials other members' client ports with: their CA
// (--tls-ca, else the system roots) and this node's own certificate as its client
// certificate (its identity when it forwards a request a client certificate authorised).
func (a *Auth) loadClientTLS() (*tls.Config, error) {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &a.server.get().Certificates[0], nil
		},
	}
	if a.cfg.TLSCA != "" {
		pool, err := loadPool("--tls-ca", a.cfg.TLSCA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

func loadPool(flag, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, path)
	}
	return pool, nil
}

// Listener terminates TLS on ln when TLS is configured (each handshake takes the current
// certificate, so a rotated one is used without a restart); without TLS it returns ln.
// The connection mux then splits the decrypted connections between gRPC and HTTP.
func (a *Auth) Listener(ln net.Listener) net.Listener {
	if !a.TLS() {
		return ln
	}
	return tls.NewListener(ln, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1", "h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return a.server.get(), nil
		},
	})
}

// ClientCredentials are the transport credentials this node dials other members with
// (forwarding to the leader, joining): TLS when the client port speaks it.
func (a *Auth) ClientCredentials() credentials.TransportCredentials {
	if !a.TLS() {
		return insecure.NewCredentials()
	}
	return &reloadingTLS{a: a}
}

// reloadingTLS is TLS client credentials whose configuration follows the files.
type reloadingTLS struct {
	a          *Auth
	serverName string
}

func (r *reloadingTLS) creds() credentials.TransportCredentials {
	c := r.a.roots.get().Clone()
	c.ServerName = r.serverName
	return credentials.NewTLS(c)
}

func (r *reloadingTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ClientHandshake(ctx, authority, conn)
}

func (r *reloadingTLS) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ServerHandshake(conn)
}

func (r *reloadingTLS) Info() credentials.ProtocolInfo { return r.creds().Info() }

func (r *reloadingTLS) Clone() credentials.TransportCredentials {
	c := *r
	return &c
}

//lint:ignore SA1019 part of the TransportCredentials interface.
func (r *reloadingTLS) OverrideServerName(name string) error {
	r.serverName = name
	return nil
}

// tlsState returns the TLS state of a connection the client port accepted, looking
// through the connection mux's wrapper.
func tlsState(c net.Conn) (tls.ConnectionState, bool) {
	for range 8 {
		switch t := c.(type) {
		case *tls.Conn:
			return t.ConnectionState(), true
		case *cmux.MuxConn:
			c = t.Conn
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return tls.ConnectionState{}, false
		}
	}
	return tls.ConnectionState{}, false
}
