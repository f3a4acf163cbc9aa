package kv

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
)

// refModel is a deliberately simple reference implementation of the storage semantics:
// a map scanned and sorted on every call.
type refModel struct {
	keys map[string]*refEntry
	c    counters
}

type refEntry struct {
	id                   uint64
	value                string
	compressed           bool
	expiresAt, visibleAt int64
	locked               bool
	holder, token        uint64
	lockUntil            int64
}

func (m *refModel) sorted() []string {
	out := make([]string, 0, len(m.keys))
	for k := range m.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (m *refModel) advance(now int64) {
	for k, e := range m.keys {
		if e.expiresAt != 0 && e.expiresAt <= now {
			delete(m.keys, k)
			continue
		}
		if e.locked && e.lockUntil <= now {
			e.locked, e.holder, e.token, e.lockUntil = false, 0, 0, 0
		}
		if e.visibleAt != 0 && e.visibleAt <= now {
			e.visibleAt = 0
		}
	}
}

func (m *refModel) nextDeadline() int64 {
	var d int64
	consider := func(at int64) {
		if at != 0 && (d == 0 || at < d) {
			d = at
		}
	}
	for _, e := range m.keys {
		consider(e.expiresAt)
		consider(e.visibleAt)
		if e.locked {
			consider(e.lockUntil)
		}
	}
	return d
}

func (m *refModel) counts() (uint32, uint32) {
	var l uint32
	for _, e := range m.keys {
		if e.locked {
			l++
		}
	}
	return uint32(len(m.keys)), l
}

func validKey(k []byte) bool { return len(k) >= 1 && len(k) <= MaxKeyLen }

func (m *refModel) holderOK(e *refEntry, session, token uint64) bool {
	if token != 0 {
		return e.locked && e.token == token
	}
	return !e.locked || (session != 0 && session == e.holder)
}

func (m *refModel) set(now int64, session uint64, key string, value string, ttl, delay time.Duration, tok uint64, comp bool) (uint64, pb.StatusCode) {
	if !validKey([]byte(key)) || ttl < 0 || delay < 0 {
		return 0, stInvalid
	}
	m.advance(now)
	var exp, vis int64
	if ttl > 0 {
		exp = now + int64(ttl)
	}
	if delay > 0 {
		vis = now + int64(delay)
	}
	e, ok := m.keys[key]
	if !ok {
		if tok != 0 {
			return 0, stBusy
		}
		e = &refEntry{id: m.c.NextID()}
		m.keys[key] = e
	} else if !m.holderOK(e, session, tok) {
		return 0, stBusy
	}
	e.value, e.compressed, e.expiresAt, e.visibleAt = value, comp, exp, vis
	return e.id, stOK
}

func (m *refModel) del(now int64, session uint64, key string, tok uint64) pb.StatusCode {
	if !validKey([]byte(key)) {
		return stInvalid
	}
	m.advance(now)
	e, ok := m.keys[key]
	if !ok {
		return stNotFound
	}
	if !m.holderOK(e, session, tok) {
		return stBusy
	}
	delete(m.keys, key)
	return stOK
}

func (m *refModel) grant(e *refEntry, now int64, session uint64, ttl time.Duration) {
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	e.locked, e.holder, e.token, e.lockUntil = true, session, m.c.NextToken(), now+int64(ttl)
}

func (m *refModel) lock(now int64, session uint64, key string, ttl time.Duration) (uint64, uint64, pb.StatusCode) {
	if !validKey([]byte(key)) {
		return 0, 0, stInvalid
	}
	m.advance(now)
	e, ok := m.keys[key]
	if !ok {
		return 0, 0, stNotFound
	}
	if e.locked {
		return 0, 0, stBusy
	}
	m.grant(e, now, session, ttl)
	return e.id, e.token, stOK
}

func (m *refModel) lockAny(now int64, session uint64, prefix string, ttl time.Duration) (string, uint64, bool) {
	m.advance(now)
	for _, k := range m.sorted() {
		e := m.keys[k]
		if strings.HasPrefix(k, prefix) && !e.locked && e.visibleAt == 0 {
			m.grant(e, now, session, ttl)
			return k, e.token, true
		}
	}
	return "", 0, false
}

func (m *refModel) release(now int64, session, id uint64, del bool, tok uint64) pb.StatusCode {
	m.advance(now)
	for k, e := range m.keys {
		if e.id != id {
			continue
		}
		switch {
		case !e.locked:
			return stNotBusy
		case !m.holderOK(e, session, tok):
			return stBusy
		case del:
			delete(m.keys, k)
		default:
			e.locked, e.holder, e.token, e.lockUntil = false, 0, 0, 0
		}
		return stOK
	}
	return stNotFound
}

func (m *refModel) view(now int64, key string, e *refEntry) Entry {
	out := Entry{ID: e.id, Key: []byte(key), Value: []byte(e.value), Compressed: e.compressed}
	if e.locked && e.lockUntil > now {
		out.Locked, out.LockToken = true, e.token
	}
	return out
}

func (m *refModel) get(now int64, key string) (Entry, pb.StatusCode) {
	if !validKey([]byte(key)) {
		return Entry{}, stInvalid
	}
	e, ok := m.keys[key]
	if !ok || (e.expiresAt != 0 && e.expiresAt <= now) {
		return Entry{}, stNotFound
	}
	return m.view(now, key, e), stOK
}

func (m *refModel) getByIDs(now int64, ids []uint64) []Entry {
	var out []Entry
	for _, id := range ids {
		for _, k := range m.sorted() {
			if e := m.keys[k]; e.id == id && (e.expiresAt == 0 || e.expiresAt > now) {
				out = append(out, m.view(now, k, e))
			}
		}
	}
	return out
}

func (m *refModel) list(now int64, after *string, prefix string, limit int, active bool) ([]string, bool) {
	var all []string
	for _, k := range m.sorted() {
		e := m.keys[k]
		if !strings.HasPrefix(k, prefix) || (after != nil && k <= *after) ||
			(e.expiresAt != 0 && e.expiresAt <= now) || (!active && e.locked && e.lockUntil > now) {
			continue
		}
		all = append(all, k)
	}
	if len(all) > max(limit, 0) {
		return all[:max(limit, 0)], true
	}
	return all, false
}

func sameEntry(a, b Entry) bool {
	return a.ID == b.ID && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		a.Compressed == b.Compressed && a.Locked == b.Locked && a.LockToken == b.LockToken
}

func TestModel(t *testing.T) {
	seeds := 8
	steps := 10000
	if testing.Short() {
		seeds, steps = 2, 2000
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, steps) })
	}
}

func runModel(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	s, c := New("m"), &counters{}
	m := &refModel{keys: map[string]*refEntry{}}
	keys := []string{"", "a", "a/1", "a/2", "a/10", "a/x/1", "a/x/2", "b", "b/1", "b/2", "b/3", "ba", "c", "job/1", "job/2", "job/3", "job/4"}
	prefixes := []string{"", "a", "a/", "a/x", "b/", "job/", "zz", "a/1"}
	dur := func(maxSec int) time.Duration {
		// Mostly whole and half seconds so that deadlines often coincide.
		return time.Duration(rng.Intn(2*maxSec+1)) * time.Second / 2
	}
	now := t0
	var tokens []uint64                     // every token granted
	var ids []uint64                        // every id seen
	live := func(locked bool) []*refEntry { // the model's keys, in key order
		var out []*refEntry
		for _, k := range m.sorted() {
			if e := m.keys[k]; !locked || e.locked {
				out = append(out, e)
			}
		}
		return out
	}
	pickToken := func() uint64 {
		switch r := rng.Intn(10); {
		case r < 5 || len(tokens) == 0:
			return 0
		case r < 8:
			if l := live(true); len(l) > 0 {
				return l[rng.Intn(len(l))].token
			}
			return 0
		case r < 9:
			return tokens[rng.Intn(len(tokens))]
		default:
			return tokens[len(tokens)-1] + 1000 // never granted
		}
	}
	pickID := func() uint64 {
		switch r := rng.Intn(10); {
		case r < 6:
			if l := live(rng.Intn(2) == 0); len(l) > 0 {
				return l[rng.Intn(len(l))].id
			}
			return 0
		case r < 9 && len(ids) > 0:
			return ids[rng.Intn(len(ids))]
		default:
			return uint64(rng.Intn(100))
		}
	}
	lastToken := uint64(0)
	tally := map[string]int{}
	defer func() { t.Logf("outcomes: %v", tally) }()
	type frozenAt struct {
		step int
		f    *Frozen
		want []*raftpb.KeyState
	}
	var frozen []frozenAt
	for step := 0; step < steps; step++ {
		if rng.Intn(6) == 0 {
			now += int64(dur(2))
		}
		if rng.Intn(2) == 0 {
			s.Advance(now)
			m.advance(now)
			cs, ls := s.Counts()
			cm, lm := m.counts()
			if cs != cm || ls != lm {
				t.Fatalf("step %d: Counts %d/%d, model %d/%d", step, cs, ls, cm, lm)
			}
			if a, b := s.NextDeadline(), m.nextDeadline(); a != b {
				t.Fatalf("step %d: NextDeadline %d, model %d", step, a-t0, b-t0)
			}
		}
		session := uint64(rng.Intn(4))
		key := keys[rng.Intn(len(keys))]
		readNow := now + int64(dur(2)) // a reader may be ahead of the last Advance
		switch op := rng.Intn(100); {
		case op < 25:
			req := setReq(key, fmt.Sprint("v", step))
			var ttlD, delayD time.Duration
			if rng.Intn(2) == 0 {
				ttlD = dur(20)
				if rng.Intn(20) == 0 {
					ttlD = -time.Second
				}
				req.Ttl = durationpbNew(ttlD)
			}
			if rng.Intn(3) == 0 {
				delayD = dur(4)
				req.Delay = durationpbNew(delayD)
			}
			req.Compress = rng.Intn(2) == 0
			req.LockToken = pickToken()
			id, err := s.Set(now, session, req, c)
			mid, mst := m.set(now, session, key, string(req.Value), ttlD, delayD, req.LockToken, req.Compress)
			tally[fmt.Sprint("set ", mst)]++
			if status(err) != mst || id != mid {
				t.Fatalf("step %d: Set(%q, s%d, tok %d) = %d %v, model %d %v", step, key, session, req.LockToken, id, err, mid, mst)
			}
			if err == nil {
				ids = append(ids, id)
			}
		case op < 35:
			tok := pickToken()
			err := s.Delete(now, session, []byte(key), tok)
			mst := m.del(now, session, key, tok)
			tally[fmt.Sprint("delete ", mst)]++
			if status(err) != mst {
				t.Fatalf("step %d: Delete(%q, s%d, tok %d) = %v, model %v", step, key, session, tok, err, mst)
			}
		case op < 47:
			d := dur(5)
			e, err := s.Lock(now, session, []byte(key), d, c)
			id, tok, mst := m.lock(now, session, key, d)
			tally[fmt.Sprint("lock ", mst)]++
			if status(err) != mst || e.ID != id || e.LockToken != tok || (err == nil && !e.Locked) {
				t.Fatalf("step %d: Lock(%q) = %+v %v, model %d %d %v", step, key, e, err, id, tok, mst)
			}
			if err == nil {
				if tok <= lastToken {
					t.Fatalf("token %d after %d", tok, lastToken)
				}
				lastToken = tok
				tokens = append(tokens, tok)
			}
		case op < 62:
			prefix := prefixes[rng.Intn(len(prefixes))]
			d := dur(5)
			e, ok := s.LockAny(now, session, []byte(prefix), d, c)
			k, tok, mok := m.lockAny(now, session, prefix, d)
			tally[fmt.Sprint("lockany ", mok)]++
			if ok != mok || string(e.Key) != k || e.LockToken != tok {
				t.Fatalf("step %d: LockAny(%q) = %q %d %v, model %q %d %v", step, prefix, e.Key, e.LockToken, ok, k, tok, mok)
			}
			if ok {
				if tok <= lastToken {
					t.Fatalf("token %d after %d", tok, lastToken)
				}
				lastToken = tok
				tokens = append(tokens, tok)
			}
		case op < 75:
			id, del, tok := pickID(), rng.Intn(3) == 0, pickToken()
			err := s.Release(now, session, id, del, tok)
			mst := m.release(now, session, id, del, tok)
			tally[fmt.Sprint("release ", mst)]++
			if status(err) != mst {
				t.Fatalf("step %d: Release(%d, s%d, %v, %d) = %v, model %v", step, id, session, del, tok, err, mst)
			}
		case op < 83:
			e, err := s.Get(readNow, []byte(key))
			me, mst := m.get(readNow, key)
			if status(err) != mst || (err == nil && !sameEntry(e, me)) {
				t.Fatalf("step %d: Get(%q) = %+v %v, model %+v %v", step, key, e, err, me, mst)
			}
		case op < 87:
			q := make([]uint64, rng.Intn(5))
			for i := range q {
				q[i] = pickID()
			}
			got, want := s.GetByIDs(readNow, q), m.getByIDs(readNow, q)
			if !slices.EqualFunc(got, want, sameEntry) {
				t.Fatalf("step %d: GetByIDs(%v) = %+v, model %+v", step, q, got, want)
			}
		case op < 97:
			prefix := prefixes[rng.Intn(len(prefixes))]
			var after []byte
			var mafter *string
			if rng.Intn(2) == 0 {
				a := keys[rng.Intn(len(keys))]
				after, mafter = []byte(a), &a
			}
			limit := rng.Intn(6)
			active := rng.Intn(2) == 0
			got, more := s.Keys(readNow, after, []byte(prefix), limit, active)
			want, mmore := m.list(readNow, mafter, prefix, limit, active)
			tally[fmt.Sprint("keys n=", len(want), " more=", mmore)]++
			gs := make([]string, len(got))
			for i, k := range got {
				gs[i] = string(k)
			}
			if more != mmore || !slices.Equal(gs, want) {
				t.Fatalf("step %d: Keys(after %q, %q, %d, %v) = %q %v, model %q %v", step, after, prefix, limit, active, gs, more, want, mmore)
			}
		default:
			// Swap in a restored copy: everything must behave the same afterwards.
			s = restored(t, s)
		}
		// Frozen views keep what the storage held when frozen, whatever happened since.
		if step%31 == 0 {
			frozen = append(frozen, frozenAt{step, s.Freeze(), keyRecords(t, s.Snapshot)})
		}
		if step%31 == 30 || step == steps-1 {
			for _, f := range frozen {
				got := keyRecords(t, f.f.Snapshot)
				if !slices.EqualFunc(got, f.want, func(a, b *raftpb.KeyState) bool { return proto.Equal(a, b) }) {
					t.Fatalf("step %d: the view frozen at step %d changed: %v, frozen %v", step, f.step, got, f.want)
				}
			}
			frozen = frozen[:0]
		}
	}
}

// keyRecords collects what snapshot emits, each record a deep copy.
func keyRecords(t *testing.T, snapshot func(func(*raftpb.KeyState) error) error) []*raftpb.KeyState {
	t.Helper()
	var out []*raftpb.KeyState
	if err := snapshot(func(k *raftpb.KeyState) error {
		out = append(out, proto.Clone(k).(*raftpb.KeyState))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func durationpbNew(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
