package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code codes.Code, msgPart string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if !strings.Contains(status.Convert(err).Message(), msgPart) {
		t.Fatalf("message %q does not mention %q", status.Convert(err).Message(), msgPart)
	}
}

// env is a test server with an admin client and a test-scoped context.
type env struct {
	t     *testing.T
	srv   *servertest.Server
	admin *client.AdminClient
	ctx   context.Context
}

func startEnv(t *testing.T, timeout time.Duration, opts ...servertest.Option) *env {
	t.Helper()
	srv := servertest.Start(t, opts...)
	a, err := client.NewAdminClient(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return &env{t: t, srv: srv, admin: a, ctx: ctx}
}
