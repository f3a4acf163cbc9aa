package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/raftnode"
)

const recoverUsage = "usage: octopusmq recover [--data-dir DIR] [--node-id ID] [--members id[=raft-host:port],...] [--dry-run]"

// runRecover implements `octopusmq recover`: on a stopped node, rewrite the Raft
// configuration of its data dir to the surviving members, for a cluster that lost its
// quorum for good. The node then starts normally.
func runRecover(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("octopusmq recover", flag.ContinueOnError)
	fs.SetOutput(out)
	dataDir := fs.String("data-dir", "./data", "the stopped node's data folder")
	nodeID := fs.String("node-id", "node1", "the node's id (as it runs with)")
	members := fs.String("members", "", "the surviving members, this node included, as id or id=raft-host:port (default: this node alone); run recover on each of them with the same list")
	dryRun := fs.Bool("dry-run", false, "only print the current configuration and the last log index (compare survivors: recover the most up to date)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nRewrites the Raft configuration of a stopped node's data dir to the surviving members, for a\ncluster that lost its quorum for good; then start the node normally.\n\nFlags:\n", recoverUsage)
		fs.PrintDefaults()
	}
	// OCTOPUSMQ_DATA_DIR and OCTOPUSMQ_NODE_ID name the node as they do for the server.
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q; %s", fs.Arg(0), recoverUsage)
	}
	servers, err := parseMembers(*members)
	if err != nil {
		return err
	}
	rep, err := raftnode.Recover(*dataDir, *nodeID, servers, *dryRun)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "data dir %s: last log index %d (term %d)\nconfiguration: %s\n", *dataDir, rep.LastIndex, rep.LastTerm, describe(rep.Before))
	if !*dryRun {
		fmt.Fprintf(out, "recovered configuration: %s\nstart the node normally now\n", describe(rep.After))
	}
	return nil
}

// parseMembers reads "id,id=host:port,...".
func parseMembers(v string) ([]raft.Server, error) {
	if v == "" {
		return nil, nil
	}
	var out []raft.Server
	seen := map[string]bool{}
	for _, part := range strings.Split(v, ",") {
		id, addr, _ := strings.Cut(strings.TrimSpace(part), "=")
		if id == "" {
			return nil, fmt.Errorf("--members entry %q: want id or id=host:port", part)
		}
		if seen[id] {
			return nil, fmt.Errorf("--members names %q twice", id)
		}
		seen[id] = true
		out = append(out, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(addr), Suffrage: raft.Voter})
	}
	return out, nil
}

func describe(c raft.Configuration) string {
	var parts []string
	for _, s := range c.Servers {
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", s.ID, s.Address, s.Suffrage))
	}
	return strings.Join(parts, ", ")
}
