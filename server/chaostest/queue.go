package chaostest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/clbs-io/octopusmq/client"
)

// QueueCheck records the queue workload: enqueue attempts and acknowledgements, deliveries
// and commits, and checks the queue's guarantees.
type QueueCheck struct {
	r  *Report
	mu sync.Mutex
	// attempts counts each key's enqueue attempts that did not fail for sure (acknowledged
	// or unknown outcome): a unique key dedups only while its item is queued, so a retry
	// after its first item was consumed legitimately adds one more.
	attempts    map[string]int
	acked       map[string]uint64 // key → last acknowledged id
	delivered   map[uint64]string // id → key (the value)
	committedAt map[uint64]time.Time
	commits     map[uint64]int             // acknowledged commits per id
	keyCommits  map[string]map[uint64]bool // ids committed per key
}

// NewQueueCheck returns an empty queue record reporting to r.
func NewQueueCheck(r *Report) *QueueCheck {
	return &QueueCheck{r: r, attempts: map[string]int{}, acked: map[string]uint64{}, delivered: map[uint64]string{},
		committedAt: map[uint64]time.Time{}, commits: map[uint64]int{}, keyCommits: map[string]map[uint64]bool{}}
}

// Attempt records an enqueue attempt of key with its outcome (err == nil: acknowledged as id).
func (q *QueueCheck) Attempt(key string, id uint64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attempts[key]++
	if err == nil {
		q.acked[key] = id
	}
}

// Delivered records that a pull started at pullStart returned item id with value key.
func (q *QueueCheck) Delivered(id uint64, key string, pullStart time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	// A pull that started after a commit was acknowledged must not return that item (an
	// earlier pull may: its lease ran out before the commit).
	if at, ok := q.committedAt[id]; ok && pullStart.After(at) {
		q.r.Violation("item %d (%s) delivered again %v after its commit was acknowledged", id, key, pullStart.Sub(at))
	}
	if prev, ok := q.delivered[id]; ok && prev != key {
		q.r.Violation("item %d delivered as %q and as %q", id, prev, key)
	}
	q.delivered[id] = key
}

// Committed records an acknowledged commit of id.
func (q *QueueCheck) Committed(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.commits[id]++
	if q.commits[id] == 2 {
		q.r.Violation("item %d committed twice (both commits acknowledged)", id)
	}
	if _, ok := q.committedAt[id]; !ok {
		q.committedAt[id] = time.Now()
	}
	key := q.delivered[id]
	if q.keyCommits[key] == nil {
		q.keyCommits[key] = map[uint64]bool{}
	}
	q.keyCommits[key][id] = true
}

// Missing lists acknowledged enqueues whose item was not delivered yet.
func (q *QueueCheck) Missing() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for key, id := range q.acked {
		if _, ok := q.delivered[id]; !ok {
			out = append(out, fmt.Sprintf("%s (id %d)", key, id))
		}
	}
	return out
}

// Acked is the number of acknowledged enqueues.
func (q *QueueCheck) Acked() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.acked)
}

// Finish checks what can only be checked at the end: acknowledged enqueues that were never
// delivered are lost, and a key committed more often than it was (maybe) enqueued was
// committed twice.
func (q *QueueCheck) Finish() {
	for _, m := range q.Missing() {
		q.r.Violation("acknowledged enqueue %s lost: never delivered", m)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for key, ids := range q.keyCommits {
		if len(ids) > q.attempts[key] {
			q.r.Violation("key %s committed as %d items but enqueued at most %d times", key, len(ids), q.attempts[key])
		}
	}
}

// streamProducer enqueues name-0, name-1, ... through a Go stream client, retrying an
// unknown outcome with the same unique key, until stop is closed (after a success) or the
// hard deadline of ctx.
func streamProducer(ctx context.Context, target string, name string, q *QueueCheck, r *Report, stop <-chan struct{}, maxOps int) {
	qc, err := client.NewQueueClient(target, "jobs")
	if err != nil {
		r.Violation("queue client: %v", err)
		return
	}
	defer qc.Close()
	produce(ctx, name, q, r, stop, maxOps, func(ctx context.Context, key string) (uint64, error) {
		res, err := qc.EnqueueWithResult(ctx, &client.InputItem{Value: []byte(key), UniqueKey: []byte(key)})
		return res.Id, err
	})
}

// restProducer is streamProducer over REST, each request to a random node.
func restProducer(ctx context.Context, urls func() []string, name string, q *QueueCheck, r *Report, stop <-chan struct{}, maxOps int) {
	produce(ctx, name, q, r, stop, maxOps, func(ctx context.Context, key string) (uint64, error) {
		u := pick(urls())
		var out struct {
			IDs []string `json:"ids"`
		}
		body := map[string]any{"items": []map[string]any{{"value": b64(key), "uniqueKey": b64(key)}}}
		if err := rest(ctx, "POST", u+"/v1/queues/jobs/items", body, &out); err != nil {
			return 0, err
		}
		if len(out.IDs) != 1 {
			return 0, fmt.Errorf("enqueue answered %d ids", len(out.IDs))
		}
		return strconv.ParseUint(out.IDs[0], 10, 64)
	})
}

func produce(ctx context.Context, name string, q *QueueCheck, r *Report, stop <-chan struct{}, maxOps int,
	enqueue func(context.Context, string) (uint64, error)) {
	st := newStaller(r, name)
	defer st.done() // a worker that stopped while stuck stalled until now
	for i := 0; i < maxOps; i++ {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("%s-%d", name, i)
		for {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			var id uint64
			err := st.try(octx, "enqueue", func(ctx context.Context) (err error) { id, err = enqueue(ctx, key); return err })
			cancel()
			q.Attempt(key, id, err)
			r.Op("enqueue", err)
			if err == nil {
				st.done()
				break
			}
			if ctx.Err() != nil {
				return
			}
			pause(ctx)
		}
	}
}

// streamConsumer pulls and commits through a Go stream client until stop is closed.
func streamConsumer(ctx context.Context, target, name string, q *QueueCheck, r *Report, stop <-chan struct{}) {
	qc, err := client.NewQueueClient(target, "jobs", client.WithPullTimeout(300*time.Millisecond))
	if err != nil {
		r.Violation("queue client: %v", err)
		return
	}
	defer qc.Close()
	consume(ctx, name, r, stop, func(ctx context.Context) error {
		start := time.Now()
		items, err := qc.Pull(ctx, 8)
		if err != nil {
			return err
		}
		for _, it := range items {
			q.Delivered(it.Id, string(it.Value), start)
			err := qc.CommitSingle(ctx, it.Id)
			r.Op("commit", err)
			if err == nil {
				q.Committed(it.Id)
			}
		}
		return nil
	})
}

// restConsumer pulls and commits over REST, each request to a random node.
func restConsumer(ctx context.Context, urls func() []string, name string, q *QueueCheck, r *Report, stop <-chan struct{}) {
	consume(ctx, name, r, stop, func(ctx context.Context) error {
		start := time.Now()
		var out struct {
			Items []struct {
				ID    string `json:"id"`
				Value string `json:"value"`
			} `json:"items"`
		}
		if err := rest(ctx, "POST", pick(urls())+"/v1/queues/jobs/items:pull", map[string]any{"batchSize": 8, "timeout": "0.3s"}, &out); err != nil {
			return err
		}
		for _, it := range out.Items {
			id, err := strconv.ParseUint(it.ID, 10, 64)
			if err != nil {
				return err
			}
			q.Delivered(id, unb64(it.Value), start)
			var c struct {
				Count int `json:"count"`
			}
			err = rest(ctx, "POST", pick(urls())+"/v1/queues/jobs/items:commit", map[string]any{"ids": []string{it.ID}}, &c)
			if err == nil && c.Count != 1 {
				err = fmt.Errorf("commit of %d: count %d", id, c.Count)
			}
			r.Op("commit", err)
			if err == nil {
				q.Committed(id)
			}
		}
		return nil
	})
}

func consume(ctx context.Context, name string, r *Report, stop <-chan struct{}, pullAndCommit func(context.Context) error) {
	st := newStaller(r, name)
	defer st.done() // a worker that stopped while stuck stalled until now
	for {
		select {
		case <-stop:
			return
		default:
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		err := st.try(octx, "pull+commit", pullAndCommit)
		cancel()
		r.Op("pull", err)
		if err == nil {
			st.done()
		} else {
			if ctx.Err() != nil {
				return
			}
			pause(ctx)
		}
	}
}

// opTimeout bounds every client operation.
const opTimeout = 10 * time.Second

// pause waits a little after a failed operation (so a down cluster is not hammered).
func pause(ctx context.Context) {
	t := time.NewTimer(time.Duration(50+rand.IntN(100)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func pick(s []string) string { return s[rand.IntN(len(s))] }
