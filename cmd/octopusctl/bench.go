package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

// bench runs the load generator, octopusmq-bench, against the cluster of --addr.

func benchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "bench [octopusmq-bench flags]",
		Short: "Run the load generator (octopusmq-bench) against the cluster",
		Long: `bench runs octopusmq-bench, found next to octopusctl or on PATH (build it with
'go build ./cmd/octopusmq-bench'), with -addr set to --addr (OCTOPUSMQ_ADDR); every other
argument goes to it as it is ('octopusctl bench -help' lists them). Its exit code is bench's.`,
		Example: `  octopusctl bench -workload pipelined -inflight 256 -duration 10s
  octopusctl bench -producers 4 -consumers 4 -batch 64 -o json
  octopusctl bench -workload kv -kvop lock -duration 5s`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := findBench()
			if err != nil {
				return &runError{err}
			}
			c := exec.CommandContext(cmd.Context(), path, append([]string{"-addr", g.addr}, args...)...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			c.Env = os.Environ()
			if g.token != "" {
				c.Env = append(c.Env, "OCTOPUSMQ_TOKEN="+g.token)
			}
			if g.tlsCA != "" {
				c.Env = append(c.Env, "OCTOPUSMQ_TLS_CA="+g.tlsCA)
			}
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return &exitError{code: ee.ExitCode()}
			}
			if err != nil {
				return &runError{err}
			}
			return nil
		},
	}
}

// findBench looks for octopusmq-bench next to this binary, then on PATH.
func findBench() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "octopusmq-bench")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("octopusmq-bench"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("octopusmq-bench not found next to octopusctl or on PATH: build it with 'go build ./cmd/octopusmq-bench' (or run 'go run ./cmd/octopusmq-bench -addr ADDR ...')")
}

// exitError passes a child's exit code on (bench); it has printed its own messages.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
