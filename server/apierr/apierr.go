// Package apierr is the error type shared by the state machine, the services and the
// gateway: a wire StatusCode (what stream clients see), the matching gRPC code (what unary
// and REST clients see) and a message naming the problem.
//
// HTTP statuses: REST answers carry the HTTP status grpc-gateway's default error handler
// gives the gRPC code (runtime.HTTPStatusFromCode); the server adds no mapping of its own.
// An operation the current state does not allow (a paused queue's pull at its timeout, a
// commit of an item that is not active, a resize below the count, deleting a queue that is
// another's dead-letter queue, redriving a queue without one) is FailedPrecondition, which
// is 400: the contract allows 400 or 412 and the README promises 400, and a retry of the
// same request does not help until something else changes the state. Conflicts with another
// holder are Aborted (409: ITEM_BUSY, a lock-any that found every key held), a full queue
// ResourceExhausted (429), no leader Unavailable (503). TestHTTPStatuses pins the table. The
// backup endpoints are plain HTTP handlers with their own statuses (server/backup.go: a
// restore refused because followers have not caught up is 409, one not confirmed in time
// 504).
package apierr

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// Error is a command's failure.
type Error struct {
	Status pb.StatusCode // the stream protocol's code
	Code   codes.Code    // the gRPC (and so HTTP) code
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// LeaderSwitchPrefix starts the gRPC message of a LEADER_SWITCH error ("LEADER_SWITCH
// host:port"); on a stream the status message is the bare leader address.
const LeaderSwitchPrefix = "LEADER_SWITCH "

// GRPCStatus lets status.FromError and grpc-gateway map the error.
func (e *Error) GRPCStatus() *status.Status {
	if e.Status == pb.StatusCode_STATUS_CODE_LEADER_SWITCH {
		return status.New(e.Code, LeaderSwitchPrefix+e.Msg)
	}
	return status.New(e.Code, e.Msg)
}

// grpcCodes maps each wire status to the gRPC code unary and REST callers get.
var grpcCodes = map[pb.StatusCode]codes.Code{
	pb.StatusCode_STATUS_CODE_OK:                codes.OK,
	pb.StatusCode_STATUS_CODE_ERROR:             codes.Internal,
	pb.StatusCode_STATUS_CODE_TIMEOUT:           codes.DeadlineExceeded,
	pb.StatusCode_STATUS_CODE_NOT_FOUND:         codes.NotFound,
	pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT:  codes.InvalidArgument,
	pb.StatusCode_STATUS_CODE_ALREADY_EXISTS:    codes.AlreadyExists,
	pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND:   codes.NotFound,
	pb.StatusCode_STATUS_CODE_ITEM_BUSY:         codes.Aborted, // HTTP 409
	pb.StatusCode_STATUS_CODE_QUEUE_PAUSED:      codes.FailedPrecondition,
	pb.StatusCode_STATUS_CODE_LEADER_SWITCH:     codes.Unavailable,
	pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND: codes.NotFound,
	pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY:     codes.FailedPrecondition,
	pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND:    codes.NotFound,
	pb.StatusCode_STATUS_CODE_QUEUE_FULL:        codes.ResourceExhausted, // HTTP 429
}

// New returns an error with the wire status st and its usual gRPC code.
func New(st pb.StatusCode, format string, args ...any) *Error {
	c, ok := grpcCodes[st]
	if !ok {
		c = codes.Unknown
	}
	return &Error{Status: st, Code: c, Msg: fmt.Sprintf(format, args...)}
}

// Precondition is an operation that cannot apply to the current state (gRPC
// FAILED_PRECONDITION; on a stream, STATUS_CODE_ERROR).
func Precondition(format string, args ...any) *Error {
	return &Error{Status: pb.StatusCode_STATUS_CODE_ERROR, Code: codes.FailedPrecondition, Msg: fmt.Sprintf(format, args...)}
}

// Shorthands for the common statuses.
func InvalidArgument(format string, args ...any) *Error {
	return New(pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, format, args...)
}

// ItemNotFound reports an unknown item or key id.
func ItemNotFound(format string, args ...any) *Error {
	return New(pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, format, args...)
}

// From converts any error to *Error: *Error passes through, anything else becomes ERROR.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Status: pb.StatusCode_STATUS_CODE_ERROR, Code: codes.Internal, Msg: err.Error()}
}
