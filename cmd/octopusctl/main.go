// Command octopusctl operates an OctopusMQ cluster from the shell: it manages queues,
// storages and cluster members, enqueues and pulls items, and reads, writes and locks keys.
// It talks gRPC to any node (several addresses may be given; followers hand requests to
// the leader), prints tables, JSON or YAML, and exits with codes scripts can test (see
// `octopusctl --help`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if xe := (*exitError)(nil); errors.As(err, &xe) {
		return code // bench printed its own messages
	}
	fmt.Fprintln(stderr, "octopusctl:", err)
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	var re *runError
	if errors.As(err, &re) && code == exitUnavailable {
		fmt.Fprintln(stderr, "(is a server listening on --addr / OCTOPUSMQ_ADDR?)")
	}
	return code
}
