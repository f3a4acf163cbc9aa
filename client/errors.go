package client

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// Sentinel errors. Errors returned by this package wrap them: test with errors.Is.
// The server's own message is kept in the returned *StatusError (streams) or *RPCError
// (management calls); use errors.As to read the exact code.
var (
	// ErrQueueNotFound: the queue does not exist (stream setup or management call).
	ErrQueueNotFound = errors.New("octopusmq: queue not found")
	// ErrQueueAlreadyExists: CreateQueue of a name that is taken.
	ErrQueueAlreadyExists = errors.New("octopusmq: queue already exists")
	// ErrStorageNotFound: the storage does not exist.
	ErrStorageNotFound = errors.New("octopusmq: storage not found")
	// ErrStorageAlreadyExists: CreateStorage of a name that is taken.
	ErrStorageAlreadyExists = errors.New("octopusmq: storage already exists")
	// ErrTimeout: a wait (PullSingle, LockAny, LockKey) ended without a result.
	ErrTimeout = errors.New("octopusmq: timeout")
	// ErrQueuePaused: a pull on a paused queue reached its timeout.
	ErrQueuePaused = errors.New("octopusmq: queue paused")
	// ErrQueueFull: the queue stayed at max_size for the whole enqueue timeout.
	ErrQueueFull = errors.New("octopusmq: queue full")
	// ErrItemNotFound: no such item (queue) or key (storage).
	ErrItemNotFound = errors.New("octopusmq: item not found")
	// ErrItemNotBusy: the item is not active (queue) or the key is not locked (storage).
	ErrItemNotBusy = errors.New("octopusmq: item not busy")
	// ErrItemBusy: the key is locked by another holder (or the lock token is stale).
	ErrItemBusy = errors.New("octopusmq: item busy")
	// ErrKeyNotFound: the storage key does not exist. Storage errors that match it also
	// match ErrItemNotFound.
	ErrKeyNotFound = errors.New("octopusmq: key not found")
	// ErrInvalidArgument: the server refused a request field.
	ErrInvalidArgument = errors.New("octopusmq: invalid argument")
	// ErrAlreadyExists: the resource already exists.
	ErrAlreadyExists = errors.New("octopusmq: already exists")
	// ErrNotFound: the resource does not exist (matched by every *NotFound error too).
	ErrNotFound = errors.New("octopusmq: not found")
	// ErrFailedPrecondition: a management call cannot apply in the current state
	// (e.g. resize below the current count).
	ErrFailedPrecondition = errors.New("octopusmq: failed precondition")
	// ErrLeaderSwitch: the node is not the leader and the client could not settle on one.
	// Normally the client follows leader switches without the caller noticing.
	ErrLeaderSwitch = errors.New("octopusmq: leader switch")
	// ErrConnectionLost: the stream broke while the request was in flight. The request may
	// or may not have been executed (see the package documentation on idempotency).
	ErrConnectionLost = errors.New("octopusmq: connection lost")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("octopusmq: client closed")
	// ErrServer: a general server error (STATUS_CODE_ERROR).
	ErrServer = errors.New("octopusmq: server error")
	// ErrUnauthenticated: the server wants a credential (WithToken, or a client certificate
	// through WithTLS), or refused the one sent.
	ErrUnauthenticated = errors.New("octopusmq: unauthenticated")
	// ErrPermissionDenied: the caller's roles do not allow the operation (on that queue or
	// storage). On a stream the refused command fails and the stream goes on.
	ErrPermissionDenied = errors.New("octopusmq: permission denied")
)

// StatusError is a failure answered by the server on a queue or storage stream.
type StatusError struct {
	// Code is the status code the server answered.
	Code pb.StatusCode
	// Message is the server's human-readable detail.
	Message string
	// storage is set for errors of a storage stream: ITEM_NOT_FOUND then also matches
	// ErrKeyNotFound.
	storage bool
}

func newStatusError(st *pb.StatusResponse, storage bool) *StatusError {
	return &StatusError{Code: st.GetCode(), Message: st.GetMessage(), storage: storage}
}

// Error implements error.
func (e *StatusError) Error() string {
	name := strings.TrimPrefix(e.Code.String(), "STATUS_CODE_")
	if e.Message == "" {
		return "octopusmq: " + name
	}
	return "octopusmq: " + name + ": " + e.Message
}

// Is maps the status code to the package's sentinel errors.
func (e *StatusError) Is(target error) bool {
	switch e.Code {
	case pb.StatusCode_STATUS_CODE_ERROR:
		return target == ErrServer || (target == ErrPermissionDenied && strings.HasPrefix(e.Message, "permission denied"))
	case pb.StatusCode_STATUS_CODE_TIMEOUT:
		return target == ErrTimeout
	case pb.StatusCode_STATUS_CODE_NOT_FOUND:
		return target == ErrNotFound
	case pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT:
		return target == ErrInvalidArgument
	case pb.StatusCode_STATUS_CODE_ALREADY_EXISTS:
		return target == ErrAlreadyExists
	case pb.StatusCode_STATUS_CODE_QUEUE_NOT_FOUND:
		return target == ErrQueueNotFound || target == ErrNotFound
	case pb.StatusCode_STATUS_CODE_ITEM_BUSY:
		return target == ErrItemBusy
	case pb.StatusCode_STATUS_CODE_QUEUE_PAUSED:
		return target == ErrQueuePaused
	case pb.StatusCode_STATUS_CODE_LEADER_SWITCH:
		return target == ErrLeaderSwitch
	case pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND:
		return target == ErrStorageNotFound || target == ErrNotFound
	case pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY:
		return target == ErrItemNotBusy
	case pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND:
		return target == ErrItemNotFound || target == ErrNotFound ||
			(e.storage && target == ErrKeyNotFound)
	case pb.StatusCode_STATUS_CODE_QUEUE_FULL:
		return target == ErrQueueFull
	}
	return false
}

// PartialError reports a batch command (Commit, Delete) that succeeded for only some ids.
type PartialError struct {
	// Op is the command: "commit" or "delete".
	Op string
	// Done is how many ids succeeded; Total how many were asked for.
	Done, Total int
}

// Error implements error.
func (e *PartialError) Error() string {
	return fmt.Sprintf("octopusmq: %s: %d of %d ids succeeded (the others were not found or not active)",
		e.Op, e.Done, e.Total)
}

// RPCError is a failed management (unary) call. It keeps the gRPC status: status.Code(err)
// and status.FromError work on it.
type RPCError struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the server's message.
	Message string
	st      *status.Status
}

// Error implements error.
func (e *RPCError) Error() string {
	return fmt.Sprintf("octopusmq: %s (%s)", e.Message, e.Code)
}

// GRPCStatus returns the gRPC status of the call.
func (e *RPCError) GRPCStatus() *status.Status { return e.st }

// Is maps the gRPC code (and, for NotFound and AlreadyExists, whether the message names a
// queue or a storage) to the package's sentinel errors.
func (e *RPCError) Is(target error) bool {
	msg := strings.ToLower(e.Message)
	queue := strings.Contains(msg, "queue")
	storage := strings.Contains(msg, "storage")
	switch e.Code {
	case codes.NotFound:
		return target == ErrNotFound ||
			(queue && target == ErrQueueNotFound) || (storage && target == ErrStorageNotFound)
	case codes.AlreadyExists:
		return target == ErrAlreadyExists ||
			(queue && target == ErrQueueAlreadyExists) || (storage && target == ErrStorageAlreadyExists)
	case codes.InvalidArgument:
		return target == ErrInvalidArgument
	case codes.FailedPrecondition:
		return target == ErrFailedPrecondition
	case codes.DeadlineExceeded:
		return target == ErrTimeout
	case codes.Unauthenticated:
		return target == ErrUnauthenticated
	case codes.PermissionDenied:
		return target == ErrPermissionDenied
	case codes.Unavailable:
		return target == ErrLeaderSwitch && strings.HasPrefix(e.Message, leaderSwitchPrefix)
	}
	return false
}

// leaderSwitchPrefix starts the message of a gRPC Unavailable error a follower answers
// instead of serving a call: "LEADER_SWITCH <leader client address>".
const leaderSwitchPrefix = "LEADER_SWITCH "

// fromRPC converts an error of a unary call into an *RPCError (nil stays nil; context
// errors and non-status errors are returned unchanged).
func fromRPC(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &RPCError{Code: st.Code(), Message: st.Message(), st: st}
}

// leaderHint returns the leader address of a LEADER_SWITCH gRPC error.
func leaderHint(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable || !strings.HasPrefix(st.Message(), leaderSwitchPrefix) {
		return "", false
	}
	addr := strings.TrimSpace(strings.TrimPrefix(st.Message(), leaderSwitchPrefix))
	return addr, addr != ""
}

// connLost wraps the cause of a broken stream for a request that was in flight.
func connLost(cause error) error {
	if cause == nil || errors.Is(cause, ErrConnectionLost) {
		if cause == nil {
			return ErrConnectionLost
		}
		return cause
	}
	return fmt.Errorf("%w: %v", ErrConnectionLost, cause)
}
