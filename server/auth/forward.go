package auth

import (
	"context"

	"google.golang.org/grpc/metadata"
)

type identityKey struct{}

func withIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// ForwardMetadata adapts the metadata of a call this node forwards to the leader. The
// caller was authenticated and authorised here; a bearer token travels on and the leader
// checks it again, while a caller identified by its client certificate (or this node
// itself) is represented by the node's credential: the node token, else the node's
// certificate on the TLS connection.
func (a *Auth) ForwardMetadata(ctx context.Context, md metadata.MD) metadata.MD {
	md.Delete(viaKey)
	md.Delete(certNamesKey)
	id, _ := ctx.Value(identityKey{}).(*Identity)
	if a == nil || id == nil || id.By == "token" {
		return md
	}
	md.Delete("authorization")
	if a.cfg.NodeToken != "" {
		md.Set("authorization", "Bearer "+a.cfg.NodeToken)
	}
	return md
}

// NodeCredentials are the per-call credentials of this node calling another member as
// itself (joining): the node token, if configured.
func (a *Auth) NodeCredentials() map[string]string {
	if a == nil || a.cfg.NodeToken == "" {
		return nil
	}
	return map[string]string{"authorization": "Bearer " + a.cfg.NodeToken}
}
