package clustertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/clustertest"
)

// groupTracker checks, across consumers, that a key group is held by one consumer at a
// time and that every item is committed exactly once.
type groupTracker struct {
	t         *testing.T
	mu        sync.Mutex
	holder    map[string]string // group → consumer holding items of it
	held      map[string]int    // group → items that consumer holds
	committed map[uint64]int
	by        map[string]int // commits by consumer
	total     int
	done      chan struct{}
}

func (g *groupTracker) pulled(who string, id uint64, group string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.committed[id] > 0 {
		g.t.Errorf("%s: item %d delivered after its commit was acknowledged", who, id)
	}
	if h, ok := g.holder[group]; ok && h != who {
		g.t.Errorf("%s got an item of group %s while %s holds the group", who, group, h)
	}
	g.holder[group] = who
	g.held[group]++
}

// releasing is called before the commit is sent: the group may move once it applies.
func (g *groupTracker) releasing(group string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[group]--; g.held[group] == 0 {
		delete(g.holder, group)
		delete(g.held, group)
	}
}

func (g *groupTracker) committedOK(who string, id uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.by[who]++
	if g.committed[id]++; g.committed[id] > 1 {
		g.t.Errorf("%s: item %d committed twice", who, id)
	}
	if len(g.committed) == g.total {
		select {
		case <-g.done:
		default:
			close(g.done)
		}
	}
}

// TestRelayMixedConsumers: consumers relayed through followers (raw stubs) and direct ones
// (the Go client, which goes to the leader) share one queue of keyed items: each item is
// committed exactly once and a key group is never held by two consumers at once.
func TestRelayMixedConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const groups, perGroup = 8, 25
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	if code, b := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"mixed","lease":"60s"}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	producer, err := client.NewQueueClient(c.Addrs(), "mixed")
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := range perGroup {
		var batch []*client.InputItem
		for g := range groups {
			batch = append(batch, &client.InputItem{Key: fmt.Appendf(nil, "g%d", g), Value: fmt.Appendf(nil, "g%d-%d", g, i)})
		}
		if _, err := producer.BatchEnqueue(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	tr := &groupTracker{t: t, holder: map[string]string{}, held: map[string]int{}, committed: map[uint64]int{}, by: map[string]int{},
		total: groups * perGroup, done: make(chan struct{})}
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		if n == leader {
			continue
		}
		who := fmt.Sprintf("relayed@%s", n.ID)
		st := openQueueStream(t, ctx, n.Addr)
		wantOK(t, who+" setup", qCall(t, st, queueSetup(0, "mixed")).GetStatus())
		wg.Add(1)
		go func() {
			defer wg.Done()
			corr := uint64(1000 * i)
			for {
				select {
				case <-tr.done:
					return
				default:
				}
				corr++
				if err := st.Send(pullReq(corr, 4, 200*time.Millisecond)); err != nil {
					t.Errorf("%s: %v", who, err)
					return
				}
				resp, err := st.Recv()
				if err != nil {
					t.Errorf("%s: %v", who, err)
					return
				}
				for _, it := range resp.GetPull().GetItems() {
					tr.pulled(who, it.GetId(), string(it.GetKey()))
					time.Sleep(time.Millisecond) // some work
					tr.releasing(string(it.GetKey()))
					corr++
					if err := st.Send(commitReq(corr, it.GetId())); err != nil {
						t.Errorf("%s: %v", who, err)
						return
					}
					r, err := st.Recv()
					if err != nil {
						t.Errorf("%s: %v", who, err)
						return
					}
					if r.GetCommitSingle().GetCommitted() {
						tr.committedOK(who, it.GetId())
					} else if r.GetStatus().GetCode() != pb.StatusCode_STATUS_CODE_OK {
						t.Errorf("%s: commit %d: %v", who, it.GetId(), r)
					}
				}
			}
		}()
	}
	for i := range 2 {
		who := fmt.Sprintf("direct%d", i)
		qc, err := client.NewQueueClient(c.Addrs(), "mixed", client.WithPullTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer qc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-tr.done:
					return
				default:
				}
				items, err := qc.Pull(ctx, 4)
				if err != nil {
					t.Errorf("%s: %v", who, err)
					return
				}
				for _, it := range items {
					tr.pulled(who, it.Id, string(it.Key))
					time.Sleep(time.Millisecond)
					tr.releasing(string(it.Key))
					if err := qc.CommitSingle(ctx, it.Id); err != nil {
						t.Errorf("%s: commit %d: %v", who, it.Id, err)
						continue
					}
					tr.committedOK(who, it.Id)
				}
			}
		}()
	}
	select {
	case <-tr.done:
	case <-ctx.Done():
		t.Errorf("only %d of %d items committed", len(tr.committed), tr.total)
	}
	wg.Wait()
	relayed, direct := 0, 0
	for who, n := range tr.by {
		if who[0] == 'r' {
			relayed += n
		} else {
			direct += n
		}
	}
	t.Logf("commits by consumer: %v", tr.by)
	if relayed == 0 || direct == 0 {
		t.Fatalf("relayed consumers committed %d, direct ones %d: both kinds must take part", relayed, direct)
	}
}
