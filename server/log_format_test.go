package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/servertest"
	"github.com/clbs-io/octopusmq/server/state"
)

// waitWritesFormat waits until the node writes entries in format.
func waitWritesFormat(t *testing.T, ctx context.Context, n *raftnode.Node, format uint32) {
	t.Helper()
	for {
		changed := n.State().Notifier().Wait(state.MembersKey)
		if n.WritesLogFormat() == format {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("the node writes log format %d, want %d", n.WritesLogFormat(), format)
		}
	}
}

// TestOlderMemberRefusedAtJoin: a node alone writes log format 2 once it has recorded its
// own; a server answering with an older format (a version before log formats) is refused
// with FailedPrecondition naming both formats and the node keeps serving; a server of this
// version is added, entries go back to format 1 until the leader has recorded its answer,
// then to format 2.
func TestOlderMemberRefusedAtJoin(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	node := srv.Server().Node()
	waitWritesFormat(t, ctx, node, raftnode.LogFormatBody)

	_, oldAddr := startFakeMemberFormat(t, "old", "test-node", 0)
	body := fmt.Sprintf(`{"id":"old","raftAddress":%q,"clientAddress":%q}`, deadAddr(t), oldAddr)
	code, b := servertest.HTTP(t, "POST", srv.URL+"/v1/cluster/members", body)
	// FailedPrecondition (code 9): the gateway's HTTP status for it is 400 (409 would do too).
	if (code != 400 && code != 409) || !strings.Contains(b, `"code":9`) || !strings.Contains(b, `member \"old\"`) ||
		!strings.Contains(b, "log format 1 at most") || !strings.Contains(b, "writes log format 2") {
		t.Fatalf("adding an older server: %d %s", code, b)
	}
	if got := getCluster(t, srv.URL).suffrage("old"); got != "" {
		t.Fatalf("the refused server is a member (%s)", got)
	}
	servesWritesAndReads(t, srv.URL, "refused")

	fake, newAddr := startFakeMemberFormat(t, "new", "test-node", raftnode.LogFormatBody)
	body = fmt.Sprintf(`{"id":"new","raftAddress":%q,"clientAddress":%q}`, deadAddr(t), newAddr)
	if code, b := servertest.HTTP(t, "POST", srv.URL+"/v1/cluster/members", body); code != 200 {
		t.Fatalf("adding a server of this version: %d %s", code, b)
	}
	fake.waitProbes(t, ctx, 1)
	waitWritesFormat(t, ctx, node, raftnode.LogFormatBody)
	if f := node.MemberLogFormat("new"); f != raftnode.LogFormatBody {
		t.Fatalf("the new member's record says format %d", f)
	}
	if got := getCluster(t, srv.URL).suffrage("new"); got != "Learner" {
		t.Fatalf("new is %q, want Learner", got)
	}
	servesWritesAndReads(t, srv.URL, "added")
}
