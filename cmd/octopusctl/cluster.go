package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/clbs-io/octopusmq/client"
)

// memberJSON is a member as -o json/yaml print it.
type memberJSON struct {
	ID            string `json:"id" yaml:"id"`
	RaftAddress   string `json:"raftAddress" yaml:"raftAddress"`
	ClientAddress string `json:"clientAddress,omitempty" yaml:"clientAddress,omitempty"`
	Voter         bool   `json:"voter" yaml:"voter"`
	Leader        bool   `json:"leader" yaml:"leader"`
}

// clusterJSON is `cluster status` as -o json/yaml print it.
type clusterJSON struct {
	NodeID       string       `json:"nodeId" yaml:"nodeId"`
	State        string       `json:"state" yaml:"state"`
	LeaderID     string       `json:"leaderId" yaml:"leaderId"`
	Term         uint64       `json:"term" yaml:"term"`
	LastLogIndex uint64       `json:"lastLogIndex" yaml:"lastLogIndex"`
	CommitIndex  uint64       `json:"commitIndex" yaml:"commitIndex"`
	AppliedIndex uint64       `json:"appliedIndex" yaml:"appliedIndex"`
	Members      []memberJSON `json:"members" yaml:"members"`
}

func toClusterJSON(cs *client.ClusterStatus) clusterJSON {
	c := clusterJSON{
		NodeID: cs.NodeID, State: cs.State, LeaderID: cs.LeaderID, Term: cs.Term,
		LastLogIndex: cs.LastLogIndex, CommitIndex: cs.CommitIndex, AppliedIndex: cs.Applied,
		Members: []memberJSON{},
	}
	for _, m := range cs.Members {
		c.Members = append(c.Members, memberJSON{
			ID: m.ID, RaftAddress: m.RaftAddress, ClientAddress: m.ClientAddress, Voter: m.Voter, Leader: m.Leader,
		})
	}
	return c
}

func membersTable(ms []memberJSON) *table {
	t := &table{header: []string{"ID", "RAFT-ADDRESS", "CLIENT-ADDRESS", "VOTER", "LEADER"}}
	for _, m := range ms {
		t.add(m.ID, m.RaftAddress, cell(m.ClientAddress), m.Voter, m.Leader)
	}
	return t
}

func newClusterCmd(g *globals) *cobra.Command {
	return newGroup("cluster", "Show and change the cluster's members",
		`  octopusctl cluster status
  octopusctl cluster add node4 10.0.0.4:4124 --client-address 10.0.0.4:4123
  octopusctl cluster transfer node2`,
		clusterStatusCmd(g), clusterMembersCmd(g), clusterAddCmd(g), clusterRemoveCmd(g), clusterTransferCmd(g))
}

// status fetches the cluster status from the first node of --addr that answers.
func (g *globals) status(cmd *cobra.Command) (clusterJSON, error) {
	a, err := g.admin()
	if err != nil {
		return clusterJSON{}, err
	}
	defer a.Close()
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	cs, err := a.Cluster(ctx)
	if err != nil {
		return clusterJSON{}, err
	}
	return toClusterJSON(cs), nil
}

func clusterStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the answering node's Raft state and the members",
		Example: `  octopusctl cluster status
  octopusctl --addr node2:4123 cluster status -o json | jq .state`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			c, err := g.status(cmd)
			if err != nil {
				return err
			}
			leader := c.LeaderID
			if leader == "" {
				leader = "(none)"
			}
			t := &table{}
			t.add("node:", c.NodeID)
			t.add("state:", c.State)
			t.add("leader:", leader)
			t.add("term:", c.Term)
			t.add("last log index:", c.LastLogIndex)
			t.add("commit index:", c.CommitIndex)
			t.add("applied index:", c.AppliedIndex)
			t.add("")
			mt := membersTable(c.Members)
			t.rows = append(t.rows, mt.header)
			t.rows = append(t.rows, mt.rows...)
			return emit(cmd.OutOrStdout(), g.output, c, t)
		}),
	}
}

func clusterMembersCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "members",
		Short:   "List the cluster's members",
		Example: `  octopusctl cluster members -o yaml`,
		Args:    cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			c, err := g.status(cmd)
			if err != nil {
				return err
			}
			return emit(cmd.OutOrStdout(), g.output, c.Members, membersTable(c.Members))
		}),
	}
}

func clusterAddCmd(g *globals) *cobra.Command {
	var (
		clientAddr string
		nonVoter   bool
	)
	c := &cobra.Command{
		Use:   "add ID RAFT-ADDRESS",
		Short: "Add a member (a voter, or a non-voter with --non-voter)",
		Long: `Add a member by its node id and Raft address. Start the new node first (with its
--node-id and --raft-advertise); --client-address lets clients be redirected to it.`,
		Example: `  octopusctl cluster add node4 10.0.0.4:4124 --client-address 10.0.0.4:4123
  octopusctl cluster add replica1 10.0.0.9:4124 --non-voter`,
		Args: cobra.ExactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.AddMember(ctx, args[0], args[1], clientAddr, nonVoter); err != nil {
					return err
				}
				return g.printDone(cmd, "member", args[0], "added")
			})
		}),
	}
	c.Flags().StringVar(&clientAddr, "client-address", "", "the member's client address (host:port)")
	c.Flags().BoolVar(&nonVoter, "non-voter", false, "add a non-voter (it replicates but does not vote)")
	return c
}

func clusterRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Aliases: []string{"rm"},
		Short:   "Remove a member by id",
		Example: `  octopusctl cluster remove node4`,
		Args:    cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.RemoveMember(ctx, args[0]); err != nil {
					return err
				}
				return g.printDone(cmd, "member", args[0], "removed")
			})
		}),
	}
}

func clusterTransferCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "transfer [ID]",
		Short: "Hand leadership to a voter (without ID: the most up-to-date one)",
		Example: `  octopusctl cluster transfer
  octopusctl cluster transfer node2`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return g.withAdmin(cmd, func(ctx context.Context, a *client.AdminClient) error {
				if err := a.TransferLeadership(ctx, id); err != nil {
					return err
				}
				target := id
				if target == "" {
					target = "(any voter)"
				}
				return g.printDone(cmd, "leadership", target, "transferred")
			})
		}),
	}
}
