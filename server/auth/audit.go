package auth

import (
	"context"
	"log/slog"
	"path"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The audit log is the server's logger with logger=audit: one record per management,
// cluster and backup operation (who, what, on what, outcome) and per refused call.

// forwardedKey marks a request another node forwarded here (the forwarder sets it).
const forwardedKey = "x-octopusmq-forwarded"

// record logs an audited operation and its outcome.
func (a *Auth) record(ctx context.Context, id *Identity, method string, req any, err error) {
	outcome, level := "ok", slog.LevelInfo
	if err != nil {
		outcome, level = status.Code(err).String(), slog.LevelWarn
	}
	attrs := append(who(ctx, id), slog.String("op", path.Base(method)), slog.String("target", target(req)), slog.String("outcome", outcome))
	if err != nil {
		attrs = append(attrs, slog.String("err", status.Convert(err).Message()))
	}
	a.audit.LogAttrs(ctx, level, "audit", attrs...)
}

// denied logs a refused call.
func (a *Auth) denied(ctx context.Context, id *Identity, method string, req any, err error) {
	outcome := "denied"
	if unauthenticated(err) {
		outcome = "unauthenticated"
	}
	attrs := append(who(ctx, id), slog.String("op", path.Base(method)), slog.String("target", target(req)),
		slog.String("outcome", outcome), slog.String("err", status.Convert(err).Message()))
	a.audit.LogAttrs(ctx, slog.LevelWarn, "audit", attrs...)
}

func who(ctx context.Context, id *Identity) []slog.Attr {
	var attrs []slog.Attr
	if id != nil {
		attrs = append(attrs, slog.String("who", id.Name), slog.String("by", id.By))
	} else {
		attrs = append(attrs, slog.String("who", ""))
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if f := md.Get("x-forwarded-for"); len(f) > 0 {
		attrs = append(attrs, slog.String("remote", f[0]))
	} else if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		attrs = append(attrs, slog.String("remote", p.Addr.String()))
	}
	if len(md.Get(forwardedKey)) > 0 {
		attrs = append(attrs, slog.Bool("forwarded", true))
	}
	return attrs
}

// target names what a request acts on: its queue, storage or member.
func target(req any) string {
	if n := resourceOf(req); n != "" {
		return n
	}
	if r, ok := req.(interface{ GetId() string }); ok {
		return r.GetId()
	}
	return ""
}
