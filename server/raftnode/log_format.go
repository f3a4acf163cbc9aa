package raftnode

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// Log entry formats. Format 1 is the old envelope (Command.type + Command.payload), which
// every version applies; format 2 puts the command's message in Command.body, which
// versions before it fail as unknown type 0. A node writes format 2 only while every
// server of the Raft configuration (voters and non-voters) has a member record saying it
// applies format 2, so a member of an older version never meets an entry it cannot apply
// (a rolling upgrade never lets replicas diverge). See server/DESIGN.md, "Log entry
// format gate".
const (
	LogFormatEnvelope uint32 = 1
	LogFormatBody     uint32 = 2
	// LogFormat is the highest format this binary applies: what it reports of itself.
	LogFormat = LogFormatBody
)

// writeFormat is the format of the next entry: LogFormatBody while every server in the
// latest configuration (committed or not: the leader replicates to a server from the
// moment it is in it) has a record with LogFormatBody, LogFormatEnvelope otherwise.
func (n *Node) writeFormat() uint32 {
	conf := n.raft.GetConfiguration().Configuration()
	ids := make([]string, len(conf.Servers))
	for i, srv := range conf.Servers {
		ids[i] = string(srv.ID)
	}
	if n.state.MembersApply(ids, LogFormatBody) {
		return LogFormatBody
	}
	return LogFormatEnvelope
}

// WritesLogFormat reports the format this node writes entries in now (a leader's answer
// is the cluster's).
func (n *Node) WritesLogFormat() uint32 { return n.writeFormat() }

// MemberLogFormat is the log format member id reported (0: none reported).
func (n *Node) MemberLogFormat(id string) uint32 { return n.state.MemberLogFormat(id) }

// toEnvelope rewrites a command encoded as its body (tag 100+type, the message) into the
// old envelope (type, payload: the same message bytes).
func toEnvelope(cmd []byte) ([]byte, error) {
	num, wt, n := protowire.ConsumeTag(cmd)
	if n < 0 || wt != protowire.BytesType || num <= 100 {
		return nil, fmt.Errorf("command is not a body (field %d, wire type %d)", num, wt)
	}
	msg, m := protowire.ConsumeBytes(cmd[n:])
	if m < 0 || n+m != len(cmd) {
		return nil, errors.New("command body is truncated or followed by other fields")
	}
	typ := uint64(num) - 100
	b := make([]byte, 0, 2+protowire.SizeVarint(typ)+protowire.SizeBytes(len(msg)))
	b = protowire.AppendTag(b, 1, protowire.VarintType) // Command.type
	b = protowire.AppendVarint(b, typ)
	if len(msg) > 0 { // proto3: an empty payload is not written
		b = protowire.AppendTag(b, 2, protowire.BytesType) // Command.payload
		b = protowire.AppendBytes(b, msg)
	}
	return b, nil
}

// toEnvelopes rewrites batch's commands into the old envelope and returns their new size.
// A command that cannot be rewritten (none can: the proposer encodes every one as a body)
// fails alone.
func toEnvelopes(batch []*proposal) ([]*proposal, int) {
	out, size := batch[:0], 0
	for _, pr := range batch {
		b, err := toEnvelope(pr.cmd)
		if err != nil {
			pr.done <- proposalResult{err: err}
			continue
		}
		pr.cmd = b
		out = append(out, pr)
		size += len(b)
	}
	return out, size
}

// reportLogFormats runs on the leader: it records the log format of each server of conf
// whose record says less than LogFormat, its own from this binary and the others' from
// their answer to probe (a member's GetCluster; versions before the format was reported
// answer 0, and stay recorded without it). It reports whether a member is still to be
// asked again (unreachable, or a step failed).
func (n *Node) reportLogFormats(ctx context.Context, probe MemberProbe, conf raft.Configuration) (pending bool) {
	for _, srv := range conf.Servers {
		id := string(srv.ID)
		rec := n.state.MemberRecord(id)
		if rec == nil || rec.GetClientAddress() == "" || rec.GetLogFormat() >= LogFormat {
			continue // no record yet (AddMember or the member's own leadership writes it)
		}
		if srv.Suffrage == raft.Nonvoter && rec.GetPromote() && id != n.cfg.NodeID {
			continue // a learner: promote asks it (one question a round), and records it
		}
		format := LogFormat
		if id != n.cfg.NodeID { // the leader's own record: lead writes it, this is a retry
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			p, err := probe(pctx, id, rec.GetClientAddress())
			cancel()
			if err != nil || p.NodeID != id {
				n.log.Debug("asking a member its log format", "member", id, "err", err)
				pending = true
				continue
			}
			if p.LogFormat <= rec.GetLogFormat() {
				pending = true // an older version: asked again, it may be upgraded meanwhile
				continue
			}
			format = p.LogFormat
		}
		if err := n.recordLogFormat(ctx, rec, format); err != nil {
			pending = true
		}
	}
	return pending
}

// recordLogFormat writes rec again with format, when that is more than it records.
func (n *Node) recordLogFormat(ctx context.Context, rec *raftpb.SetMemberInfo, format uint32) error {
	if rec == nil || rec.GetClientAddress() == "" || format <= rec.GetLogFormat() {
		return nil
	}
	upd := &raftpb.SetMemberInfo{Id: rec.GetId(), ClientAddress: rec.GetClientAddress(), Promote: rec.GetPromote(), LogFormat: format}
	if _, err := n.Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, upd); err != nil {
		n.log.Debug("recording a member's log format", "member", rec.GetId(), "err", err)
		return err
	}
	n.log.Info("member reported its log format", "member", rec.GetId(), "log_format", format)
	return nil
}

// LogFormatError refuses a server that applies an older log format than the entries the
// cluster writes: it would fail the commands of entries it replays (state diverging).
type LogFormatError struct {
	ID        string
	Applies   uint32 // the format the joining server reported (0: none, format 1 only)
	ClusterIn uint32 // the format the cluster writes
}

func (e *LogFormatError) Error() string {
	return fmt.Sprintf("member %q runs a version that applies log format %d at most, and the cluster writes log format %d: run a version with log format %d on it before adding it", e.ID, max(e.Applies, LogFormatEnvelope), e.ClusterIn, e.ClusterIn)
}

// CheckJoinLogFormat is asked before a server that is not in the configuration is added:
// while the cluster writes LogFormatBody, a server that answers at clientAddr with an
// older format is refused (a *LogFormatError). One that does not answer (not started
// yet) is let in: from the moment it is in the configuration without a record of
// LogFormatBody, entries are written in LogFormatEnvelope again (see writeFormat).
func (n *Node) CheckJoinLogFormat(ctx context.Context, id, clientAddr string) error {
	probe := n.probe.Load()
	if probe == nil || clientAddr == "" {
		return nil
	}
	format := n.writeFormat()
	if format < LogFormatBody {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	p, err := (*probe)(pctx, id, clientAddr)
	cancel()
	if err != nil || p.NodeID != id {
		n.log.Info("joining member did not report its log format; entries go back to the old format while it has none recorded", "member", id, "err", err)
		return nil
	}
	if p.LogFormat < format {
		return &LogFormatError{ID: id, Applies: p.LogFormat, ClusterIn: format}
	}
	return nil
}
