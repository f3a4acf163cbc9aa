package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/cmd/internal/backupfile"
)

// Exit codes, documented in the root command's help.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitConflict    = 4
	exitUnavailable = 5
)

const exitCodesHelp = `Exit codes:
  0  success
  1  any other failure (also: only some of several ids settled)
  2  usage error (unknown command or flag, wrong arguments, bad flag value,
     or a value the server refuses as invalid)
  3  not found (queue, storage, item, key or member)
  4  conflict or precondition (already exists, item or key busy / not busy,
     queue full or paused, resize below the count)
  5  unavailable (no node answered within --timeout, connection lost)`

// usageError is a bad command line found by a command itself (cobra's own argument and flag
// errors are usage errors too).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runError marks an error returned while running a command, as opposed to cobra's errors
// parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// runE adapts a command body: its errors are run errors unless they are usage errors.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		var ue *usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		return &runError{err}
	}
}

// exitCode maps an error of Execute to the process exit code.
func exitCode(err error) int {
	var ue *usageError
	var re *runError
	var xe *exitError
	var he *backupfile.StatusError
	var une *unavailableError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &une):
		return exitUnavailable
	case errors.As(err, &he):
		return httpExitCode(he.Code)
	case errors.As(err, &ue):
		return exitUsage
	case !errors.As(err, &re):
		// cobra's own errors: unknown command or flag, wrong number of arguments.
		return exitUsage
	}
	switch {
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrItemNotFound),
		errors.Is(err, client.ErrKeyNotFound), errors.Is(err, client.ErrQueueNotFound),
		errors.Is(err, client.ErrStorageNotFound):
		return exitNotFound
	case errors.Is(err, client.ErrAlreadyExists), errors.Is(err, client.ErrFailedPrecondition),
		errors.Is(err, client.ErrItemBusy), errors.Is(err, client.ErrItemNotBusy),
		errors.Is(err, client.ErrQueueFull), errors.Is(err, client.ErrQueuePaused):
		return exitConflict
	case errors.Is(err, client.ErrInvalidArgument):
		return exitUsage
	case errors.Is(err, client.ErrConnectionLost), errors.Is(err, client.ErrLeaderSwitch),
		errors.Is(err, context.DeadlineExceeded):
		return exitUnavailable
	}
	switch status.Code(err) {
	case codes.NotFound:
		return exitNotFound
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted, codes.ResourceExhausted:
		return exitConflict
	case codes.InvalidArgument:
		return exitUsage
	case codes.Unavailable, codes.DeadlineExceeded:
		return exitUnavailable
	}
	return exitFailure
}

// httpExitCode maps the status of an HTTP answer (snapshot save|restore) to an exit code.
func httpExitCode(status int) int {
	switch {
	case status == 404:
		return exitNotFound
	case status == 409 || status == 412:
		return exitConflict
	case status == 400 || status == 413:
		return exitUsage
	case status == 502 || status == 503 || status == 504:
		return exitUnavailable
	}
	return exitFailure
}
