package main

import (
	"context"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// defaultAddr is the address used without --addr or OCTOPUSMQ_ADDR.
const defaultAddr = "127.0.0.1:4123"

// globals are the flags every command takes.
type globals struct {
	addr    string
	timeout time.Duration
	output  string
	// token and tlsCA secure the connections (--token, --tls-ca); security holds the
	// client options made of them.
	token, tlsCA string
	security     []client.Option
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "octopusctl",
		Short: "Operate an OctopusMQ cluster: queues, items, keys, locks and members",
		Long: `octopusctl manages queues, storages and cluster members of OctopusMQ, enqueues and
pulls items, and reads, writes and locks keys. It talks gRPC to the nodes of --addr (any
node will do: followers hand requests to the leader; with several addresses the next one is
tried when a node does not answer).

` + exitCodesHelp,
		Example: `  octopusctl queue create jobs --max-size 10000
  octopusctl queue enqueue jobs 'hello'
  printf 'a\nb\n' | octopusctl queue enqueue jobs --lines
  octopusctl queue pull jobs --commit
  octopusctl --addr node1:4123,node2:4123 cluster status -o json
  source <(octopusctl completion bash)`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(g.output); err != nil {
				return err
			}
			if g.timeout <= 0 {
				return usagef("--timeout must be positive, not %v", g.timeout)
			}
			var err error
			g.security, err = securityOptions(g.token, g.tlsCA)
			return err
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("OCTOPUSMQ_ADDR", defaultAddr),
		"client address(es) of the cluster, comma-separated (env OCTOPUSMQ_ADDR)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "bound of each request (and of connecting)")
	pf.StringVarP(&g.output, "output", "o", formatTable, "output format: table, json or yaml")
	pf.StringVar(&g.token, "token", os.Getenv("OCTOPUSMQ_TOKEN"), "bearer token to send (env OCTOPUSMQ_TOKEN)")
	pf.StringVar(&g.tlsCA, "tls-ca", os.Getenv("OCTOPUSMQ_TLS_CA"), "connect with TLS, trusting this PEM CA bundle (env OCTOPUSMQ_TLS_CA)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{formatTable, formatJSON, formatYAML}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(newQueueCmd(g), newKVCmd(g), newStorageCmd(g), newClusterCmd(g), newSnapshotCmd(g), benchCmd(g))
	return root
}

// ctx returns the context of one request: the command's, bounded by --timeout.
func (g *globals) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), g.timeout)
}

// opts are the client options of every client octopusctl opens.
func (g *globals) opts() []client.Option {
	return append([]client.Option{client.WithConnectTimeout(g.timeout)}, g.security...)
}

func (g *globals) admin() (*client.AdminClient, error) {
	return client.NewAdminClient(g.addr, g.opts()...)
}

// withAdmin runs fn with an admin client and a context bounded by --timeout.
func (g *globals) withAdmin(cmd *cobra.Command, fn func(context.Context, *client.AdminClient) error) error {
	a, err := g.admin()
	if err != nil {
		return err
	}
	defer a.Close()
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	return fn(ctx, a)
}

// completeNames completes a command's first argument with the names list returns.
func (g *globals) completeNames(cmd *cobra.Command, args []string, list func(context.Context, *client.AdminClient) ([]string, error)) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	a, err := g.admin()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	defer a.Close()
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	names, err := list(ctx, a)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// ctxPlus is ctx for a request that may wait on the server for extra (a long poll, a
// lock wait) on top of --timeout.
func (g *globals) ctxPlus(cmd *cobra.Command, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), g.timeout+max(extra, 0))
}
