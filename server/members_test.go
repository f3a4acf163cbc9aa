package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/servertest"
	"github.com/clbs-io/octopusmq/server/state"
)

// fakeMember answers the leader's catch-up probes (GetCluster) as a member that never
// receives the log would: applied index 0. Each probe is reported on probes.
type fakeMember struct {
	octopusmqv1.UnimplementedClusterServiceServer
	id, leader string
	logFormat  uint32 // the log format it reports
	probes     chan struct{}
}

func (f *fakeMember) GetCluster(context.Context, *octopusmqv1.GetClusterRequest) (*octopusmqv1.GetClusterResponse, error) {
	select {
	case f.probes <- struct{}{}:
	default:
	}
	return &octopusmqv1.GetClusterResponse{NodeId: f.id, LeaderId: f.leader, State: "Follower", LogFormat: f.logFormat}, nil
}

func startFakeMember(t *testing.T, id, leader string) (*fakeMember, string) {
	t.Helper()
	return startFakeMemberFormat(t, id, leader, raftnode.LogFormat)
}

// startFakeMemberFormat starts a fake member that reports log format format.
func startFakeMemberFormat(t *testing.T, id, leader string, format uint32) (*fakeMember, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMember{id: id, leader: leader, logFormat: format, probes: make(chan struct{}, 1)}
	g := grpc.NewServer()
	octopusmqv1.RegisterClusterServiceServer(g, f)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return f, l.Addr().String()
}

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (f *fakeMember) waitProbes(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-f.probes:
		case <-ctx.Done():
			t.Fatalf("the leader did not probe %s (%d of %d probes)", f.id, i, n)
		}
	}
}

type clusterView struct {
	State   string `json:"state"`
	Members []struct {
		ID            string `json:"id"`
		ClientAddress string `json:"clientAddress"`
		Voter         bool   `json:"voter"`
		Suffrage      string `json:"suffrage"`
	} `json:"members"`
}

func getCluster(t *testing.T, url string) clusterView {
	t.Helper()
	code, body := servertest.HTTP(t, "GET", url+"/v1/cluster", "")
	if code != 200 {
		t.Fatalf("GET /v1/cluster: %d %s", code, body)
	}
	var v clusterView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// suffrage is member id's suffrage in the member list ("" when not listed).
func (v clusterView) suffrage(id string) string {
	for _, m := range v.Members {
		if m.ID == id {
			if m.Voter != (m.Suffrage == "Voter") {
				return fmt.Sprintf("inconsistent: voter=%v suffrage=%s", m.Voter, m.Suffrage)
			}
			return m.Suffrage
		}
	}
	return ""
}

// servesWritesAndReads creates queue name, enqueues into it and pulls the item back, all
// over REST, and checks readiness.
func servesWritesAndReads(t *testing.T, url, name string) {
	t.Helper()
	for _, step := range []struct{ method, path, body, want string }{
		{"POST", "/v1/queues", `{"queueName":"` + name + `"}`, ""},
		{"POST", "/v1/queues/" + name + "/items", `{"items":[{"value":"aGk="}]}`, `"ids"`},
		{"POST", "/v1/queues/" + name + "/items:pull", `{"batchSize":1,"timeout":"5s"}`, `"aGk="`},
		{"GET", "/readyz", "", ""},
	} {
		code, body := servertest.HTTP(t, step.method, url+step.path, step.body)
		if code != 200 || !strings.Contains(body, step.want) {
			t.Fatalf("%s %s: %d %s", step.method, step.path, code, body)
		}
	}
}

// TestUnreachableMemberStaysLearner: adding a member that never answers on its Raft port
// leaves a single node serving (it joins as a non-voter, so the quorum is still this node
// alone), is listed as a learner, is probed but never promoted, survives a restart that
// way, and can be removed.
func TestUnreachableMemberStaysLearner(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	fake, fakeAddr := startFakeMember(t, "ghost", "test-node")
	body := fmt.Sprintf(`{"id":"ghost","raftAddress":%q,"clientAddress":%q}`, deadAddr(t), fakeAddr)
	if code, b := servertest.HTTP(t, "POST", srv.URL+"/v1/cluster/members", body); code != 200 {
		t.Fatalf("add member: %d %s", code, b)
	}
	// The leader asks the learner how far it got, twice (so it decided at least once).
	fake.waitProbes(t, ctx, 2)
	if got := getCluster(t, srv.URL).suffrage("ghost"); got != "Learner" {
		t.Fatalf("ghost is %q, want Learner", got)
	}
	servesWritesAndReads(t, srv.URL, "before")

	srv.Restart(t) // waits for /readyz: the node elects itself again
	fake.waitProbes(t, ctx, 2)
	v := getCluster(t, srv.URL)
	if v.State != "Leader" || v.suffrage("ghost") != "Learner" || v.suffrage("test-node") != "Voter" {
		t.Fatalf("after restart: %+v", v)
	}
	servesWritesAndReads(t, srv.URL, "after")

	if code, b := servertest.HTTP(t, "DELETE", srv.URL+"/v1/cluster/members/ghost", ""); code != 200 {
		t.Fatalf("remove member: %d %s", code, b)
	}
	if got := getCluster(t, srv.URL).suffrage("ghost"); got != "" {
		t.Fatalf("ghost still listed as %q", got)
	}
	if ids := srv.Server().Node().State().MemberIDs(); slices.Contains(ids, "ghost") {
		t.Fatalf("ghost's record survived its removal: %v", ids)
	}
}

// TestAddAndRemoveMemberBadInput: missing fields are 400 naming the field; removing a
// member that does not exist is 404 naming it, over gRPC and REST.
func TestAddAndRemoveMemberBadInput(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	cl := octopusmqv1.NewClusterServiceClient(servertest.Dial(t, srv.Addr))
	_, err := cl.RemoveMember(ctx, &octopusmqv1.RemoveMemberRequest{Id: "nobody"})
	wantCode(t, err, codes.NotFound, `"nobody"`)
	_, err = cl.RemoveMember(ctx, &octopusmqv1.RemoveMemberRequest{})
	wantCode(t, err, codes.InvalidArgument, "id")
	_, err = cl.AddMember(ctx, &octopusmqv1.AddMemberRequest{RaftAddress: "127.0.0.1:1"})
	wantCode(t, err, codes.InvalidArgument, "id")
	_, err = cl.AddMember(ctx, &octopusmqv1.AddMemberRequest{Id: "x"})
	wantCode(t, err, codes.InvalidArgument, "raft_address")
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"DELETE", "/v1/cluster/members/nobody", "", 404, `nobody`},
		{"POST", "/v1/cluster/members", `{"id":"x"}`, 400, `raft_address`},
	} {
		code, body := servertest.HTTP(t, tc.method, srv.URL+tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d mentioning %s", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
	// The node kept serving.
	servesWritesAndReads(t, srv.URL, "still")
}

// TestRemovedMembersAreForgotten: a removed member's record (its published client address)
// leaves the replicated state, when removed through the API and, for a record left behind
// (a leader that failed between the two steps, an old backup), by the leader's upkeep.
func TestRemovedMembersAreForgotten(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	body := fmt.Sprintf(`{"id":"standby","raftAddress":%q,"clientAddress":"127.0.0.1:9","nonVoter":true}`, deadAddr(t))
	if code, b := servertest.HTTP(t, "POST", srv.URL+"/v1/cluster/members", body); code != 200 {
		t.Fatalf("add member: %d %s", code, b)
	}
	st := srv.Server().Node().State()
	if st.MemberAddress("standby") != "127.0.0.1:9" || getCluster(t, srv.URL).suffrage("standby") != "Nonvoter" {
		t.Fatalf("standby not recorded as a non-voter: %q %+v", st.MemberAddress("standby"), getCluster(t, srv.URL))
	}
	if code, b := servertest.HTTP(t, "DELETE", srv.URL+"/v1/cluster/members/standby", ""); code != 200 {
		t.Fatalf("remove member: %d %s", code, b)
	}
	if ids := st.MemberIDs(); !slices.Equal(ids, []string{"test-node"}) {
		t.Fatalf("records after removal: %v", ids)
	}
	// A record of a server outside the configuration is forgotten by the leader.
	if _, err := srv.Server().Node().Propose(ctx, raftpb.Type_TYPE_SET_MEMBER_INFO, &raftpb.SetMemberInfo{Id: "stale", ClientAddress: "127.0.0.1:8"}); err != nil {
		t.Fatal(err)
	}
	for {
		changed := st.Notifier().Wait(state.MembersKey)
		if !slices.Contains(st.MemberIDs(), "stale") {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("the stale record stayed: %v", st.MemberIDs())
		}
	}
	srv.Restart(t)
	if ids := srv.Server().Node().State().MemberIDs(); !slices.Equal(ids, []string{"test-node"}) {
		t.Fatalf("records after restart: %v", ids)
	}
}

// TestJoinSkipsItselfAndIsPromoted: a node whose --join list names itself first joins
// through the other address without waiting on itself, as a learner, and the leader
// promotes it to voter once it has caught up.
func TestJoinSkipsItselfAndIsPromoted(t *testing.T) {
	a := servertest.Start(t)
	ctx := ctxT(t)
	servesWritesAndReads(t, a.URL, "jobs")
	// servertest.Start waits (20 s) for the joiner to be ready, i.e. to have joined; asking
	// itself would wait out LeaderWait first.
	b := servertest.Start(t, func(c *server.Config) {
		c.NodeID, c.Bootstrap, c.LeaderWait = "b", false, 5*time.Minute
		c.Join = []string{c.ClientAddr, a.Addr}
	})
	an := a.Server().Node()
	for {
		changed := an.State().Notifier().Wait(state.MembersKey)
		f := an.Raft().GetConfiguration()
		if f.Error() == nil && slices.ContainsFunc(f.Configuration().Servers, func(s raft.Server) bool {
			return s.ID == "b" && s.Suffrage == raft.Voter
		}) {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("b was not promoted: %+v", getCluster(t, a.URL))
		}
	}
	// b learns of its promotion through the log too.
	bn := b.Server().Node()
	for {
		changed := bn.State().Notifier().Wait(state.MembersKey)
		v := getCluster(t, b.URL)
		if v.suffrage("b") == "Voter" && v.suffrage("test-node") == "Voter" {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("b's view: %+v", v)
		}
	}
	// b serves the data it caught up on (reads are forwarded to the leader, a).
	if code, body := servertest.HTTP(t, "GET", b.URL+"/v1/queues/jobs", ""); code != 200 || !strings.Contains(body, `"jobs"`) {
		t.Fatalf("GET through b: %d %s", code, body)
	}
}
