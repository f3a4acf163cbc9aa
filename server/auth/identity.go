package auth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Metadata the node sets on its in-process connection (never taken from the network: the
// gateway's annotator replaces whatever a request's headers say under these keys).
const (
	// viaKey says who made an in-process call: "gateway" (a REST request) or "node".
	viaKey = "x-octopusmq-via"
	// certNamesKey holds the names of the client certificate a REST request presented.
	certNamesKey = "x-octopusmq-cert-names-bin"
)

// Identity is an authenticated caller.
type Identity struct {
	// Name is the tokens file's NAME, the client certificate's name, "node" for this
	// cluster's own nodes, or "anonymous" when authentication is off.
	Name string
	// By is how the caller proved it: "token", "cert", "node" or "none".
	By     string
	grants []Grant
	// token is the hash of the caller's token (By == "token"), checked again when the
	// tokens file changes under an open stream.
	token [sha256.Size]byte
	table *tokenTable
	names []string
}

var (
	anonymous = &Identity{Name: "anonymous", By: "none", grants: []Grant{{Role: RoleAdmin}}}
	node      = &Identity{Name: "node", By: "node", grants: []Grant{{Role: RoleAdmin}}}
)

// errUnauthenticated is the answer to a call without a credential.
var errMissing = status.Error(codes.Unauthenticated,
	"unauthenticated: send the header authorization: Bearer <token> (or a client certificate)")

// fromGRPC authenticates a gRPC call.
func (a *Auth) fromGRPC(ctx context.Context) (*Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var info connInfo
	if p, ok := peer.FromContext(ctx); ok {
		info, _ = p.AuthInfo.(connInfo)
	}
	var certNames []string
	switch {
	case info.internal && first(md, viaKey) == "node":
		return node, nil
	case info.internal:
		certNames = md.Get(certNamesKey)
	case info.tls != nil:
		certNames = certIdentities(info.tls.State)
	}
	return a.identify(md.Get("authorization"), certNames)
}

// fromHTTP authenticates a plain HTTP request (the routes that are not behind the gateway).
func (a *Auth) fromHTTP(r *http.Request) (*Identity, error) {
	var names []string
	if r.TLS != nil {
		names = certIdentities(*r.TLS)
	}
	return a.identify(r.Header.Values("Authorization"), names)
}

// identify turns the presented credentials into an identity: a bearer token wins over a
// client certificate; a wrong token is refused even if a certificate came with it.
func (a *Auth) identify(authz []string, certNames []string) (*Identity, error) {
	if !a.Enabled() {
		return anonymous, nil
	}
	if len(authz) > 0 {
		if len(authz) > 1 {
			return nil, status.Error(codes.Unauthenticated, "unauthenticated: more than one authorization header")
		}
		scheme, token, ok := strings.Cut(strings.TrimSpace(authz[0]), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
			return nil, status.Error(codes.Unauthenticated, "unauthenticated: the authorization header must be \"Bearer <token>\"")
		}
		if a.tokens == nil {
			return nil, status.Error(codes.Unauthenticated, "unauthenticated: this server accepts no bearer tokens (no tokens file); use a client certificate")
		}
		return a.byToken(sha256.Sum256([]byte(token)))
	}
	if len(certNames) > 0 {
		return a.byCert(certNames), nil
	}
	return nil, errMissing
}

func (a *Auth) byToken(hash [sha256.Size]byte) (*Identity, error) {
	t := a.tokens.get()
	e, ok := t.lookup(hash)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unauthenticated: unknown or revoked bearer token")
	}
	return &Identity{Name: e.name, By: "token", grants: e.grants, token: hash, table: t}, nil
}

// byCert names a client certificate's holder: its first name (common name, then URI and
// DNS SANs) listed in the tokens file gives its roles. Without a tokens file the client CA
// is the whole access list: every certificate it signed is admin.
func (a *Auth) byCert(names []string) *Identity {
	if a.tokens == nil {
		return &Identity{Name: names[0], By: "cert", grants: []Grant{{Role: RoleAdmin}}, names: names}
	}
	t := a.tokens.get()
	for _, n := range names {
		if g, ok := t.byName[n]; ok {
			return &Identity{Name: n, By: "cert", grants: g, table: t, names: names}
		}
	}
	return &Identity{Name: names[0], By: "cert", table: t, names: names}
}

// refresh re-resolves an identity after the tokens file changed (for a stream opened
// before): a revoked token ends the stream, changed roles apply to its next command.
func (a *Auth) refresh(id *Identity) (*Identity, error) {
	if id.table == nil || a.tokens == nil || a.tokens.get() == id.table {
		return id, nil
	}
	if id.By == "token" {
		return a.byToken(id.token)
	}
	return a.byCert(id.names), nil
}

// certIdentities lists the names of a verified client certificate: its common name, then
// its URI and DNS SANs. An unverified (or absent) certificate has none.
func certIdentities(st tls.ConnectionState) []string {
	if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return nil
	}
	c := st.PeerCertificates[0]
	var names []string
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	return append(names, c.DNSNames...)
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
