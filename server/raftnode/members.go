package raftnode

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/state"
)

// Membership follows etcd's learner rule: a member joins as a non-voter (a learner) and the
// leader promotes it to voter only once it has caught up, so adding a member that is
// unreachable, slow or mistyped never takes the cluster's quorum away (a second voter that
// never answers would leave a single node unable to elect itself, for good).

// PromoteMaxLag is how far (in log entries) a learner's applied index may be behind the
// leader's commit index when it is promoted: one AppendEntries batch.
const PromoteMaxLag = 256

// probeInterval is how often the leader asks a learner how far it has got while one is
// waiting for promotion; probeTimeout bounds one question.
const (
	probeInterval = 500 * time.Millisecond
	probeTimeout  = 2 * time.Second
)

// MemberProgress is a member's own answer about itself.
type MemberProgress struct {
	NodeID   string // the id the member runs with
	LeaderID string // the leader it follows
	Applied  uint64 // its applied index
	// LogFormat is the highest log entry format it applies (0 from versions before it was
	// reported: they apply LogFormatEnvelope only).
	LogFormat uint32
}

// MemberProbe asks member id, at its client address, how far it has got.
type MemberProbe func(ctx context.Context, id, clientAddr string) (MemberProgress, error)

// StartMembership runs the leader's membership upkeep until Shutdown: it promotes caught-up
// learners and forgets the records (client addresses) of members that left the
// configuration. probe reaches members over the client port.
func (n *Node) StartMembership(probe MemberProbe) {
	n.probe.Store(&probe)
	ctx, cancel := context.WithCancel(context.Background())
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		<-n.stop
		cancel()
	}()
	go func() {
		defer n.wg.Done()
		n.membershipLoop(ctx, probe)
	}()
}

func (n *Node) membershipLoop(ctx context.Context, probe MemberProbe) {
	retry := time.NewTimer(time.Hour) // Reset discards a stale expiry (Go 1.23 timers)
	defer retry.Stop()
	for {
		// Take every wake-up channel before looking, so no change is missed.
		leaders := n.leaders.wait()
		members := n.state.Notifier().Wait(state.MembersKey)
		ready := n.currentLeaderReady()
		var notReady <-chan struct{} // wait for the barrier only while it is not done
		var again <-chan time.Time
		select {
		case <-ready:
			if n.IsLeader() && n.upkeepMembers(ctx, probe) {
				retry.Reset(probeInterval)
				again = retry.C
			}
		default:
			notReady = ready
		}
		select {
		case <-ctx.Done():
			return
		case <-leaders:
		case <-members:
		case <-notReady:
		case <-again:
		}
	}
}

func (n *Node) currentLeaderReady() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leaderReady
}

// upkeepMembers runs one round on the leader and reports whether work is left that only
// time can finish (a learner not caught up yet, or a step that failed).
func (n *Node) upkeepMembers(ctx context.Context, probe MemberProbe) (pending bool) {
	// Records first, then the configuration: a record is written only for a server already
	// in the configuration, so one missing from a later configuration has left it.
	ids := n.state.MemberIDs()
	confIndex := n.configurationIndex() // before the configuration: see promote
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return true
	}
	conf := f.Configuration()
	inConf := map[string]raft.Server{}
	for _, srv := range conf.Servers {
		inConf[string(srv.ID)] = srv
	}
	for _, id := range ids {
		if _, ok := inConf[id]; ok {
			continue
		}
		if err := n.ForgetMember(ctx, id); err != nil {
			n.log.Debug("forgetting a removed member", "member", id, "err", err)
			pending = true
		}
	}
	if n.reportLogFormats(ctx, probe, conf) {
		pending = true
	}
	for _, srv := range conf.Servers {
		id := string(srv.ID)
		if srv.Suffrage != raft.Nonvoter || !n.state.MemberPromote(id) {
			continue
		}
		if err := n.promote(ctx, probe, srv, confIndex); err != nil {
			n.log.Debug("learner not promoted yet", "member", id, "err", err)
			pending = true
		}
	}
	return pending
}

// errNotCaughtUp: the learner answered but is not (yet) ready for a vote.
var errNotCaughtUp = errors.New("not caught up")

// promote makes learner srv a voter if it answers, follows this leader, has applied the
// configuration (confIndex) that made it a learner, and is within PromoteMaxLag of the
// commit index. confIndex also guards the change: Raft refuses it if the configuration
// changed since (a member removed meanwhile must not come back as a voter).
func (n *Node) promote(ctx context.Context, probe MemberProbe, srv raft.Server, confIndex uint64) error {
	id := string(srv.ID)
	addr := n.state.MemberAddress(id)
	if addr == "" {
		return errors.New("no client address published yet")
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	p, err := probe(pctx, id, addr)
	cancel()
	if err != nil {
		return err
	}
	if p.NodeID == id {
		_ = n.recordLogFormat(ctx, n.state.MemberRecord(id), p.LogFormat) // retried next round
	}
	commit := n.raft.CommitIndex()
	switch {
	case p.NodeID != id:
		return errors.New("the member at " + addr + " runs as " + p.NodeID)
	case p.LeaderID != n.cfg.NodeID:
		return errNotCaughtUp
	case p.Applied < confIndex, p.Applied+PromoteMaxLag < commit:
		return errNotCaughtUp
	}
	if err := n.raft.AddVoter(srv.ID, srv.Address, confIndex, 10*time.Second).Error(); err != nil {
		return err
	}
	n.log.Info("promoted a learner to voter", "member", id, "applied", p.Applied, "commit", commit)
	return nil
}

// configurationIndex is the index of the latest committed configuration: the last
// configuration entry applied, or the newest snapshot's when that is later (entries before
// a snapshot are not replayed). hashicorp/raft's GetConfiguration does not report it (its
// Index is always 0 in v1.7.3), and config changes need it to refuse racing ones.
func (n *Node) configurationIndex() uint64 {
	idx := n.fsm.confIndex.Load()
	if list, err := n.snaps.List(); err == nil && len(list) > 0 && list[0].ConfigurationIndex > idx {
		idx = list[0].ConfigurationIndex
	}
	return idx
}

// ForgetMember removes member id's record (client address, promotion) from the state: it
// has left the configuration. It is a log entry, so every replica forgets it at the same
// point.
func (n *Node) ForgetMember(ctx context.Context, id string) error {
	_, err := n.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: id})
	return err
}

// Suffrage is member id's suffrage in configuration c: Voter, Learner (a non-voter the
// leader promotes once it has caught up), Nonvoter, or "" when it is not a member.
func (n *Node) Suffrage(c raft.Configuration, id string) string {
	for _, srv := range c.Servers {
		if string(srv.ID) != id {
			continue
		}
		switch {
		case srv.Suffrage == raft.Voter:
			return "Voter"
		case srv.Suffrage == raft.Nonvoter && n.state.MemberPromote(id):
			return "Learner"
		default:
			return "Nonvoter"
		}
	}
	return ""
}
