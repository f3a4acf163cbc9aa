package queue

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// BenchmarkGauges is what one /metrics scrape costs per reported queue of size items whose
// lowest ids are leased: half of them, or the 4094 before the first waiting item in its id
// block (the most the walk in that block can pass).
func BenchmarkGauges(b *testing.B) {
	for _, size := range sizes(b) {
		for _, leased := range []int{size / 2, 1<<waitBlockShift - 2} {
			if leased >= size {
				continue
			}
			rng := rand.New(rand.NewSource(1))
			q := New(&pb.CreateQueueRequest{QueueName: "bench"})
			ids := &counter{}
			fill(b, q, ids, rng, leased)
			if n := len(q.Pull(t0, 1, leased)); n != leased {
				b.Fatalf("pulled %d of %d", n, leased)
			}
			for n := leased; n < size; n += 1000 {
				if _, _, err := q.Enqueue(t0+1, benchItems(rng, min(1000, size-n), true), ids); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("%d/leased=%d", size, leased), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if st := q.Gauges(); !st.OldestKnown || st.OldestWaiting != t0+1 {
						b.Fatalf("oldest waiting %d (known %v), want %d", st.OldestWaiting, st.OldestKnown, t0+1)
					}
				}
			})
		}
	}
}

// Gauges counts waiting items by priority, delayed and active ones, and finds the oldest
// waiting item's enqueue time.
func TestGauges(t *testing.T) {
	q := New(&pb.CreateQueueRequest{QueueName: "q", Priorities: 4})
	ids := &counter{}
	if _, _, err := q.Enqueue(t0, []*pb.InputItem{{Priority: 3}, {Priority: 1}}, ids); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Enqueue(t0+10, []*pb.InputItem{{Priority: 1}, {Priority: 2, Delay: durationpbSeconds(1)}}, ids); err != nil {
		t.Fatal(err)
	}
	if got := q.Pull(t0+20, 7, 1); len(got) != 1 || got[0].Item.GetPriority() != 3 {
		t.Fatalf("pull: %v", got)
	}
	st := q.Gauges()
	if fmt.Sprint(st.Waiting) != "[0 2 1 0]" || st.Delayed != 1 || st.Active != 1 || st.OldestWaiting != t0 || !st.OldestKnown {
		t.Fatalf("stats %+v, want waiting [0 2 1 0], 1 delayed, 1 active, oldest %d", st, t0)
	}
	if d, a := q.DelayedActive(); d != 1 || a != 1 {
		t.Fatalf("DelayedActive %d %d, want 1 1", d, a)
	}
	// The per-priority counts follow every transition: commit, requeue at another priority,
	// delete, the delayed item becoming visible, a ttl passing.
	id := st2id(t, q)
	if err := q.Commit(t0+30, id); err != nil {
		t.Fatal(err)
	}
	got := q.Pull(t0+40, 7, 1) // the older priority-1 item
	if _, err := q.Requeue(t0+50, &pb.RequeueItem{Id: got[0].Item.GetId(), Priority: ptr(uint32(3))}); err != nil {
		t.Fatal(err)
	}
	q.Advance(t0 + 10 + int64(2e9)) // the delayed item is visible now
	if _, _, err := q.Enqueue(t0+int64(2e9), []*pb.InputItem{{Priority: 0, Ttl: durationpbSeconds(1)}}, ids); err != nil {
		t.Fatal(err)
	}
	q.Advance(t0 + int64(4e9)) // and the ttl has passed
	st = q.Gauges()
	if fmt.Sprint(st.Waiting) != "[0 1 1 1]" || st.Delayed != 0 || st.Active != 0 {
		t.Fatalf("stats %+v, want waiting [0 1 1 1], none delayed or active", st)
	}
	want := [4]uint32{}
	q.items.Ascend(func(it *item) bool {
		if it.state == stReady || it.state == stDelayed {
			want[it.priority]++
		}
		return true
	})
	if fmt.Sprint(want[:]) != fmt.Sprint(st.Waiting) {
		t.Fatalf("counted %v by a pass over the items, Gauges says %v", want, st.Waiting)
	}
}

// st2id is the id of the queue's only active item.
func st2id(t *testing.T, q *Queue) uint64 {
	t.Helper()
	var id uint64
	q.items.Ascend(func(it *item) bool {
		if it.state == stActive {
			id = it.id
		}
		return id == 0
	})
	if id == 0 {
		t.Fatal("no active item")
	}
	return id
}

func ptr[T any](v T) *T { return &v }

// Dead-lettering and redrive (as the state does them: records moved with their ids and
// enqueue times between queues sharing one id counter) keep enqueue times in id order, so
// both queues find their oldest waiting item by id, also when it is one moved in.
func TestOldestAcrossDeadLetteringAndRedrive(t *testing.T) {
	ids := &counter{}
	src := New(&pb.CreateQueueRequest{QueueName: "src", MaxDeliveries: 1})
	dlq := New(&pb.CreateQueueRequest{QueueName: "dlq"})
	now := t0
	enqueue := func(q *Queue) uint64 {
		t.Helper()
		now += sec
		out, _, err := q.Enqueue(now, []*pb.InputItem{{Value: []byte("v")}}, ids)
		if err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	oldest := func(q *Queue, want int64) {
		t.Helper()
		if g := q.Gauges(); q.order.broken || !g.OldestKnown || g.OldestWaiting != want {
			t.Fatalf("%s: oldest waiting %d (known %v, order broken %v), want %d", q.cfg.QueueName, g.OldestWaiting, g.OldestKnown, q.order.broken, want)
		}
	}
	lease := func(q *Queue, want uint64) {
		t.Helper()
		now += sec
		if d := q.Pull(now, 1, 1); len(d) != 1 || d[0].Item.Id != want {
			t.Fatalf("%s: pulled %v, want item %d", q.cfg.QueueName, d, want)
		}
	}
	z := enqueue(src)     // t0+1s, stays leased
	a := enqueue(dlq)     // t0+2s, stays leased
	first := enqueue(src) // t0+3s: fails and is dead-lettered
	enqueue(dlq)          // t0+4s
	enqueue(src)          // t0+5s
	ids.n += 1 << waitBlockShift
	enqueue(dlq) // t0+6s, in a later id block
	lease(src, z)
	lease(dlq, a)
	oldest(dlq, t0+4*sec)
	lease(src, first)
	dead, err := src.Requeue(now, &pb.RequeueItem{Id: first})
	if err != nil || dead == nil {
		t.Fatalf("requeue at max deliveries: %v %v, want the item dead", dead, err)
	}
	dlq.AddDead(now, dead) // between a and the dead-letter queue's own later items
	oldest(dlq, t0+3*sec)
	oldest(src, t0+5*sec)
	rec := dlq.Get(first) // redrive: back between z and the source's later item
	if err := dlq.Delete(now, first); err != nil {
		t.Fatal(err)
	}
	rec.DeliveryCount = 0
	src.AddDead(now, rec)
	oldest(src, t0+3*sec)
	oldest(dlq, t0+4*sec)
}
