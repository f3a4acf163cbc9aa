package auth

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// The gRPC server learns how a connection arrived from ServerCredentials: TLS terminated by
// Listener (its state carries the client certificate), plaintext, or the in-process
// connection of the node itself (the REST gateway and the node's own calls), which no
// network peer can open.

// internalConn is a connection of the in-process listener.
type internalConn struct{ net.Conn }

// InternalListener is an in-memory listener for the node's own gRPC calls: the gateway
// (REST) and calls the node makes as itself. Calls arriving on it are trusted to carry the
// identity the gateway established (see GatewayMetadata).
type InternalListener struct{ *bufconn.Listener }

// NewInternalListener returns an in-memory listener.
func NewInternalListener() *InternalListener {
	return &InternalListener{bufconn.Listen(1 << 20)}
}

// Accept marks the connections it accepts as internal.
func (l *InternalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return internalConn{c}, nil
}

// Dial connects a gRPC client to the listener.
func (l *InternalListener) Dial(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///octopusmq-internal", append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return l.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
}

// connInfo is the AuthInfo of a connection the gRPC server accepted.
type connInfo struct {
	credentials.CommonAuthInfo
	internal bool
	tls      *credentials.TLSInfo
}

func (connInfo) AuthType() string { return "octopusmq" }

// ServerCredentials tell the gRPC server how each connection arrived. They do no handshake
// of their own: TLS, when configured, was terminated before the connection mux.
func ServerCredentials() credentials.TransportCredentials { return serverCreds{} }

type serverCreds struct{}

func (serverCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if _, ok := c.(internalConn); ok {
		return c, connInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}, internal: true}, nil
	}
	if st, ok := tlsState(c); ok {
		ti := &credentials.TLSInfo{State: st, CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
		return c, connInfo{CommonAuthInfo: ti.CommonAuthInfo, tls: ti}, nil
	}
	return c, connInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("octopusmq server credentials do not dial")
}

func (serverCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "octopusmq"}
}
func (s serverCreds) Clone() credentials.TransportCredentials { return s }
func (serverCreds) OverrideServerName(string) error           { return nil }
