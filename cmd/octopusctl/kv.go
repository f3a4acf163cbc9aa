package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// keyValue is a key as -o json/yaml print it.
type keyValue struct {
	ID    uint64 `json:"id" yaml:"id"`
	Key   string `json:"key" yaml:"key"`
	Value string `json:"value" yaml:"value"`
}

// lockJSON is a granted lock as -o json/yaml print it.
type lockJSON struct {
	ID    uint64 `json:"id" yaml:"id"`
	Key   string `json:"key" yaml:"key"`
	Token uint64 `json:"token" yaml:"token"`
}

// kvFlags are the flags every kv command takes.
type kvFlags struct{ b64 bool }

func (k *kvFlags) add(c *cobra.Command) *cobra.Command {
	c.Flags().BoolVar(&k.b64, "base64", false, "keys and values are standard base64 (for binary keys and values)")
	return c
}

func (g *globals) storage(name string) (*client.StorageClient, error) {
	return client.NewStorageClient(g.addr, name, g.opts()...)
}

const kvHelp = `

Keys and values are text by default; with --base64 they are given and printed as standard
base64, for keys or values that are not UTF-8 text.`

func newKVCmd(g *globals) *cobra.Command {
	return newGroup("kv", "Read, write and lock the keys of a storage",
		`  octopusctl storage create locks
  octopusctl kv set locks user:1 '{"name":"John"}'
  octopusctl kv get locks user:1
  octopusctl kv lock locks user:1 --ttl 30s -o json`,
		kvListCmd(g), kvGetCmd(g), kvSetCmd(g), kvDeleteCmd(g), kvLockCmd(g), kvReleaseCmd(g))
}

func kvListCmd(g *globals) *cobra.Command {
	var k kvFlags
	var locked bool
	c := k.add(&cobra.Command{
		Use:     "list STORAGE",
		Aliases: []string{"ls"},
		Short:   "List the keys of a storage",
		Long:    "List the keys of a storage (with --locked, locked keys too)." + kvHelp,
		Example: `  octopusctl kv list locks
  octopusctl kv list locks --locked -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			keys, err := s.ListKeys(ctx, locked)
			if err != nil {
				return err
			}
			cd := codec{k.b64}
			out := make([]string, len(keys))
			t := &table{}
			for i, key := range keys {
				out[i] = cd.encode(key)
				t.add(out[i])
			}
			return emit(cmd.OutOrStdout(), g.output, out, t)
		}),
	})
	c.Flags().BoolVar(&locked, "locked", false, "include locked keys")
	return c
}

func kvGetCmd(g *globals) *cobra.Command {
	var k kvFlags
	return k.add(&cobra.Command{
		Use:   "get STORAGE KEY",
		Short: "Print the value of a key",
		Long:  "Print the value of a key (-o table: the value alone, byte for byte; json/yaml: id, key and value)." + kvHelp,
		Example: `  octopusctl kv get locks user:1
  octopusctl kv get locks dXNlcjox --base64 -o json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cd := codec{k.b64}
			key, err := cd.decode("KEY", args[1])
			if err != nil {
				return err
			}
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			kv, err := s.Get(ctx, key)
			if err != nil {
				return fmt.Errorf("key %q: %w", args[1], err)
			}
			if g.output == formatTable {
				_, err := io.WriteString(cmd.OutOrStdout(), cd.encode(kv.Value))
				if err == nil && k.b64 {
					_, err = io.WriteString(cmd.OutOrStdout(), "\n")
				}
				return err
			}
			return emit(cmd.OutOrStdout(), g.output, keyValue{ID: kv.ID, Key: cd.encode(kv.Key), Value: cd.encode(kv.Value)}, nil)
		}),
	})
}

func kvSetCmd(g *globals) *cobra.Command {
	var (
		k        kvFlags
		file     string
		ttl      time.Duration
		token    uint64
		compress bool
	)
	c := k.add(&cobra.Command{
		Use:   "set STORAGE KEY [VALUE]",
		Short: "Create or replace a key (value from VALUE, -f FILE or stdin)",
		Long: `Create or replace a key with VALUE, the content of -f FILE ("-": stdin) or, without
either, stdin, byte for byte. A key locked by another holder changes only with its lock
token (--lock-token).` + kvHelp,
		Example: `  octopusctl kv set locks user:1 '{"name":"John"}' --ttl 10m
  octopusctl kv set locks config -f config.json
  octopusctl kv set locks user:1 '{}' --lock-token 7`,
		Args:              cobra.RangeArgs(2, 3),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 3 && file != "" {
				return usagef("give the value as an argument or with -f, not both")
			}
			cd := codec{k.b64}
			key, err := cd.decode("KEY", args[1])
			if err != nil {
				return err
			}
			var raw []byte
			switch {
			case len(args) == 3:
				raw = []byte(args[2])
			case file != "" && file != "-":
				if raw, err = os.ReadFile(file); err != nil {
					return err
				}
			default:
				if raw, err = io.ReadAll(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			value, err := cd.decode("the value", string(raw))
			if err != nil {
				return err
			}
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			id, err := s.Set(ctx, key, value, client.SetOptions{TTL: dpb(ttl), Compress: compress, LockToken: token})
			if err != nil {
				return fmt.Errorf("key %q: %w", args[1], err)
			}
			t := &table{}
			t.add(fmt.Sprintf("key %q set (id %d)", args[1], id))
			return emit(cmd.OutOrStdout(), g.output, keyValue{ID: id, Key: args[1], Value: cd.encode(value)}, t)
		}),
	})
	f := c.Flags()
	f.StringVarP(&file, "file", "f", "", `read the value from FILE ("-": stdin)`)
	f.DurationVar(&ttl, "ttl", 0, "the key expires this long after this set (0: never)")
	f.Uint64Var(&token, "lock-token", 0, "the lock token of a key locked by another holder")
	f.BoolVar(&compress, "compress", false, "store the value compressed")
	return c
}

func kvDeleteCmd(g *globals) *cobra.Command {
	var (
		k     kvFlags
		token uint64
	)
	c := k.add(&cobra.Command{
		Use:               "delete STORAGE KEY",
		Aliases:           []string{"rm"},
		Short:             "Delete a key",
		Long:              "Delete a key; a key locked by another holder only with its lock token (--lock-token)." + kvHelp,
		Example:           `  octopusctl kv delete locks user:1`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			cd := codec{k.b64}
			key, err := cd.decode("KEY", args[1])
			if err != nil {
				return err
			}
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			if err := s.DeleteKeyWithToken(ctx, key, token); err != nil {
				return fmt.Errorf("key %q: %w", args[1], err)
			}
			return g.printDone(cmd, "key", args[1], "deleted")
		}),
	})
	c.Flags().Uint64Var(&token, "lock-token", 0, "the lock token of a key locked by another holder")
	return c
}

func kvLockCmd(g *globals) *cobra.Command {
	var (
		k         kvFlags
		ttl, wait time.Duration
		anyKey    bool
	)
	c := k.add(&cobra.Command{
		Use:   "lock STORAGE KEY",
		Short: "Lock a key (or any unlocked key with a prefix) and print its id and fencing token",
		Long: `Lock a key for --ttl and print the key's id and the lock's fencing token. The lock
outlives octopusctl: release it with 'kv release STORAGE ID --token TOKEN', change the key
with 'kv set --lock-token TOKEN', or let the ttl run out. While another holder has the key
locked, lock waits up to --wait, then exits 4.

With --any, 'kv lock STORAGE [PREFIX] --any' locks some unlocked key starting with
PREFIX (any key without one), waiting up to --wait (default 30s) for one.` + kvHelp,
		Example: `  octopusctl kv lock locks user:1 --ttl 30s
  octopusctl kv lock locks user:1 --wait 5s -o json
  octopusctl kv lock locks --any user: --ttl 1m`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if !anyKey && len(args) != 2 {
				return usagef("lock needs STORAGE KEY (or --any [PREFIX])")
			}
			cd := codec{k.b64}
			var key []byte
			if len(args) == 2 {
				var err error
				if key, err = cd.decode("KEY", args[1]); err != nil {
					return err
				}
			}
			if anyKey && !cmd.Flags().Changed("wait") {
				wait = client.DefaultLockAnyTimeout
			}
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctxPlus(cmd, wait)
			defer cancel()
			var l *client.Lock
			if anyKey {
				l, err = s.LockAnyToken(ctx, key, dpb(ttl), wait)
			} else {
				l, err = s.LockKeyToken(ctx, key, dpb(ttl), wait)
			}
			if err != nil {
				if len(args) == 2 {
					return fmt.Errorf("lock %q: %w", args[1], err)
				}
				return err
			}
			j := lockJSON{ID: l.ID, Key: cd.encode(l.Key), Token: l.Token}
			t := &table{header: []string{"ID", "KEY", "TOKEN"}}
			t.add(j.ID, cell(j.Key), j.Token)
			return emit(cmd.OutOrStdout(), g.output, j, t)
		}),
	})
	f := c.Flags()
	f.DurationVar(&ttl, "ttl", 0, "how long the lock lasts (0: 60s)")
	f.DurationVar(&wait, "wait", 0, "how long to wait while the key is locked (0: fail at once; --any: 30s)")
	f.BoolVar(&anyKey, "any", false, "lock any unlocked key starting with the second argument (a prefix; none: any key)")
	return c
}

func kvReleaseCmd(g *globals) *cobra.Command {
	var (
		token uint64
		del   bool
	)
	c := &cobra.Command{
		Use:   "release STORAGE ID --token TOKEN",
		Short: "Release a lock by the key's id and the lock's token (optionally deleting the key)",
		Example: `  octopusctl kv release locks 1 --token 7
  octopusctl kv release locks 1 --token 7 --delete`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: g.completeStorages,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil || id == 0 {
				return usagef("key id %q is not a positive integer", args[1])
			}
			s, err := g.storage(args[0])
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, cancel := g.ctx(cmd)
			defer cancel()
			if err := s.Release(ctx, id, del, token); err != nil {
				return fmt.Errorf("release of key id %d: %w", id, err)
			}
			action := "released"
			if del {
				action = "released and deleted"
			}
			return g.printDone(cmd, "lock of key id", args[1], action)
		}),
	}
	c.Flags().Uint64Var(&token, "token", 0, "the lock's fencing token, as 'kv lock' printed it")
	c.Flags().BoolVar(&del, "delete", false, "delete the key as well")
	_ = c.MarkFlagRequired("token")
	return c
}
