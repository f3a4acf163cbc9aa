package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// storageJSON is a storage as -o json/yaml print it.
type storageJSON struct {
	Name   string `json:"name" yaml:"name"`
	Count  uint32 `json:"count" yaml:"count"`
	Locked uint32 `json:"locked" yaml:"locked"`
}

func newStorageCmd(g *globals) *cobra.Command {
	return newGroup("storage", "Manage storages (key-value namespaces)",
		`  octopusctl storage create locks
  octopusctl storage list -o json`,
		storageListCmd(g), storageCreateCmd(g), storageDeleteCmd(g))
}

// completeStorages completes the first argument with the cluster's storage names.
func (g *globals) completeStorages(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return g.completeNames(cmd, args, func(ctx context.Context, a *client.AdminClient) ([]string, error) {
		ss, err := a.ListStorages(ctx)
		names := make([]string, len(ss))
		for i, s := range ss {
			names[i] = s.Name
		}
		return names, err
	})
}

func storageListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the storages with their key counts",
		Example: `  octopusctl storage list`,
		Args:    cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				ss, err := a.ListStorages(ctx)
				if err != nil {
					return err
				}
				out := make([]storageJSON, len(ss))
				t := &table{header: []string{"NAME", "KEYS", "LOCKED"}}
				for i, s := range ss {
					out[i] = storageJSON{Name: s.Name, Count: s.Count, Locked: s.Active}
					t.add(s.Name, s.Count, s.Active)
				}
				return emit(cmd.OutOrStdout(), g.output, out, t)
			})
		}),
	}
}

func storageCreateCmd(g *globals) *cobra.Command {
	var ensure bool
	c := &cobra.Command{
		Use:   "create STORAGE",
		Short: "Create a storage",
		Example: `  octopusctl storage create locks
  octopusctl storage create locks --if-not-exists`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				create := a.CreateStorage
				if ensure {
					create = a.EnsureStorage
				}
				if err := create(ctx, args[0]); err != nil {
					return err
				}
				return g.printDone(cmd, "storage", args[0], "created")
			})
		}),
	}
	c.Flags().BoolVar(&ensure, "if-not-exists", false, "succeed when the storage exists already")
	return c
}

func storageDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete STORAGE",
		Aliases:           []string{"rm"},
		Short:             "Delete a storage and its keys",
		Example:           `  octopusctl storage delete locks`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.DeleteStorage(ctx, args[0]); err != nil {
					return err
				}
				return g.printDone(cmd, "storage", args[0], "deleted")
			})
		}),
	}
}
