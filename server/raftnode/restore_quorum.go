package raftnode

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// restoreCatchUpWait bounds how long a restore waits for a quorum of voters to have
// caught up with the leader before it refuses to start (BehindError).
var restoreCatchUpWait = 15 * time.Second

// BehindError: a restore did not start, because too few voters had caught up with the
// leader (a precondition, not a fault: retry once they have).
type BehindError struct {
	Caught, Voters int
	Target         uint64
	Behind         []string // "id (why)"
	Waited         time.Duration
}

func (e *BehindError) Error() string {
	return fmt.Sprintf("refused, nothing changed: %d of %d voters (a quorum is %d) had caught up with the leader (applied index %d or more) after %s; behind: %s. Retry once they have (GET /v1/cluster on each member shows its applied index)",
		e.Caught, e.Voters, e.Voters/2+1, e.Target, e.Waited.Round(time.Second), strings.Join(e.Behind, ", "))
}

// waitRestoreQuorum waits, up to restoreCatchUpWait, until a quorum of voters (this
// leader included) has applied the leader's commit index of now, which is past the
// leader's first entry of its term. Such a follower's log is a prefix of the leader's: it
// accepted an entry of this term, which truncated any entry of an earlier term that the
// leader does not have, and no earlier leader can append to it any more. It therefore
// installs the restore's snapshot and accepts the entries after it, so the restore
// commits. Members are asked over the client port (the membership probe); without one
// (a node started without StartMembership) there is no one to ask and the restore
// starts.
func (n *Node) waitRestoreQuorum(ctx context.Context) error {
	pp := n.probe.Load()
	if pp == nil {
		return nil
	}
	probe := *pp
	target := n.raft.CommitIndex()
	start := time.Now()
	for {
		f := n.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			return err
		}
		var voters []raft.Server
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				voters = append(voters, srv)
			}
		}
		caught, behind := n.caughtUp(ctx, probe, voters, target)
		if caught >= len(voters)/2+1 {
			return nil
		}
		waited := time.Since(start)
		if waited >= restoreCatchUpWait {
			return &BehindError{Caught: caught, Voters: len(voters), Target: target, Behind: behind, Waited: waited}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrShutdown
		case <-time.After(probeInterval):
		}
	}
}

// caughtUp asks every voter (in parallel) whether it follows this node and has applied
// target, and returns how many have (this node counts) and why the others have not.
func (n *Node) caughtUp(ctx context.Context, probe MemberProbe, voters []raft.Server, target uint64) (int, []string) {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		caught int
		behind []string
	)
	for _, srv := range voters {
		id := string(srv.ID)
		// caught and behind are shared with the probes already started: under mu.
		if id == n.cfg.NodeID {
			mu.Lock()
			caught++
			mu.Unlock()
			continue
		}
		rec := n.state.MemberRecord(id)
		if rec == nil || rec.GetClientAddress() == "" {
			mu.Lock()
			behind = append(behind, id+" (no client address recorded)")
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			p, err := probe(pctx, id, rec.GetClientAddress())
			cancel()
			why := ""
			switch {
			case err != nil:
				why = "unreachable: " + err.Error()
			case p.NodeID != id:
				why = fmt.Sprintf("answers as %q", p.NodeID)
			case p.LeaderID != n.cfg.NodeID:
				why = fmt.Sprintf("follows %q", p.LeaderID)
			case p.Applied < target:
				why = fmt.Sprintf("applied %d", p.Applied)
			}
			mu.Lock()
			defer mu.Unlock()
			if why == "" {
				caught++
			} else {
				behind = append(behind, id+" ("+why+")")
			}
		}()
	}
	wg.Wait()
	sort.Strings(behind)
	return caught, behind
}
