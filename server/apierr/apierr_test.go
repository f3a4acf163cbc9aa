package apierr

import (
	"net/http"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// TestHTTPStatuses pins what REST callers get for every wire status: the gRPC code New
// gives it, and the HTTP status the gateway's default error handler makes of that code
// (runtime.HTTPStatusFromCode), as the README's tables say. A wire status added without a
// gRPC code fails here (it would be Unknown: 500).
func TestHTTPStatuses(t *testing.T) {
	want := map[pb.StatusCode]struct {
		code codes.Code
		http int
	}{
		pb.StatusCode_STATUS_CODE_OK:                {codes.OK, http.StatusOK},
		pb.StatusCode_STATUS_CODE_ERROR:             {codes.Internal, http.StatusInternalServerError},
		pb.StatusCode_STATUS_CODE_TIMEOUT:           {codes.DeadlineExceeded, http.StatusGatewayTimeout},
		pb.StatusCode_STATUS_CODE_NOT_FOUND:         {codes.NotFound, http.StatusNotFound},
		pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT:  {codes.InvalidArgument, http.StatusBadRequest},
		pb.StatusCode_STATUS_CODE_ALREADY_EXISTS:    {codes.AlreadyExists, http.StatusConflict},
		pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND:   {codes.NotFound, http.StatusNotFound},
		pb.StatusCode_STATUS_CODE_ITEM_BUSY:         {codes.Aborted, http.StatusConflict},
		pb.StatusCode_STATUS_CODE_QUEUE_PAUSED:      {codes.FailedPrecondition, http.StatusBadRequest},
		pb.StatusCode_STATUS_CODE_LEADER_SWITCH:     {codes.Unavailable, http.StatusServiceUnavailable},
		pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND: {codes.NotFound, http.StatusNotFound},
		pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY:     {codes.FailedPrecondition, http.StatusBadRequest},
		pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND:    {codes.NotFound, http.StatusNotFound},
		pb.StatusCode_STATUS_CODE_QUEUE_FULL:        {codes.ResourceExhausted, http.StatusTooManyRequests},
	}
	for v, name := range pb.StatusCode_name {
		st := pb.StatusCode(v)
		w, ok := want[st]
		if !ok {
			t.Errorf("%s: no HTTP status pinned here (add it, and to the README)", name)
			continue
		}
		s := New(st, "m").GRPCStatus()
		if s.Code() != w.code || runtime.HTTPStatusFromCode(s.Code()) != w.http {
			t.Errorf("%s: gRPC %v (HTTP %d), want %v (HTTP %d)", name, s.Code(), runtime.HTTPStatusFromCode(s.Code()), w.code, w.http)
		}
	}
	// An operation the state does not allow (resize below the count, delete a queue that
	// is a dead-letter queue): 400, as the README and the contract's "400/412" say.
	if c := status.Code(Precondition("x")); c != codes.FailedPrecondition || runtime.HTTPStatusFromCode(c) != http.StatusBadRequest {
		t.Errorf("Precondition: %v (HTTP %d), want FailedPrecondition (400)", c, runtime.HTTPStatusFromCode(c))
	}
	if c := status.Code(From(errString("disk"))); c != codes.Internal {
		t.Errorf("From(other error): %v, want Internal", c)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
