package raftnode

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

func suffrageOf(t *testing.T, n *Node, id string) raft.ServerSuffrage {
	t.Helper()
	f := n.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return s.Suffrage
		}
	}
	t.Fatalf("%s is not a member", id)
	return 0
}

// TestLearnerPromotedOnlyOnceCaughtUp drives the leader's promotion rule with scripted
// probe answers: a learner that has not applied its configuration, an impostor and a member
// following another leader stay non-voters; one that answers caught up is promoted.
func TestLearnerPromotedOnlyOnceCaughtUp(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dead := freeAddr(t)
	if err := n.Raft().AddNonvoter("l", raft.ServerAddress(dead), 0, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "l", ClientAddress: "l:1", Promote: true}); err != nil {
		t.Fatal(err)
	}
	answers := make(chan MemberProgress)
	n.StartMembership(func(pctx context.Context, id, addr string) (MemberProgress, error) {
		if id != "l" || addr != "l:1" {
			t.Errorf("probed %s at %s", id, addr)
		}
		select {
		case a := <-answers:
			return a, nil
		case <-pctx.Done():
			return MemberProgress{}, pctx.Err()
		}
	})
	answer := func(p MemberProgress) {
		t.Helper()
		select {
		case answers <- p:
		case <-ctx.Done():
			t.Fatal("the leader stopped probing the learner")
		}
	}
	far := n.Raft().CommitIndex() + 1000
	for _, bad := range []MemberProgress{
		{NodeID: "l", LeaderID: "n1", Applied: 0},      // never got the log
		{NodeID: "x", LeaderID: "n1", Applied: far},    // someone else at that address
		{NodeID: "l", LeaderID: "other", Applied: far}, // follows another leader
		{NodeID: "l", LeaderID: "", Applied: far},      // follows nobody
	} {
		answer(bad)
	}
	answer(MemberProgress{NodeID: "l", LeaderID: "n1", Applied: 1}) // the next round began: the last bad answer was decided
	if s := suffrageOf(t, n, "l"); s != raft.Nonvoter {
		t.Fatalf("promoted on a bad answer: %v", s)
	}
	answer(MemberProgress{NodeID: "l", LeaderID: "n1", Applied: n.Raft().CommitIndex()})
	for {
		changed := n.State().Notifier().Wait(state.MembersKey)
		if suffrageOf(t, n, "l") == raft.Voter {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("a caught-up learner was not promoted")
		}
	}
}

func TestRecoveredConfiguration(t *testing.T) {
	before := raft.Configuration{Servers: []raft.Server{
		{ID: "a", Address: "a:1", Suffrage: raft.Voter}, {ID: "b", Address: "b:1", Suffrage: raft.Nonvoter}, {ID: "c", Address: "c:1"},
	}}
	got, err := recoveredConfiguration(before, "a", nil)
	if err != nil || len(got.Servers) != 1 || got.Servers[0] != (raft.Server{ID: "a", Address: "a:1", Suffrage: raft.Voter}) {
		t.Fatalf("default: %+v %v", got, err)
	}
	got, err = recoveredConfiguration(before, "a", []raft.Server{{ID: "a"}, {ID: "b"}, {ID: "d", Address: "d:1"}})
	if err != nil || len(got.Servers) != 3 || got.Servers[1].Suffrage != raft.Voter || got.Servers[2].Address != "d:1" {
		t.Fatalf("members: %+v %v", got, err)
	}
	if _, err := recoveredConfiguration(before, "a", []raft.Server{{ID: "b"}}); err == nil {
		t.Fatal("a configuration without this node accepted")
	}
	if _, err := recoveredConfiguration(before, "a", []raft.Server{{ID: "a"}, {ID: "e"}}); err == nil {
		t.Fatal("a member without an address accepted")
	}
}
