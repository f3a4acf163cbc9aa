package chaostest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
)

// lockKey is the key the lock workload fights over.
const lockKey = "lock"

// Grant is an acknowledged lock with the times around its request.
type Grant struct {
	Token      uint64
	Call, Ret  time.Time
	ReleasedAt time.Time // when its release was acknowledged (zero: not released)
}

// LockCheck records granted fencing tokens and checks them.
type LockCheck struct {
	r      *Report
	mu     sync.Mutex
	grants []*Grant
}

// NewLockCheck returns an empty lock record reporting to r.
func NewLockCheck(r *Report) *LockCheck { return &LockCheck{r: r} }

// Granted records an acknowledged lock.
func (l *LockCheck) Granted(token uint64, call, ret time.Time) *Grant {
	g := &Grant{Token: token, Call: call, Ret: ret}
	l.mu.Lock()
	l.grants = append(l.grants, g)
	l.mu.Unlock()
	return g
}

// Released records an acknowledged release of g.
func (l *LockCheck) Released(g *Grant) {
	l.mu.Lock()
	g.ReleasedAt = time.Now()
	l.mu.Unlock()
}

// Stale returns a token that was no longer current at `at` — its release was acknowledged
// before, or a lock with a higher token was granted (acknowledged) before — or 0.
func (l *LockCheck) Stale(at time.Time) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var newest uint64
	for _, g := range l.grants {
		if g.Ret.Before(at) && g.Token > newest {
			newest = g.Token
		}
	}
	for i := len(l.grants) - 1; i >= 0; i-- {
		g := l.grants[i]
		if (!g.ReleasedAt.IsZero() && g.ReleasedAt.Before(at)) || (g.Token < newest && g.Ret.Before(at)) {
			return g.Token
		}
	}
	return 0
}

// Finish checks that tokens are unique and rise with real time: a lock requested after
// another was granted carries a higher token.
func (l *LockCheck) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[uint64]bool{}
	for _, g := range l.grants {
		if seen[g.Token] {
			l.r.Violation("fencing token %d granted twice", g.Token)
		}
		seen[g.Token] = true
	}
	// Sorted by return time, the highest token returned so far must be below the token of
	// every lock requested afterwards.
	byRet := append([]*Grant(nil), l.grants...)
	sort.Slice(byRet, func(i, j int) bool { return byRet[i].Ret.Before(byRet[j].Ret) })
	for _, g := range l.grants {
		for _, earlier := range byRet {
			if !earlier.Ret.Before(g.Call) {
				break
			}
			if earlier.Token >= g.Token {
				l.r.Violation("fencing token %d granted after token %d had been (requested later, not higher)", g.Token, earlier.Token)
				break
			}
		}
	}
}

// Grants is the number of acknowledged locks.
func (l *LockCheck) Grants() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.grants)
}

// locker locks lockKey, writes through its token, and releases, until stop or maxOps.
func locker(ctx context.Context, target string, id int, l *LockCheck, r *Report, stop <-chan struct{}, maxOps int) {
	s, err := client.NewStorageClient(target, "locks")
	if err != nil {
		r.Violation("storage client: %v", err)
		return
	}
	defer s.Close()
	st := newStaller(r, fmt.Sprintf("locker%d", id))
	defer st.done() // a worker that stopped while stuck stalled until now
	for i := 0; i < maxOps; i++ {
		select {
		case <-stop:
			return
		default:
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		call := time.Now()
		var lk *client.Lock
		err := st.try(octx, "lock", func(ctx context.Context) (err error) {
			lk, err = s.LockKeyToken(ctx, []byte(lockKey), durationpb.New(3*time.Second), 2*time.Second)
			return err
		})
		r.Op("lock", err)
		if err == nil {
			g := l.Granted(lk.Token, call, time.Now())
			err = st.try(octx, "lock-set", func(ctx context.Context) error {
				_, err := s.SetKeyWithToken(ctx, []byte(lockKey), []byte(fmt.Sprint(lk.Token)), nil, false, lk.Token)
				return err
			})
			r.Op("lock-set", err)
			err = st.try(octx, "release", func(ctx context.Context) error { return s.Release(ctx, lk.ID, false, lk.Token) })
			r.Op("release", err)
			if err == nil {
				l.Released(g)
			}
		}
		cancel()
		if err == nil || errors.Is(err, client.ErrTimeout) || errors.Is(err, client.ErrItemBusy) {
			st.done() // the cluster answered
		} else {
			if ctx.Err() != nil {
				return
			}
			pause(ctx)
		}
	}
}

// staleProber writes lockKey with a token known to be stale; the server must refuse.
func staleProber(ctx context.Context, target string, l *LockCheck, r *Report, stop <-chan struct{}, maxOps int) {
	s, err := client.NewStorageClient(target, "locks")
	if err != nil {
		r.Violation("storage client: %v", err)
		return
	}
	defer s.Close()
	for i := 0; i < maxOps; i++ {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		tok := l.Stale(time.Now())
		if tok == 0 {
			continue
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := s.SetKeyWithToken(octx, []byte(lockKey), []byte("stale"), nil, false, tok)
		cancel()
		if err == nil {
			r.Violation("a write with stale fencing token %d was accepted", tok)
		}
		r.Op("stale-probe", nil)
	}
}

// restLocker is locker over REST, each request to a random node.
func restLocker(ctx context.Context, urls func() []string, id int, l *LockCheck, r *Report, stop <-chan struct{}, maxOps int) {
	st := newStaller(r, fmt.Sprintf("rest-locker%d", id))
	defer st.done()
	base := "/v1/storages/locks"
	for i := 0; i < maxOps; i++ {
		select {
		case <-stop:
			return
		default:
		}
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		call := time.Now()
		var out struct {
			Item struct {
				ID        string `json:"id"`
				LockToken string `json:"lockToken"`
			} `json:"item"`
		}
		err := st.try(octx, "lock", func(ctx context.Context) error {
			return rest(ctx, "POST", pick(urls())+base+"/keys/"+lockKey+":lock", map[string]any{"lockTtl": "3s", "timeout": "2s"}, &out)
		})
		var token uint64
		if err == nil {
			token, err = strconv.ParseUint(out.Item.LockToken, 10, 64)
		}
		r.Op("lock", err)
		if err == nil {
			g := l.Granted(token, call, time.Now())
			err = st.try(octx, "lock-set", func(ctx context.Context) error {
				return rest(ctx, "PUT", pick(urls())+base+"/keys/"+lockKey, map[string]any{"value": b64(fmt.Sprint(token)), "lockToken": out.Item.LockToken}, nil)
			})
			r.Op("lock-set", err)
			err = st.try(octx, "release", func(ctx context.Context) error {
				return rest(ctx, "POST", pick(urls())+base+":release", map[string]any{"id": out.Item.ID, "lockToken": out.Item.LockToken}, nil)
			})
			r.Op("release", err)
			if err == nil {
				l.Released(g)
			}
		}
		cancel()
		if code := statusOf(err); err == nil || code == 409 || code == 408 || code == 504 {
			st.done() // the cluster answered (busy or timed out waiting for the lock)
		} else {
			if ctx.Err() != nil {
				return
			}
			pause(ctx)
		}
	}
}
