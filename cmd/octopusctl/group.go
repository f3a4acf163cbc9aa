package main

import "github.com/spf13/cobra"

// newGroup returns a command that only holds subcommands: alone it prints its help, with an
// unknown subcommand it is a usage error.
func newGroup(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}
