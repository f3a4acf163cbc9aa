package raftnode

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// startCluster starts n in-process nodes of one cluster on 127.0.0.1 and returns them
// with the leader (ready) first.
func startCluster(t *testing.T, size int) []*Node {
	t.Helper()
	var peers []raft.Server
	ids := []string{"n1", "n2", "n3", "n4", "n5"}[:size]
	for _, id := range ids {
		peers = append(peers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(dead(t))})
	}
	nodes := make([]*Node, size)
	for i, id := range ids {
		n, err := Start(Config{
			NodeID: id, DataDir: t.TempDir(), RaftBind: string(peers[i].Address), ClientAddress: id + ":client",
			Bootstrap: true, Peers: peers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, state.New(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		nodes[i] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		id, _, err := nodes[0].WaitLeader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes {
			if n.ID() == id && n.WaitLeaderReady(ctx) == nil {
				nodes[0], nodes[i] = nodes[i], nodes[0]
				// Every member's client address is recorded (a server's join does it).
				for _, m := range nodes {
					if _, err := nodes[0].Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: m.ID(), ClientAddress: m.ID() + ":client", LogFormat: LogFormat}); err != nil {
						t.Fatal(err)
					}
				}
				return nodes
			}
		}
	}
}

// TestRestoreWaitsForAQuorumCaughtUp: a restore starts only when a quorum of voters has
// caught up with the leader. The leader asks the members (an in-process probe that
// answers each node's real progress, except for members held "behind"); with both
// followers behind it refuses with BehindError after restoreCatchUpWait and nothing
// changes; with one caught up it restores, and every node ends with the backup's state.
func TestRestoreWaitsForAQuorumCaughtUp(t *testing.T) {
	defer func(w time.Duration) { restoreCatchUpWait = w }(restoreCatchUpWait)
	restoreCatchUpWait = 2 * time.Second
	nodes := startCluster(t, 3)
	leader := nodes[0]
	var mu sync.Mutex
	held := map[string]bool{nodes[1].ID(): true, nodes[2].ID(): true}
	leader.StartMembership(func(ctx context.Context, id, addr string) (MemberProgress, error) {
		for _, n := range nodes {
			if n.ID() == id && addr == id+":client" {
				mu.Lock()
				defer mu.Unlock()
				lead, _ := n.Leader()
				p := MemberProgress{NodeID: id, LeaderID: lead, Applied: n.AppliedIndex(), LogFormat: LogFormat}
				if held[id] {
					p.Applied = 1
				}
				return p, nil
			}
		}
		return MemberProgress{}, errors.New("no such member")
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	propose := func(name string) {
		t.Helper()
		if _, err := leader.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: name}); err != nil {
			t.Fatal(err)
		}
	}
	propose("kept")
	backup, err := backupBytes(leader)
	if err != nil {
		t.Fatal(err)
	}
	info, err := state.CheckSnapshot(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	propose("gone")

	_, err = leader.RestoreBackup(ctx, bytes.NewReader(backup), info)
	var behind *BehindError
	if !errors.As(err, &behind) || behind.Caught != 1 || len(behind.Behind) != 2 || !strings.Contains(err.Error(), "applied 1") {
		t.Fatalf("restore with both followers behind: %v", err)
	}
	t.Log(err)
	if leader.State().HasQueue("gone") != nil {
		t.Fatal("a refused restore changed the state")
	}

	mu.Lock()
	delete(held, nodes[2].ID())
	mu.Unlock()
	if _, err := leader.RestoreBackup(ctx, bytes.NewReader(backup), info); err != nil {
		t.Fatalf("restore with a quorum caught up: %v", err)
	}
	// A write after the restore reaches every node: each applies it on the restored state.
	propose("after")
	awaitWriteAfterRestore(ctx, t, nodes)
}

// TestRestoreBoundedWhenFollowersCannotInstall: both followers answer Raft but cannot
// store a snapshot (their snapshot folder is a file), so the restore's no-op never
// commits. The call returns ErrRestoreUnconfirmed once restoreConfirmTimeout passed, and
// the proposer is not held: a write proposed meanwhile is taken (it commits after the
// restore). Once the followers can store snapshots again, they install the restore, the
// write commits, and every node has the backup's state and the write.
func TestRestoreBoundedWhenFollowersCannotInstall(t *testing.T) {
	defer func(d time.Duration) { restoreConfirmBase = d }(restoreConfirmBase)
	restoreConfirmBase = 2 * time.Second
	nodes := startCluster(t, 3)
	leader := nodes[0]
	leader.StartMembership(func(ctx context.Context, id, addr string) (MemberProgress, error) {
		for _, n := range nodes {
			if n.ID() == id {
				lead, _ := n.Leader()
				return MemberProgress{NodeID: id, LeaderID: lead, Applied: n.AppliedIndex(), LogFormat: LogFormat}, nil
			}
		}
		return MemberProgress{}, errors.New("no such member")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := leader.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "kept"}); err != nil {
		t.Fatal(err)
	}
	backup, err := backupBytes(leader)
	if err != nil {
		t.Fatal(err)
	}
	info, err := state.CheckSnapshot(bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Propose(ctx, raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "gone"}); err != nil {
		t.Fatal(err)
	}
	// Each follower's snapshot folder becomes a file: creating a snapshot fails.
	for _, n := range nodes[1:] {
		dir := filepath.Join(n.cfg.DataDir, "raft", "snapshots")
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	_, err = leader.RestoreBackup(ctx, bytes.NewReader(backup), info)
	if !errors.Is(err, ErrRestoreUnconfirmed) {
		t.Fatalf("restore no follower can install: %v", err)
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("the restore call took %s", took)
	}
	if !leader.IsLeader() {
		t.Fatal("the leader stepped down (the test needs followers that answer)")
	}
	// The proposer is free: a write is taken now and commits after the restore.
	after := leader.Submit(raftpb.Type_TYPE_CREATE_QUEUE, &pb.CreateQueueRequest{QueueName: "after"})

	for _, n := range nodes[1:] {
		dir := filepath.Join(n.cfg.DataDir, "raft", "snapshots")
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := after.Wait(ctx); err != nil {
		t.Fatalf("the write proposed after the unconfirmed restore: %v", err)
	}
	awaitWriteAfterRestore(ctx, t, nodes)
}

// awaitWriteAfterRestore waits until every node applied the queue "after" (proposed after a
// restore of a backup holding "kept" but not "gone") and checks each one's state is the
// backup's plus that write.
func awaitWriteAfterRestore(ctx context.Context, t *testing.T, nodes []*Node) {
	t.Helper()
	for _, n := range nodes {
		for n.State().HasQueue("after") != nil {
			select {
			case <-n.AppliedChanged():
			case <-ctx.Done():
				t.Fatalf("%s did not apply the write after the restore", n.ID())
			}
		}
		if n.State().HasQueue("kept") != nil || n.State().HasQueue("gone") == nil {
			t.Fatalf("%s's state after the restore: kept %v, gone %v", n.ID(), n.State().HasQueue("kept"), n.State().HasQueue("gone"))
		}
	}
}

// backupBytes is n's backup (Node.Backup) in one slice.
func backupBytes(n *Node) ([]byte, error) {
	e, _, err := n.Backup()
	if err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}
