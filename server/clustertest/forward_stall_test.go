package clustertest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// clusterWith starts a 3-node cluster with one queue or storage (kind "queues" or
// "storages") named name, and returns it with its leader and a follower.
func clusterWith(t *testing.T, kind, name string, opts ...clustertest.Option) (*clustertest.Cluster, *clustertest.Node, *clustertest.Node) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3, opts...)
	leader := c.WaitLeader(10 * time.Second)
	field := map[string]string{"queues": "queueName", "storages": "storageName"}[kind]
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/"+kind, fmt.Sprintf(`{%q:%q}`, field, name)); code != 200 {
		t.Fatalf("create %s %s: %d %s", kind, name, code, body)
	}
	return c, leader, c.Follower(leader)
}

// electionBound bounds a wait that should last about an election: eight election timeouts
// (500 ms) plus a second, far below the pauses the tests use.
const electionBound = 8*500*time.Millisecond + time.Second

// awaitStopped returns what done delivers, failing when nothing came within the leader's
// pause (what says what was missing).
func awaitStopped[T any](t *testing.T, done <-chan T, pause time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-done:
		return v
	case <-time.After(pause):
		t.Fatalf("%s %v after the leader stopped (bound %v)", what, pause, electionBound)
	}
	var zero T
	return zero
}

// TestForwardToStoppedLeaderEnds sends a REST write to a follower just as the leader stops
// (SIGSTOP): the follower forwards it to the stopped leader, which keeps the connection
// open and silent. Once the others elect a successor the follower must give up on the old
// leader and answer (outcome unknown), about an election after the stop, not when the old
// leader resumes. (A client of a follower stalled for the whole pause in the chaos suite.)
func TestForwardToStoppedLeaderEnds(t *testing.T) {
	c, leader, follower := clusterWith(t, "storages", "kv")

	// Stop the leader as soon as the request has been written to the follower: the
	// follower forwards it at once, long before it can notice the leader's silence
	// (the heartbeat timeout is 500 ms), so the forward goes to the stopped leader.
	const pause = 12 * time.Second
	wrote := make(chan struct{})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	})
	ctx, cancel := context.WithTimeout(ctx, 2*pause)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "PUT", follower.URL()+"/v1/storages/kv/keys/k", strings.NewReader(`{"value":"dg=="}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		code int
		body string
		err  error
		at   time.Time
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err, at: time.Now()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- answer{code: resp.StatusCode, body: string(b), at: time.Now()}
	}()
	<-wrote
	stopped := time.Now()
	c.Pause(leader)
	defer c.Resume(leader)

	const bound = electionBound
	a := awaitStopped(t, done, pause, "no answer from the follower")
	took := a.at.Sub(stopped)
	t.Logf("answered %v after the stop: %d %s %v", took, a.code, a.body, a.err)
	if a.err != nil {
		t.Fatalf("request through the follower: %v", a.err)
	}
	if took > bound {
		t.Fatalf("the follower answered %v after the leader stopped (bound %v)", took, bound)
	}
	// Either the write raced ahead of the stop (200) or its outcome is unknown (500).
	if a.code != 200 && !(a.code == 500 && strings.Contains(a.body, "outcome is unknown")) {
		t.Fatalf("answer %d %s", a.code, a.body)
	}
}

// TestRestartedFollowerBehindAnswers restarts a follower after an outage long enough for
// the leader's replication to it to back off (hashicorp/raft doubles its wait after each
// failed attempt, up to about 10 s; with retries off, as after a longer outage): the follower knows the leader again from heartbeats
// at once, but its state (no snapshot: it restarts empty) lacks the leader's client
// address until the leader sends it the log. A request through it must be answered within
// a few seconds (forwarded, or UNAVAILABLE so the client retries elsewhere), not held
// until the follower catches up. (A client stalled 9.5 s on such a node in the chaos suite.)
func TestRestartedFollowerBehindAnswers(t *testing.T) {
	// Without the retrying transport (raftnode/replretry.go), which keeps the backoff short
	// after outages of less than a minute or so: a follower behind the log for longer.
	c, _, follower := clusterWith(t, "storages", "kv", clustertest.WithFlags("--raft-replication-retry", "-1s"))
	c.Kill(follower)
	// The outage: replication attempts at about 0, 5 and 10 s after it began, the next
	// one about 20 s after (see the comment above).
	time.Sleep(11 * time.Second)
	c.Restart(follower)

	// Wait until the follower knows the leader (heartbeats), then check the premise: its
	// state has no client address for it yet.
	deadline := time.Now().Add(10 * time.Second)
	var st *clustertest.Status
	for {
		var err error
		if st, err = c.Status(follower); err == nil && st.LeaderID != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted follower knows no leader after 10 s: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range st.Members {
		if m.ID == st.LeaderID && m.ClientAddress != "" {
			t.Fatalf("premise: the restarted follower already knows the leader's client address %q (it caught up)", m.ClientAddress)
		}
	}
	if code, _ := httpDo(t, "GET", follower.URL()+"/readyz", ""); code != 503 {
		t.Errorf("readyz of a follower that cannot forward: %d, want 503", code)
	}

	// At once (the follower catches up about 9 s after its restart): a REST write, and the
	// setups of a stream asking for the leader (as the Go client does: LEADER_SWITCH) and
	// of one to be relayed.
	const bound = 5 * time.Second // addressGrace (2 s), asking the others (at most 1 s), a margin
	ctx, cancel := context.WithTimeout(context.Background(), 3*bound)
	defer cancel()
	type answer struct {
		what, got string
		took      time.Duration
	}
	answers := make(chan answer, 3)
	start := time.Now()
	go func() {
		code, body := httpDo(t, "PUT", follower.URL()+"/v1/storages/kv/keys/k", `{"value":"dg=="}`)
		got := fmt.Sprintf("%d %s", code, body)
		if code != 200 && !(code == 503 && strings.Contains(body, "notcaughtup")) {
			got = "unexpected answer " + got
		}
		answers <- answer{"REST write", got, time.Since(start)}
	}()
	for _, direct := range []bool{true, false} {
		go func() {
			sctx := ctx
			if direct {
				sctx = metadata.AppendToOutgoingContext(ctx, server.DirectHeader, "1")
			}
			conn := servertest.Dial(t, follower.Addr)
			st, err := grpcpb.NewStorageServiceClient(conn).StorageConnect(sctx)
			got := ""
			if err == nil {
				err = st.Send(&pb.StorageRequest{CorrelationId: 1, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: "kv"}}})
			}
			if err == nil {
				var resp *pb.StorageResponse
				if resp, err = st.Recv(); err == nil {
					got = resp.GetStatus().String()
				}
			}
			if err != nil {
				got = status.Convert(err).String()
			}
			answers <- answer{fmt.Sprintf("stream setup (direct %v)", direct), got, time.Since(start)}
		}()
	}
	for range 3 {
		a := <-answers
		t.Logf("%s answered after %v: %s", a.what, a.took, a.got)
		if a.took > bound {
			t.Errorf("%s: the restarted follower answered after %v (bound %v)", a.what, a.took, bound)
		}
		if strings.HasPrefix(a.got, "unexpected") {
			t.Errorf("%s: %s", a.what, a.got)
		}
	}
}

// TestRelayToStoppedLeaderEnds: a stream relayed by a follower to a leader that stops
// (SIGSTOP) while a request is in flight ends (UNAVAILABLE: the request's outcome is
// unknown) about an election after the stop, not when the old leader resumes.
func TestRelayToStoppedLeaderEnds(t *testing.T) {
	c, leader, follower := clusterWith(t, "queues", "jobs")
	const pause = 12 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*pause)
	defer cancel()
	st := openQueueStream(t, ctx, follower.Addr) // no direct header: relayed
	if err := st.Send(queueSetup(1, "jobs")); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("setup: %v %v", resp, err)
	}
	stopped := time.Now()
	c.Pause(leader)
	defer c.Resume(leader)
	// A pull that waits on the server: in flight on the stopped leader.
	pull := &pb.QueueRequest{CorrelationId: 2, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 1, Timeout: durationpb.New(pause)}}}
	if err := st.Send(pull); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		resp *pb.QueueResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() { resp, err := st.Recv(); done <- answer{resp, err} }()
	const bound = electionBound
	a := awaitStopped(t, done, pause, "nothing on the relayed stream")
	took := time.Since(stopped)
	t.Logf("after %v: %v %v", took, a.resp, a.err)
	if took > bound {
		t.Fatalf("the relayed stream answered %v after the leader stopped (bound %v)", took, bound)
	}
	if a.err == nil || status.Code(a.err) != codes.Unavailable {
		t.Fatalf("want the stream to end UNAVAILABLE, got %v %v", a.resp, a.err)
	}
}
