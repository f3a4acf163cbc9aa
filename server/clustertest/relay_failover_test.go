package clustertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/metricstest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// ackCount counts acknowledged enqueues across producers, and lets a test await a number
// of them.
type ackCount struct {
	mu      sync.Mutex
	n       int
	waiters map[chan struct{}]int // closed once n reaches the value
}

func (a *ackCount) add() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	for c, at := range a.waiters {
		if a.n >= at {
			close(c)
			delete(a.waiters, c)
		}
	}
}

// await waits until k more enqueues than now are acknowledged, failing the test after
// timeout.
func (a *ackCount) await(t *testing.T, k int, timeout time.Duration, what string) {
	t.Helper()
	c := make(chan struct{})
	a.mu.Lock()
	at := a.n + k
	if a.waiters == nil {
		a.waiters = map[chan struct{}]int{}
	}
	a.waiters[c] = at
	a.mu.Unlock()
	select {
	case <-c:
	case <-time.After(timeout):
		a.mu.Lock()
		n := a.n
		a.mu.Unlock()
		t.Fatalf("%s: %d acknowledged enqueues after %v, want %d", what, n, timeout, at)
	}
}

// relayProducer enqueues distinct values through node addr on raw relayed streams until
// stop, reconnecting (and re-sending the value) when a stream ends or a request is not
// acknowledged. It counts each acknowledgement in acks and returns the acknowledged values.
func relayProducer(t *testing.T, ctx context.Context, addr, queue, prefix string, stop <-chan struct{}, acks *ackCount) map[string]bool {
	acked := map[string]bool{}
	conn := servertest.Dial(t, addr)
	var st grpcpb.QueuesService_ConnectClient
	n := 0
	for {
		select {
		case <-stop:
			return acked
		case <-ctx.Done():
			return acked
		default:
		}
		if st == nil {
			s, err := grpcpb.NewQueuesServiceClient(conn).Connect(ctx)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err := s.Send(queueSetup(0, queue)); err != nil {
				continue
			}
			if r, err := s.Recv(); err != nil || r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			st = s
		}
		v := fmt.Sprintf("%s-%d", prefix, n)
		if err := st.Send(enqueueReq(uint64(n), "", v)); err != nil {
			st = nil
			continue
		}
		r, err := st.Recv()
		if err != nil {
			st = nil
			continue
		}
		if r.GetEnqueue().GetId() != 0 {
			acked[v] = true
			n++
			acks.add()
		}
	}
}

// TestRelayLeaderKilled kills -9 the leader while streams are relayed by the followers:
// every acknowledged enqueue survives; a stream that holds nothing (and has nothing in
// flight) carries on on the new leader without noticing; a stream holding a leased item
// ends, and the item returns once its lease (3 s) runs out; a lock taken through the
// relay is free again after its lock_ttl (3 s), not later.
func TestRelayLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const ttl = 3 * time.Second
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	for _, body := range []string{`{"queueName":"jobs"}`, `{"queueName":"held","lease":"3s"}`} {
		if code, b := httpDo(t, "POST", leader.URL()+"/v1/queues", body); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	if code, b := httpDo(t, "POST", leader.URL()+"/v1/storages", `{"storageName":"kv"}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var followers []*clustertest.Node
	for _, n := range c.Nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	relay := followers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	idle := openQueueStream(t, ctx, relay.Addr)
	wantOK(t, "idle setup", qCall(t, idle, queueSetup(0, "jobs")).GetStatus())
	if qCall(t, idle, enqueueReq(1, "", "idle-before")).GetEnqueue().GetId() == 0 {
		t.Fatal("enqueue on the idle stream")
	}
	holder := openQueueStream(t, ctx, relay.Addr)
	wantOK(t, "holder setup", qCall(t, holder, queueSetup(0, "held")).GetStatus())
	qCall(t, holder, enqueueReq(1, "", "held-item"))
	held := qCall(t, holder, pullReq(2, 1, 5*time.Second)).GetPull().GetItems()
	if len(held) != 1 {
		t.Fatalf("holder pulled %v", held)
	}
	// A stream with a long pull in flight (its outcome unknown if the leader dies).
	waiter := openQueueStream(t, ctx, relay.Addr)
	wantOK(t, "waiter setup", qCall(t, waiter, queueSetup(0, "held")).GetStatus())
	if err := waiter.Send(pullReq(1, 1, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	locker := openStorageStream(t, ctx, relay.Addr)
	wantOK(t, "locker setup", sCall(t, locker, storageSetup(0, "kv")).GetStatus())
	wantOK(t, "set", sCall(t, locker, setReq(1, "lk", "v", 0)).GetStatus())
	if sCall(t, locker, lockReq(2, "lk", ttl)).GetDataResponse().GetLockToken() == 0 {
		t.Fatal("lock through the relay")
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	acks := &ackCount{}
	for i, f := range followers {
		for j := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := relayProducer(t, ctx, f.Addr, "jobs", fmt.Sprintf("p%d.%d", i, j), stop, acks)
				mu.Lock()
				for v := range a {
					acked[v] = true
				}
				mu.Unlock()
			}()
		}
	}
	// The producers are under way (their writes in flight when the leader dies).
	acks.await(t, 20, 30*time.Second, "before the kill")
	c.Kill(leader)
	killed := time.Now()
	newLeader := c.WaitLeader(15 * time.Second)
	t.Logf("new leader %s after %v", newLeader.ID, time.Since(killed))

	// The stream that held an item ended; the item is back once its lease ran out.
	if resp, err := holder.Recv(); err == nil {
		t.Fatalf("the stream holding an item got %v after the leader died, want its end", resp)
	}
	t.Logf("holder ended %v after the kill", time.Since(killed))
	// The waiting pull's stream is answered or ended, never left hanging on a dead leader.
	if resp, err := waiter.Recv(); err == nil {
		t.Logf("the pull in flight at the kill was answered: %v", resp)
	} else {
		t.Logf("the stream with a pull in flight ended %v after the kill: %v", time.Since(killed), err)
	}
	if took := time.Since(killed); took > 20*time.Second {
		t.Fatalf("the stream with a pull in flight was left waiting %v after the kill", took)
	}
	q := openQueueStream(t, ctx, relay.Addr)
	wantOK(t, "setup after the kill", qCall(t, q, queueSetup(0, "held")).GetStatus())
	back := qCall(t, q, pullReq(1, 1, 20*time.Second)).GetPull().GetItems()
	if len(back) != 1 || back[0].GetId() != held[0].GetId() {
		t.Fatalf("the held item did not come back: %v", back)
	}
	if took := time.Since(killed); took > ttl+10*time.Second {
		t.Fatalf("the held item came back %v after the kill, lease %v", took, ttl)
	}
	// The lock taken through the relay is free after its ttl.
	s := openStorageStream(t, ctx, followers[1].Addr)
	wantOK(t, "storage setup after the kill", sCall(t, s, storageSetup(0, "kv")).GetStatus())
	lr := &pb.StorageRequest{CorrelationId: 1, Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{
		Key: []byte("lk"), LockTtl: durationpb.New(30 * time.Second), Timeout: durationpb.New(20 * time.Second)}}}
	if sCall(t, s, lr).GetDataResponse().GetLockToken() == 0 {
		t.Fatal("the lock of the dead leader's time was not free after its ttl")
	}
	if took := time.Since(killed); took > ttl+10*time.Second {
		t.Fatalf("the lock was free %v after the kill, ttl %v", took, ttl)
	}
	// The idle stream carries on: the relay re-opened it on the new leader.
	if qCall(t, idle, enqueueReq(2, "", "idle-after")).GetEnqueue().GetId() == 0 {
		t.Fatal("enqueue on the idle stream after the kill")
	}
	acked["idle-before"], acked["idle-after"] = true, true
	t.Logf("idle stream served %v after the kill", time.Since(killed))

	// The producers go on through the new leader.
	acks.await(t, 20, 30*time.Second, "on the new leader")
	close(stop)
	wg.Wait()
	t.Logf("producers stopped %v after the kill", time.Since(killed))
	// Every acknowledged value is in the queue.
	got := map[string]bool{}
	for {
		items := qCall(t, idle, pullReq(3, 500, 500*time.Millisecond)).GetPull().GetItems()
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			got[string(it.GetValue())] = true
		}
		var ids []uint64
		for _, it := range items {
			ids = append(ids, it.GetId())
		}
		qCall(t, idle, &pb.QueueRequest{CorrelationId: 4, Command: &pb.QueueRequest_Commit{Commit: &pb.CommitRequest{Ids: ids}}})
	}
	lost := 0
	for v := range acked {
		if !got[v] {
			lost++
			t.Errorf("acknowledged %q is missing", v)
		}
	}
	if len(acked) < 10 {
		t.Fatalf("only %d acknowledged enqueues: the workload did not run", len(acked))
	}
	t.Logf("%d acknowledged enqueues, %d in the queue, %d lost", len(acked), len(got), lost)
}

// TestRelayLeaderTransfer: a relayed stream that holds nothing, with a pull waiting, goes
// on across leadership transfers without noticing: the old leader refuses the pull
// (LEADER_SWITCH, it provably did not run) and the relay re-sends setup and pull to the new
// leader, which may be the relaying node itself.
func TestRelayLeaderTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	if code, b := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	relay := c.Follower(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := openQueueStream(t, ctx, relay.Addr)
	wantOK(t, "setup", qCall(t, st, queueSetup(0, "jobs")).GetStatus())
	transparent := 0
	for round := range 3 {
		old := c.WaitLeader(10 * time.Second)
		corr := uint64(10 * (round + 1))
		if err := st.Send(pullReq(corr, 1, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		// A stream that reached the leader itself (no relay) waits too.
		local := openQueueStream(t, ctx, old.Addr)
		wantOK(t, "setup on the leader", qCall(t, local, queueSetup(0, "jobs")).GetStatus())
		if err := local.Send(pullReq(1, 1, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		awaitWaiting(t, old.URL(), "pull", 2) // both pulls wait on the leader
		if code, body := httpDo(t, "POST", old.URL()+"/v1/cluster:transferLeadership", `{}`); code != 200 {
			t.Fatalf("transfer: %d %s", code, body)
		}
		// Its client knows nothing of leaders: once the old leader answers LEADER_SWITCH,
		// the stream ends, so the client reconnects (and is relayed) instead of getting
		// LEADER_SWITCH for every command.
		if resp, err := local.Recv(); err == nil {
			if resp.GetStatus().GetCode() == pb.StatusCode_STATUS_CODE_LEADER_SWITCH {
				if resp, err := local.Recv(); status.Code(err) != codes.Unavailable {
					t.Fatalf("round %d: after LEADER_SWITCH the leader's stream went on: %v %v", round, resp, err)
				}
			}
		}
		now := c.WaitLeader(10 * time.Second)
		p := openQueueStream(t, ctx, now.Addr)
		wantOK(t, "producer setup", qCall(t, p, queueSetup(0, "jobs")).GetStatus())
		qCall(t, p, enqueueReq(1, "", fmt.Sprintf("round-%d", round)))
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("round %d: the relayed stream ended: %v", round, err)
		}
		if resp.GetCorrelationId() != corr {
			t.Fatalf("round %d: answer %v, want correlation id %d", round, resp, corr)
		}
		if code := resp.GetStatus().GetCode(); code == pb.StatusCode_STATUS_CODE_LEADER_SWITCH {
			t.Fatalf("round %d: LEADER_SWITCH reached a client of the relay: %v", round, resp)
		} else if code == pb.StatusCode_STATUS_CODE_ERROR {
			// The pull's try was in the log when leadership moved: its outcome is unknown
			// and the leader says so (not about relaying). Take the item with a new pull.
			t.Logf("round %d: %s", round, resp.GetStatus().GetMessage())
			resp = qCall(t, st, pullReq(corr+1, 1, 10*time.Second))
		} else {
			transparent++
		}
		items := resp.GetPull().GetItems()
		if len(items) != 1 || string(items[0].GetValue()) != fmt.Sprintf("round-%d", round) {
			t.Fatalf("round %d: pulled %v", round, resp)
		}
		if !qCall(t, st, commitReq(corr+2, items[0].GetId())).GetCommitSingle().GetCommitted() {
			t.Fatalf("round %d: commit", round)
		}
		t.Logf("round %d: leader %s -> %s, relayed through %s", round, old.ID, now.ID, relay.ID)
	}
	if transparent == 0 {
		t.Fatal("no round carried a waiting pull across the transfer")
	}
}

// awaitWaiting waits until the node at url has at least n commands of kind (pull, lock,
// enqueue) waiting for a change (its octopusmq_waiting_commands gauge).
func awaitWaiting(t *testing.T, url, kind string, n float64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v, _ := metricstest.Value(metricstest.Scrape(t, url, ""), "octopusmq_waiting_commands", "kind", kind)
		if v >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v %s commands waiting, want %v", url, v, kind, n)
		}
	}
}
