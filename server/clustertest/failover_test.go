package clustertest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

func TestClusterFormsAndForwards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	follower := c.Follower(leader)

	// Management through a follower is forwarded to the leader.
	if code, body := httpDo(t, "POST", follower.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("create via follower: %d %s", code, body)
	}
	// Every node serves the read (forwarded, linearizable): the queue is there.
	for _, n := range c.Nodes {
		code, body := httpDo(t, "GET", n.URL()+"/v1/queues", "")
		if code != 200 || !strings.Contains(body, `"jobs"`) {
			t.Fatalf("list on %s: %d %s", n.ID, code, body)
		}
	}
	// Every member knows every member's client address (published through the log).
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(follower)
		if err != nil {
			t.Fatal(err)
		}
		known := 0
		for _, m := range st.Members {
			for _, n := range c.Nodes {
				if m.ID == n.ID && m.ClientAddress == n.Addr {
					known++
				}
			}
		}
		if known == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client addresses not all published: %+v", st.Members)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A stream opened on a follower is redirected (LEADER_SWITCH) and works.
	q, err := client.NewQueueClient(follower.Addr, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := q.Enqueue(ctx, &client.InputItem{Value: []byte("x")})
	if err != nil || id == 0 {
		t.Fatalf("enqueue via follower: %d %v", id, err)
	}
}

// TestFailoverKillLeader kills -9 the leader while producers enqueue and consumers pull and
// commit. Every acknowledged enqueue must be delivered or still queued, no item committed
// (acknowledged) may be delivered again, and a new leader must serve.
func TestFailoverKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	failoverWorkload(t, 1, 150)
}

// failoverWorkload runs producers and consumers against a 3-node cluster while it kills the
// leader `rounds` times (restarting the killed node between rounds), then checks that no
// acknowledged enqueue was lost or duplicated and no committed item came back.
func failoverWorkload(t *testing.T, rounds, perProducer int, opts ...clustertest.Option) *clustertest.Cluster {
	c := clustertest.New(t, 3, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rounds)*90*time.Second)
	defer cancel()
	admin, err := client.NewAdminClient(c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateQueue(ctx, client.QueueConfig{Name: "jobs", Lease: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}

	const producers, consumers = 3, 3
	var mu sync.Mutex
	acked := map[string]uint64{}          // unique key → id acknowledged
	committedAt := map[uint64]time.Time{} // when each id's commit was acknowledged
	redelivered := []uint64{}             // committed ids seen again
	delivered := map[string]uint64{}      // unique key → id delivered
	idKey := map[uint64]string{}
	stopConsumers := make(chan struct{})
	var prodWG, consWG sync.WaitGroup
	killed := make(chan struct{}, rounds)

	for p := 0; p < producers; p++ {
		prodWG.Add(1)
		go func(p int) {
			defer prodWG.Done()
			q, err := client.NewQueueClient(c.Addrs(), "jobs")
			if err != nil {
				t.Error(err)
				return
			}
			defer q.Close()
			for i := 0; i < perProducer; i++ {
				key := fmt.Sprintf("p%d-%d", p, i)
				if p == 0 && (i+1)%(perProducer/(rounds+1)) == 0 && len(killed) < cap(killed) {
					killed <- struct{}{} // the leader goes down at even steps of the run
				}
				// Idempotent enqueue: an unknown outcome is retried with the same unique key.
				for {
					r, err := q.EnqueueWithResult(ctx, &client.InputItem{Value: []byte(key), UniqueKey: []byte(key)})
					if err == nil {
						mu.Lock()
						acked[key] = r.Id
						mu.Unlock()
						break
					}
					if ctx.Err() != nil {
						t.Errorf("enqueue %s: %v", key, err)
						return
					}
				}
			}
		}(p)
	}
	for w := 0; w < consumers; w++ {
		consWG.Add(1)
		go func() {
			defer consWG.Done()
			q, err := client.NewQueueClient(c.Addrs(), "jobs", client.WithPullTimeout(300*time.Millisecond))
			if err != nil {
				t.Error(err)
				return
			}
			defer q.Close()
			for {
				select {
				case <-stopConsumers:
					return
				default:
				}
				pullStart := time.Now()
				items, err := q.Pull(ctx, 8)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue
				}
				for _, it := range items {
					mu.Lock()
					// A pull that started after a commit was acknowledged must not return
					// that item. (An earlier pull may: its lease ran out before the commit.)
					if at, ok := committedAt[it.Id]; ok && pullStart.After(at) {
						redelivered = append(redelivered, it.Id)
					}
					delivered[string(it.Value)] = it.Id
					idKey[it.Id] = string(it.Value)
					mu.Unlock()
					if err := q.CommitSingle(ctx, it.Id); err == nil {
						mu.Lock()
						committedAt[it.Id] = time.Now()
						mu.Unlock()
					}
				}
			}
		}()
	}

	var down *clustertest.Node
	for r := 0; r < rounds; r++ {
		<-killed
		if down != nil {
			c.Restart(down) // the previous victim rejoins with its data
		}
		leader := c.WaitLeader(15 * time.Second)
		killedAt := time.Now()
		c.Kill(leader)
		down = leader
		newLeader := c.WaitLeader(5 * time.Second) // ten election timeouts
		t.Logf("round %d: new leader %s after %v", r+1, newLeader.ID, time.Since(killedAt))
	}

	prodWG.Wait()
	// Let consumers drain what is left, then stop them.
	drainDeadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		all := true
		for key := range acked {
			if _, ok := delivered[key]; !ok {
				all = false
				break
			}
		}
		mu.Unlock()
		if all || time.Now().After(drainDeadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stopConsumers)
	consWG.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) != producers*perProducer {
		t.Fatalf("%d enqueues acknowledged, want %d", len(acked), producers*perProducer)
	}
	for key, id := range acked {
		if got, ok := delivered[key]; !ok {
			t.Errorf("acknowledged item %s (id %d) was never delivered", key, id)
		} else if got != id {
			t.Errorf("item %s acknowledged as id %d but delivered as id %d (duplicate enqueue)", key, id, got)
		}
	}
	if len(redelivered) > 0 {
		t.Errorf("committed items delivered again: %v", redelivered)
	}
	return c
}

// TestFollowerRestartCatchesUp kills a follower, writes while it is down, restarts it and
// reads through it; with a low snapshot threshold the returning node needs a snapshot.
func TestFollowerRestartCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	followerRestartCatchesUp(t, true)
}

// followerRestartCatchesUp is TestFollowerRestartCatchesUp on a cluster started with the
// extra flags (wantSnapshot: the follower must catch up by snapshot); it returns the
// cluster and the follower that was killed and caught up.
func followerRestartCatchesUp(t *testing.T, wantSnapshot bool, flags ...string) (*clustertest.Cluster, *clustertest.Node) {
	c := clustertest.New(t, 3, clustertest.WithFlags(append([]string{"--snapshot-threshold", "32", "--trailing-logs", "16", "--snapshot-interval", "100ms"}, flags...)...))
	leader := c.WaitLeader(10 * time.Second)
	follower := c.Follower(leader)
	c.Kill(follower)
	for i := 0; i < 120; i++ {
		if code, body := httpDo(t, "POST", leader.URL()+"/v1/storages", fmt.Sprintf(`{"storageName":"s%03d"}`, i)); code != 200 {
			t.Fatalf("create %d: %d %s", i, code, body)
		}
	}
	c.Restart(follower)
	// The follower catches up: its applied index reaches the leader's commit index.
	lst, err := c.Status(leader)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(follower)
		if err == nil && st.AppliedIndex >= lst.CommitIndex && len(st.AppliedIndex) >= len(lst.CommitIndex) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower did not catch up: %+v vs leader commit %s (err %v)", st, lst.CommitIndex, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := httpDo(t, "GET", follower.URL()+"/v1/storages", "")
	if code != 200 || strings.Count(body, `"storageName"`) != 120 {
		t.Fatalf("storages through the restarted follower: %d, %d", code, strings.Count(body, `"storageName"`))
	}
	// The leader had truncated the entries the follower missed: it caught up by snapshot
	// (the line comes after the state is restored, once the old log is removed: awaited).
	if wantSnapshot {
		waitLog(t, follower.LogPath, "Installed remote snapshot", 20*time.Second)
	}
	return c, follower
}

// TestPausedLeaderStepsDown stops the leader past the election timeout: the others elect a
// new leader, writes continue, and once resumed the old leader serves no stale read and
// fencing tokens keep rising.
func TestPausedLeaderStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	old := c.WaitLeader(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code, body := httpDo(t, "POST", old.URL()+"/v1/storages", `{"storageName":"locks"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	first := lockToken(t, old.URL(), "k1")
	if code, body := httpDo(t, "POST", old.URL()+"/v1/queues", `{"queueName":"stall"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// A stream client enqueues throughout; its largest stall (time between two
	// acknowledgements) must be about an election, not the whole pause.
	meter := startStallMeter(t, ctx, c.Addrs(), "stall")

	pausedAt := time.Now()
	c.Pause(old)
	var others []*clustertest.Node
	for _, n := range c.Nodes {
		if n != old {
			others = append(others, n)
		}
	}
	// Wait for the two others to agree on a new leader.
	var newLeader *clustertest.Node
	deadline := time.Now().Add(15 * time.Second)
	for newLeader == nil {
		for _, n := range others {
			if st, err := c.Status(n); err == nil && st.State == "Leader" {
				newLeader = n
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader while the old one is stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	election := time.Since(pausedAt)
	second := lockToken(t, newLeader.URL(), "k2")
	if second <= first {
		t.Fatalf("token after failover %d not above %d", second, first)
	}
	if code, body := httpDo(t, "POST", newLeader.URL()+"/v1/storages", `{"storageName":"written-meanwhile"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// Keep the old leader stopped for a long pause, then measure the producer's stall.
	const pause = 9 * time.Second
	time.Sleep(time.Until(pausedAt.Add(pause)))
	stall, acks := meter.Longest()
	// Election timeout 500 ms: a generous bound of eight of them plus a second, far below
	// the pause.
	const bound = 8*500*time.Millisecond + time.Second
	t.Logf("new leader seen %v after the pause began; largest stream stall %v (pause %v, %d enqueues)", election, stall, pause, acks)
	if stall > bound {
		t.Fatalf("a stream client stalled %v while the leader was stopped (bound %v, new leader within %v)", stall, bound, election)
	}
	c.Resume(old)
	// The old leader steps down and its reads include what was written meanwhile.
	code, body := httpDo(t, "GET", old.URL()+"/v1/storages", "")
	if code != 200 || !strings.Contains(body, "written-meanwhile") {
		t.Fatalf("read through the resumed old leader: %d %s", code, body)
	}
	third := lockToken(t, old.URL(), "k3")
	if third <= second {
		t.Fatalf("token through the old leader %d not above %d", third, second)
	}
	_ = ctx
}

// lockToken sets key and locks it over REST, returning the fencing token.
func lockToken(t *testing.T, url, key string) uint64 {
	t.Helper()
	if code, body := httpDo(t, "PUT", url+"/v1/storages/locks/keys/"+key, `{"value":"dg=="}`); code != 200 {
		t.Fatalf("put %s: %d %s", key, code, body)
	}
	code, body := httpDo(t, "POST", url+"/v1/storages/locks/keys/"+key+":lock", `{"lockTtl":"30s"}`)
	if code != 200 {
		t.Fatalf("lock %s: %d %s", key, code, body)
	}
	i := strings.Index(body, `"lockToken":"`)
	if i < 0 {
		t.Fatalf("no token in %s", body)
	}
	var tok uint64
	fmt.Sscanf(body[i+len(`"lockToken":"`):], "%d", &tok)
	return tok
}

func TestAddAndRemoveMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// A producer writes through every membership change; idempotent retries (same unique
	// key) cover requests whose outcome was unknown.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stop := make(chan struct{})
	acked := make(chan int, 1)
	target := c.Addrs() // the three founders; n4 is reached through LEADER_SWITCH answers
	go func() {
		q, err := client.NewQueueClient(target, "jobs")
		if err != nil {
			t.Error(err)
			acked <- 0
			return
		}
		defer q.Close()
		n := 0
		for {
			key := fmt.Sprintf("k%d", n)
			if _, err := q.Enqueue(ctx, &client.InputItem{Value: []byte(key), UniqueKey: []byte(key)}); err == nil {
				n++
				// Stop only after a success: no attempt with an unknown outcome is left.
				select {
				case <-stop:
					acked <- n
					return
				default:
				}
			} else if ctx.Err() != nil {
				t.Errorf("enqueue %s: %v", key, err)
				acked <- n
				return
			}
		}
	}()
	// n4 joins as a learner and the leader promotes it once it has caught up.
	n4 := c.AddNode("n4")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(n4)
		if err == nil && len(st.Members) == 4 && st.LeaderID != "" && st.Suffrage("n4") == "Voter" {
			code, body := httpDo(t, "GET", n4.URL()+"/v1/queues", "")
			if code == 200 && strings.Contains(body, `"jobs"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("n4 did not join and get promoted: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Remove the leader itself: the others elect a new one and keep serving.
	if code, body := httpDo(t, "DELETE", n4.URL()+"/v1/cluster/members/"+leader.ID, ""); code != 200 {
		t.Fatalf("remove leader: %d %s", code, body)
	}
	c.Kill(leader)
	var rest []*clustertest.Node
	for _, n := range c.Nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	c.Nodes = rest
	nl := c.WaitLeader(15 * time.Second)
	st, err := c.Status(nl)
	if err != nil || len(st.Members) != 3 {
		t.Fatalf("members after removal: %+v %v", st, err)
	}
	if code, body := httpDo(t, "POST", n4.URL()+"/v1/queues", `{"queueName":"after"}`); code != 200 {
		t.Fatalf("write after removing the leader: %d %s", code, body)
	}
	close(stop)
	n := <-acked
	if n == 0 {
		t.Fatal("the producer got no enqueue through")
	}
	// Every acknowledged enqueue is in the queue, once.
	code, body := httpDo(t, "GET", n4.URL()+"/v1/queues/jobs", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"count":%d,`, n)) {
		t.Fatalf("after %d acknowledged enqueues: %d %s", n, code, body)
	}
}

// httpDo is servertest.HTTP with the JSON answer's spaces removed, for substring checks.
func httpDo(t *testing.T, method, url, body string) (int, string) {
	code, b := servertest.HTTP(t, method, url, body)
	return code, strings.ReplaceAll(b, " ", "")
}

// TestGracefulShutdown: SIGTERM ends the binary cleanly and promptly even with a client
// stream open (it is drained), and the node restarts from its data.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 1)
	n := c.Nodes[0]
	if code, body := httpDo(t, "POST", n.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	q, err := client.NewQueueClient(n.Addr, "jobs", client.WithPullTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := q.Enqueue(ctx, &client.InputItem{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// The node's --shutdown-grace is 2 s; a drained stream lets it exit well before that.
	start := time.Now()
	if !c.Stop(n, 10*time.Second) {
		t.Fatal("the node did not exit after SIGTERM")
	}
	if n.ExitCode != 0 {
		t.Fatalf("exit code %d after SIGTERM", n.ExitCode)
	}
	if took := time.Since(start); took >= 2*time.Second {
		t.Fatalf("shutdown took %v: the open stream was not drained", took)
	}
	c.Restart(n)
	c.WaitLeader(15 * time.Second)
	code, body := httpDo(t, "GET", n.URL()+"/v1/queues/jobs", "")
	if code != 200 || !strings.Contains(body, `"count":1`) {
		t.Fatalf("after restart: %d %s", code, body)
	}
}
