package kv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
)

// counters is a test Counters like the state's.
type counters struct{ id, tok uint64 }

func (c *counters) NextID() uint64    { c.id++; return c.id }
func (c *counters) NextToken() uint64 { c.tok++; return c.tok }

const (
	t0  = int64(1_700_000_000_000_000_000)
	sec = int64(time.Second)
)

const (
	stBusy     = pb.StatusCode_STATUS_CODE_ITEM_BUSY
	stNotBusy  = pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY
	stNotFound = pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND
	stInvalid  = pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT
	stOK       = pb.StatusCode_STATUS_CODE_OK
)

type setOpt func(*pb.StorageSetRequest)

func ttl(d time.Duration) setOpt { return func(r *pb.StorageSetRequest) { r.Ttl = durationpb.New(d) } }
func delay(d time.Duration) setOpt {
	return func(r *pb.StorageSetRequest) { r.Delay = durationpb.New(d) }
}
func token(t uint64) setOpt { return func(r *pb.StorageSetRequest) { r.LockToken = t } }
func compress() setOpt      { return func(r *pb.StorageSetRequest) { r.Compress = true } }

func setReq(key, value string, opts ...setOpt) *pb.StorageSetRequest {
	r := &pb.StorageSetRequest{Key: []byte(key), Value: []byte(value)}
	for _, o := range opts {
		o(r)
	}
	return r
}

func status(err *apierr.Error) pb.StatusCode {
	if err == nil {
		return stOK
	}
	return err.Status
}

func wantStatus(t *testing.T, err *apierr.Error, want pb.StatusCode, what string) {
	t.Helper()
	if got := status(err); got != want {
		t.Fatalf("%s: status %v (%v), want %v", what, got, err, want)
	}
}

// mustSet sets and returns the id, failing the test on error.
func mustSet(t *testing.T, s *Storage, now int64, session uint64, c Counters, key, value string, opts ...setOpt) uint64 {
	t.Helper()
	id, err := s.Set(now, session, setReq(key, value, opts...), c)
	if err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
	return id
}

func mustLock(t *testing.T, s *Storage, now int64, session uint64, key string, d time.Duration, c Counters) Entry {
	t.Helper()
	e, err := s.Lock(now, session, []byte(key), d, c)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	return e
}

func wantCounts(t *testing.T, s *Storage, count, locked uint32) {
	t.Helper()
	if c, l := s.Counts(); c != count || l != locked {
		t.Fatalf("Counts = %d, %d; want %d, %d", c, l, count, locked)
	}
}

func TestIDs(t *testing.T) {
	s, c := New("s"), &counters{}
	a := mustSet(t, s, t0, 1, c, "a", "1")
	b := mustSet(t, s, t0, 1, c, "b", "1")
	if a == b {
		t.Fatal("two keys share an id")
	}
	if got := mustSet(t, s, t0+1, 2, c, "a", "2", ttl(time.Hour)); got != a {
		t.Fatalf("update changed the id: %d → %d", a, got)
	}
	e, err := s.Get(t0+1, []byte("a"))
	if err != nil || e.ID != a || string(e.Value) != "2" || string(e.Key) != "a" {
		t.Fatalf("Get = %+v, %v", e, err)
	}
	if err := s.Delete(t0+2, 1, []byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	a2 := mustSet(t, s, t0+3, 1, c, "a", "3", ttl(time.Second))
	if a2 == a || a2 <= b {
		t.Fatalf("re-created key got id %d (old %d, last %d)", a2, a, b)
	}
	// Expired and re-created: a new id too.
	s.Advance(t0 + 3 + sec)
	a3 := mustSet(t, s, t0+3+sec, 1, c, "a", "4")
	if a3 == a2 {
		t.Fatal("expired and re-created key kept its id")
	}
	if got := s.GetByIDs(t0+3+sec, []uint64{a, a2, a3, b}); len(got) != 2 || got[0].ID != a3 || got[1].ID != b {
		t.Fatalf("GetByIDs = %+v", got)
	}
}

func TestTTL(t *testing.T) {
	s, c := New("s"), &counters{}
	id := mustSet(t, s, t0, 0, c, "k", "v", ttl(10*time.Second))
	mustSet(t, s, t0, 0, c, "forever", "v")
	if got := s.NextDeadline(); got != t0+10*sec {
		t.Fatalf("NextDeadline = %d", got)
	}
	if _, err := s.Get(t0+10*sec-1, []byte("k")); err != nil {
		t.Fatalf("Get before ttl: %v", err)
	}
	// Past the ttl, before Advance: absent for every read.
	now := t0 + 10*sec
	_, err := s.Get(now, []byte("k"))
	wantStatus(t, err, stNotFound, "Get at ttl")
	if got := s.GetByIDs(now, []uint64{id}); len(got) != 0 {
		t.Fatalf("GetByIDs = %+v", got)
	}
	for _, active := range []bool{false, true} {
		if keys, more := s.Keys(now, nil, nil, 10, active); len(keys) != 1 || string(keys[0]) != "forever" || more {
			t.Fatalf("Keys = %q %v", keys, more)
		}
	}
	wantCounts(t, s, 2, 0) // not yet advanced
	s.Advance(now)
	wantCounts(t, s, 1, 0)
	if s.NextDeadline() != 0 {
		t.Fatalf("NextDeadline = %d after expiry", s.NextDeadline())
	}
	if _, ok := s.byID[id]; ok {
		t.Fatal("expired key still indexed by id")
	}

	// Replacing a key without ttl clears the old expiry; with a new ttl moves it.
	mustSet(t, s, now, 0, c, "k", "v", ttl(time.Second))
	mustSet(t, s, now, 0, c, "k", "v2")
	if s.NextDeadline() != 0 {
		t.Fatal("expiry kept after a set without ttl")
	}
	mustSet(t, s, now, 0, c, "k", "v3", ttl(time.Second))
	mustSet(t, s, now, 0, c, "k", "v4", ttl(time.Hour))
	s.Advance(now + 2*sec)
	if _, err := s.Get(now+2*sec, []byte("k")); err != nil {
		t.Fatalf("key expired at its old ttl: %v", err)
	}
	// ttl 0 means never.
	mustSet(t, s, now, 0, c, "z", "v", ttl(0))
	s.Advance(now + 1000*sec)
	if _, err := s.Get(now+1000*sec, []byte("z")); err != nil {
		t.Fatalf("ttl 0 expired: %v", err)
	}
	// Invalid ttl and delay.
	_, err = s.Set(now, 0, setReq("k", "v", ttl(-time.Second)), c)
	wantStatus(t, err, stInvalid, "negative ttl")
	if !strings.Contains(err.Msg, "ttl") {
		t.Fatalf("message %q does not name ttl", err.Msg)
	}
	_, err = s.Set(now, 0, setReq("k", "v", delay(-time.Second)), c)
	wantStatus(t, err, stInvalid, "negative delay")
	_, err = s.Set(now, 0, &pb.StorageSetRequest{Key: []byte("k"), Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}}, c)
	wantStatus(t, err, stInvalid, "malformed ttl")
	// A huge ttl saturates instead of wrapping into the past.
	mustSet(t, s, now, 0, c, "huge", "v", ttl(time.Duration(1<<62)))
	s.Advance(now + 1)
	if _, err := s.Get(now+1, []byte("huge")); err != nil {
		t.Fatalf("huge ttl: %v", err)
	}
}

func TestExpiryOfLockedKey(t *testing.T) {
	s, c := New("s"), &counters{}
	mustSet(t, s, t0, 1, c, "k", "v", ttl(5*time.Second))
	e := mustLock(t, s, t0, 1, "k", time.Minute, c)
	wantCounts(t, s, 1, 1)
	s.Advance(t0 + 5*sec)
	wantCounts(t, s, 0, 0)
	wantStatus(t, s.Release(t0+5*sec, 1, e.ID, false, e.LockToken), stNotFound, "release of an expired key")
	// The lock's deadline went with the key.
	if s.NextDeadline() != 0 {
		t.Fatalf("NextDeadline = %d", s.NextDeadline())
	}
}

func TestDelay(t *testing.T) {
	s, c := New("s"), &counters{}
	mustSet(t, s, t0, 0, c, "job/1", "v", delay(5*time.Second))
	if _, ok := s.LockAny(t0, 1, []byte("job/"), 0, c); ok {
		t.Fatal("LockAny took a delayed key")
	}
	// Listing and Get see it.
	if keys, _ := s.Keys(t0, nil, nil, 10, false); len(keys) != 1 {
		t.Fatalf("Keys = %q", keys)
	}
	if s.NextDeadline() != t0+5*sec {
		t.Fatalf("NextDeadline = %d", s.NextDeadline())
	}
	// Lock by name is allowed.
	e := mustLock(t, s, t0, 1, "job/1", time.Second, c)
	if err := s.Release(t0, 1, e.ID, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.LockAny(t0+5*sec-1, 1, []byte("job/"), 0, c); ok {
		t.Fatal("LockAny took a delayed key before its delay")
	}
	// The mutating methods fire the delay themselves even without an explicit Advance.
	got, ok := s.LockAny(t0+5*sec, 1, []byte("job/"), 0, c)
	if !ok || string(got.Key) != "job/1" {
		t.Fatalf("LockAny after delay = %+v, %v", got, ok)
	}
	// A delayed key locked by name before its delay, released after it: lockable.
	mustSet(t, s, t0+5*sec, 0, c, "job/2", "v", delay(time.Second))
	e2 := mustLock(t, s, t0+5*sec, 1, "job/2", time.Minute, c)
	s.Advance(t0 + 7*sec)
	if err := s.Release(t0+7*sec, 1, e2.ID, false, e2.LockToken); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.LockAny(t0+7*sec, 1, []byte("job/"), 0, c); !ok || string(got.Key) != "job/2" {
		t.Fatalf("LockAny = %+v, %v", got, ok)
	}
	// Setting a key again with a new delay hides it from LockAny again; without one shows it.
	mustSet(t, s, t0+7*sec, 0, c, "x", "v")
	mustSet(t, s, t0+7*sec, 0, c, "x", "v", delay(time.Second))
	if _, ok := s.LockAny(t0+7*sec, 1, []byte("x"), 0, c); ok {
		t.Fatal("re-delayed key taken")
	}
	mustSet(t, s, t0+7*sec, 0, c, "x", "v")
	if _, ok := s.LockAny(t0+7*sec, 1, []byte("x"), 0, c); !ok {
		t.Fatal("undelayed key not taken")
	}
}

func TestLock(t *testing.T) {
	s, c := New("s"), &counters{}
	_, err := s.Lock(t0, 1, []byte("missing"), 0, c)
	wantStatus(t, err, stNotFound, "Lock missing")
	id := mustSet(t, s, t0, 1, c, "k", "v", compress())
	e := mustLock(t, s, t0, 1, "k", 0, c)
	if !e.Locked || e.LockToken == 0 || e.ID != id || string(e.Value) != "v" || !e.Compressed {
		t.Fatalf("Lock = %+v", e)
	}
	if s.NextDeadline() != t0+int64(DefaultLockTTL) {
		t.Fatalf("default lock ttl: deadline %d", s.NextDeadline()-t0)
	}
	_, err = s.Lock(t0, 1, []byte("k"), 0, c)
	wantStatus(t, err, stBusy, "relock by the same session (no reentrance)")
	_, err = s.Lock(t0, 2, []byte("k"), 0, c)
	wantStatus(t, err, stBusy, "lock by another session")
	g, _ := s.Get(t0, []byte("k"))
	if !g.Locked || g.LockToken != e.LockToken {
		t.Fatalf("Get = %+v", g)
	}
	wantCounts(t, s, 1, 1)

	// Tokens strictly increase across keys and relocks.
	mustSet(t, s, t0, 1, c, "k2", "v")
	last := e.LockToken
	if err := s.Release(t0, 1, e.ID, false, 0); err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := 0; i < 20; i++ {
		x := mustLock(t, s, now, uint64(i), []string{"k", "k2"}[i%2], time.Second, c)
		if x.LockToken <= last {
			t.Fatalf("token %d after %d", x.LockToken, last)
		}
		last = x.LockToken
		if i%3 != 0 {
			if err := s.Release(now, uint64(i), x.ID, false, 0); err != nil {
				t.Fatal(err)
			}
		} else {
			now += sec // the lock runs out instead
			s.Advance(now)
		}
	}
}

func TestLockExpiry(t *testing.T) {
	s, c := New("s"), &counters{}
	mustSet(t, s, t0, 1, c, "k", "v")
	e := mustLock(t, s, t0, 1, "k", 10*time.Second, c)
	if s.NextDeadline() != t0+10*sec {
		t.Fatalf("NextDeadline = %d", s.NextDeadline())
	}
	now := t0 + 10*sec
	// Readers see it released before Advance.
	g, _ := s.Get(now, []byte("k"))
	if g.Locked || g.LockToken != 0 {
		t.Fatalf("Get after lock ttl = %+v", g)
	}
	if got := s.GetByIDs(now-1, []uint64{e.ID}); !got[0].Locked {
		t.Fatal("GetByIDs before lock ttl: not locked")
	}
	if keys, _ := s.Keys(now, nil, nil, 10, false); len(keys) != 1 {
		t.Fatalf("Keys without active after lock ttl = %q", keys)
	}
	if keys, _ := s.Keys(now-1, nil, nil, 10, false); len(keys) != 0 {
		t.Fatalf("Keys without active before lock ttl = %q", keys)
	}
	wantCounts(t, s, 1, 1)
	s.Advance(now)
	wantCounts(t, s, 1, 0)
	if s.NextDeadline() != 0 {
		t.Fatal("lock deadline left")
	}
	// The old holder is fenced: by token and by session.
	_, err := s.Set(now, 0, setReq("k", "x", token(e.LockToken)), c)
	wantStatus(t, err, stBusy, "Set with an expired token")
	wantStatus(t, s.Delete(now, 0, []byte("k"), e.LockToken), stBusy, "Delete with an expired token")
	e2, ok := s.LockAny(now, 2, nil, time.Second, c)
	if !ok || e2.ID != e.ID || e2.LockToken <= e.LockToken {
		t.Fatalf("LockAny after expiry = %+v %v", e2, ok)
	}
	_, err = s.Set(now, 1, setReq("k", "x"), c)
	wantStatus(t, err, stBusy, "Set by the former holder's session")
	wantStatus(t, s.Release(now, 1, e.ID, false, e.LockToken), stBusy, "Release with the old token")
}

func TestHolderRule(t *testing.T) {
	type tc struct {
		name    string
		session uint64
		token   func(cur uint64) uint64
		want    pb.StatusCode
	}
	const holder = 7
	cases := []tc{
		{"holder session", holder, func(uint64) uint64 { return 0 }, stOK},
		{"current token, other session", 8, func(cur uint64) uint64 { return cur }, stOK},
		{"current token, REST", 0, func(cur uint64) uint64 { return cur }, stOK},
		{"other session", 8, func(uint64) uint64 { return 0 }, stBusy},
		{"REST without token", 0, func(uint64) uint64 { return 0 }, stBusy},
		{"wrong token", 8, func(cur uint64) uint64 { return cur + 100 }, stBusy},
		{"holder session with a stale token", holder, func(cur uint64) uint64 { return cur - 1 }, stBusy},
	}
	for _, op := range []string{"set", "delete", "release"} {
		for _, x := range cases {
			t.Run(op+"/"+x.name, func(t *testing.T) {
				s, c := New("s"), &counters{}
				id := mustSet(t, s, t0, holder, c, "k", "v")
				c.tok = 50 // so that cur-1 is a plausible stale token
				e := mustLock(t, s, t0, holder, "k", time.Minute, c)
				tok := x.token(e.LockToken)
				var err *apierr.Error
				if op == "set" {
					var gotID uint64
					gotID, err = s.Set(t0+1, x.session, setReq("k", "new", token(tok)), c)
					if err == nil && gotID != id {
						t.Fatalf("id %d, want %d", gotID, id)
					}
				} else if op == "delete" {
					err = s.Delete(t0+1, x.session, []byte("k"), tok)
				} else {
					err = s.Release(t0+1, x.session, e.ID, false, tok)
				}
				wantStatus(t, err, x.want, op)
				g, gerr := s.Get(t0+1, []byte("k"))
				switch {
				case x.want != stOK:
					if gerr != nil || string(g.Value) != "v" || !g.Locked || g.LockToken != e.LockToken {
						t.Fatalf("refused %s changed the key: %+v %v", op, g, gerr)
					}
				case op == "release":
					if gerr != nil || string(g.Value) != "v" || g.Locked || g.LockToken != 0 {
						t.Fatalf("after release: %+v %v", g, gerr)
					}
					wantCounts(t, s, 1, 0)
					if s.NextDeadline() != 0 {
						t.Fatal("lock deadline survived the release")
					}
				case op == "set":
					// The holder's set keeps the lock: same token, same lock_until.
					if gerr != nil || string(g.Value) != "new" || !g.Locked || g.LockToken != e.LockToken {
						t.Fatalf("after set: %+v %v", g, gerr)
					}
					if s.NextDeadline() != t0+int64(time.Minute) {
						t.Fatalf("lock_until moved: %d", s.NextDeadline())
					}
					wantCounts(t, s, 1, 1)
				default:
					wantStatus(t, gerr, stNotFound, "Get after delete")
					wantCounts(t, s, 0, 0)
					if s.NextDeadline() != 0 {
						t.Fatal("lock deadline survived the delete")
					}
				}
			})
		}
	}

	t.Run("session 0 never matches", func(t *testing.T) {
		s, c := New("s"), &counters{}
		mustSet(t, s, t0, 0, c, "k", "v")
		mustLock(t, s, t0, 0, "k", time.Minute, c) // locked over REST
		_, err := s.Set(t0, 0, setReq("k", "x"), c)
		wantStatus(t, err, stBusy, "Set by session 0 on a session-0 lock")
		wantStatus(t, s.Delete(t0, 0, []byte("k"), 0), stBusy, "Delete by session 0")
		e, _ := s.Get(t0, []byte("k"))
		wantStatus(t, s.Release(t0, 0, e.ID, false, 0), stBusy, "Release by session 0")
	})
	t.Run("stale token after release", func(t *testing.T) {
		s, c := New("s"), &counters{}
		mustSet(t, s, t0, 1, c, "k", "v")
		e := mustLock(t, s, t0, 1, "k", time.Minute, c)
		if err := s.Release(t0, 1, e.ID, false, e.LockToken); err != nil {
			t.Fatal(err)
		}
		_, err := s.Set(t0, 1, setReq("k", "x", token(e.LockToken)), c)
		wantStatus(t, err, stBusy, "Set with a released token on an unlocked key")
		wantStatus(t, s.Delete(t0, 1, []byte("k"), e.LockToken), stBusy, "Delete with a released token")
		// Without the token the unlocked key is anyone's.
		mustSet(t, s, t0, 2, c, "k", "x")
		_, err = s.Set(t0, 2, setReq("absent", "x", token(e.LockToken)), c)
		wantStatus(t, err, stBusy, "Set with a token on an absent key")
		wantStatus(t, s.Delete(t0, 2, []byte("absent"), e.LockToken), stNotFound, "Delete of an absent key")
	})
}

func TestRelease(t *testing.T) {
	s, c := New("s"), &counters{}
	wantStatus(t, s.Release(t0, 1, 12345, false, 0), stNotFound, "unknown id")
	id := mustSet(t, s, t0, 1, c, "k", "v")
	wantStatus(t, s.Release(t0, 1, id, false, 0), stNotBusy, "not locked")
	wantStatus(t, s.Release(t0, 1, id, true, 99), stNotBusy, "not locked, with a token")
	e := mustLock(t, s, t0, 1, "k", time.Minute, c)
	wantStatus(t, s.Release(t0, 1, id, false, e.LockToken+1), stBusy, "wrong token")
	// Only the holder releases: another session without the token is refused...
	wantStatus(t, s.Release(t0, 2, id, false, 0), stBusy, "release by another session")
	wantStatus(t, s.Release(t0, 2, id, true, 0), stBusy, "release+delete by another session")
	wantCounts(t, s, 1, 1)
	// ...while the token proves the lock from anywhere (a reconnected holder).
	wantStatus(t, s.Release(t0, 2, id, false, e.LockToken), stOK, "release by token from another session")
	wantCounts(t, s, 1, 0)
	if s.NextDeadline() != 0 {
		t.Fatal("lock deadline left after release")
	}
	e = mustLock(t, s, t0, 1, "k", time.Minute, c)
	wantStatus(t, s.Release(t0, 0, id, true, e.LockToken), stOK, "release with delete")
	wantCounts(t, s, 0, 0)
	_, err := s.Get(t0, []byte("k"))
	wantStatus(t, err, stNotFound, "Get after release+delete")
	wantStatus(t, s.Release(t0, 1, id, false, 0), stNotFound, "release of a deleted id")
	// A lock that ran out: not busy any more.
	id = mustSet(t, s, t0, 1, c, "k", "v")
	mustLock(t, s, t0, 1, "k", time.Second, c)
	wantStatus(t, s.Release(t0+sec, 1, id, false, 0), stNotBusy, "release after lock ttl")
	// The holder session releases without a token.
	mustLock(t, s, t0+sec, 1, "k", time.Minute, c)
	wantStatus(t, s.Release(t0+sec, 1, id, false, 0), stOK, "release by the holder session")
	// A lock that ran out and was granted again: the old token is refused, the new works.
	old := mustLock(t, s, t0+sec, 1, "k", time.Second, c)
	cur := mustLock(t, s, t0+2*sec, 2, "k", time.Minute, c)
	wantStatus(t, s.Release(t0+2*sec, 1, id, false, old.LockToken), stBusy, "release with the expired lock's token")
	wantStatus(t, s.Release(t0+2*sec, 1, id, false, 0), stBusy, "release by the expired lock's session")
	wantStatus(t, s.Release(t0+2*sec, 3, id, false, cur.LockToken), stOK, "release with the current token")
}

func TestLockAnyPrefix(t *testing.T) {
	s, c := New("s"), &counters{}
	for _, k := range []string{"job/3", "job/1", "jo", "job/2", "other/1", "job/5", "job/4", "job0"} {
		mustSet(t, s, t0, 0, c, k, "v")
	}
	seen := map[string]bool{}
	var order []string
	var ids []uint64
	for i := 0; i < 5; i++ {
		e, ok := s.LockAny(t0, uint64(i+1), []byte("job/"), time.Minute, c)
		if !ok || seen[string(e.Key)] || !bytes.HasPrefix(e.Key, []byte("job/")) || !e.Locked {
			t.Fatalf("LockAny #%d = %+v, %v", i, e, ok)
		}
		seen[string(e.Key)] = true
		order = append(order, string(e.Key))
		ids = append(ids, e.ID)
	}
	if !slices.Equal(order, []string{"job/1", "job/2", "job/3", "job/4", "job/5"}) {
		t.Fatalf("order %q", order)
	}
	if _, ok := s.LockAny(t0, 9, []byte("job/"), 0, c); ok {
		t.Fatal("LockAny found a sixth job")
	}
	if err := s.Release(t0, 3, ids[2], false, 0); err != nil {
		t.Fatal(err)
	}
	if e, ok := s.LockAny(t0, 9, []byte("job/"), 0, c); !ok || string(e.Key) != "job/3" {
		t.Fatalf("LockAny after release = %+v", e)
	}
	if e, ok := s.LockAny(t0, 9, nil, 0, c); !ok || string(e.Key) != "jo" {
		t.Fatalf("LockAny with no prefix = %q", e.Key)
	}
	if _, ok := s.LockAny(t0, 9, []byte("nothing"), 0, c); ok {
		t.Fatal("LockAny matched a missing prefix")
	}
	if _, ok := s.LockAny(t0, 9, bytes.Repeat([]byte("j"), 2000), 0, c); ok {
		t.Fatal("LockAny matched a long prefix")
	}
	if e, ok := s.LockAny(t0, 9, []byte("other/1"), 0, c); !ok || string(e.Key) != "other/1" {
		t.Fatalf("LockAny with an exact-key prefix = %+v", e)
	}
	// An expired key is never taken, even when the caller has not advanced.
	mustSet(t, s, t0, 0, c, "tmp/a", "v", ttl(time.Second))
	mustSet(t, s, t0, 0, c, "tmp/b", "v")
	if e, ok := s.LockAny(t0+sec, 9, []byte("tmp/"), 0, c); !ok || string(e.Key) != "tmp/b" {
		t.Fatalf("LockAny took %q", e.Key)
	}
	wantCounts(t, s, 9, 8)
}

// listAll pages through Keys and returns every key listed.
func listAll(t *testing.T, s *Storage, now int64, prefix []byte, limit int, active bool) []string {
	t.Helper()
	var out []string
	var after []byte
	for pages := 0; ; pages++ {
		keys, more := s.Keys(now, after, prefix, limit, active)
		if len(keys) > limit {
			t.Fatalf("page of %d keys, limit %d", len(keys), limit)
		}
		if more && len(keys) < limit {
			t.Fatalf("short page (%d) with more", len(keys))
		}
		for _, k := range keys {
			out = append(out, string(k))
		}
		if !more {
			return out
		}
		after = keys[len(keys)-1]
		if pages > 1_000_000 {
			t.Fatal("paging does not end")
		}
	}
}

func TestKeysPaging(t *testing.T) {
	s, c := New("s"), &counters{}
	const n = 10000
	var all, unlocked, expiredLocks []string
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key/%05d", (i*7919)%n) // out of order
		mustSet(t, s, t0, 0, c, k, "v")
	}
	now := t0 + sec
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key/%05d", i)
		all = append(all, k)
		switch {
		case i%7 == 0:
			mustLock(t, s, t0, 1, k, time.Hour, c)
		case i%11 == 0:
			// Its lock runs out before `now`, which is not advanced: listed as unlocked.
			mustLock(t, s, t0, 1, k, time.Second/2, c)
			expiredLocks = append(expiredLocks, k)
			unlocked = append(unlocked, k)
		default:
			unlocked = append(unlocked, k)
		}
	}
	mustSet(t, s, t0, 0, c, "a-before", "v")
	mustSet(t, s, t0, 0, c, "z-after", "v")
	for _, limit := range []int{1, 3, 100, 999, n + 10} {
		if got := listAll(t, s, now, []byte("key/"), limit, true); !slices.Equal(got, all) {
			t.Fatalf("limit %d with active: %d keys, want %d", limit, len(got), len(all))
		}
		if got := listAll(t, s, now, []byte("key/"), limit, false); !slices.Equal(got, unlocked) {
			t.Fatalf("limit %d without active: %d keys, want %d", limit, len(got), len(unlocked))
		}
	}
	if got := listAll(t, s, now, nil, 100, true); len(got) != n+2 || got[0] != "a-before" || got[n+1] != "z-after" {
		t.Fatalf("no prefix: %d keys", len(got))
	}
	// The not-yet-advanced lock ends are still locked at t0.
	if got := listAll(t, s, t0, []byte("key/"), 100, false); len(got) != len(unlocked)-len(expiredLocks) {
		t.Fatalf("at t0: %d keys", len(got))
	}
	// After Advance the same listing.
	s.Advance(now)
	if got := listAll(t, s, now, []byte("key/"), 77, false); !slices.Equal(got, unlocked) {
		t.Fatalf("after Advance: %d keys", len(got))
	}
	// after outside the prefix range.
	if keys, more := s.Keys(now, []byte("a"), []byte("key/"), 2, true); len(keys) != 2 || string(keys[0]) != "key/00000" || !more {
		t.Fatalf("after before prefix: %q %v", keys, more)
	}
	if keys, more := s.Keys(now, []byte("zzz"), []byte("key/"), 2, true); len(keys) != 0 || more {
		t.Fatalf("after past prefix: %q %v", keys, more)
	}
	if keys, more := s.Keys(now, []byte("key/09999"), []byte("key/"), 2, true); len(keys) != 0 || more {
		t.Fatalf("after the last key: %q %v", keys, more)
	}
	if keys, more := s.Keys(now, nil, []byte("key/"), 0, true); len(keys) != 0 || !more {
		t.Fatalf("limit 0: %q %v", keys, more)
	}
	if keys, more := s.Keys(now, nil, []byte("nope"), 10, true); len(keys) != 0 || more {
		t.Fatalf("missing prefix: %q %v", keys, more)
	}
	// Empty storage.
	if keys, more := New("e").Keys(now, nil, nil, 10, false); len(keys) != 0 || more {
		t.Fatal("empty storage lists keys")
	}
}

func TestKeysMoreSkipsExpiredTail(t *testing.T) {
	s, c := New("s"), &counters{}
	mustSet(t, s, t0, 0, c, "a", "v")
	mustSet(t, s, t0, 0, c, "b", "v", ttl(time.Second))
	mustSet(t, s, t0, 0, c, "c", "v")
	mustLock(t, s, t0, 0, "c", time.Hour, c)
	// Only "a" is listable without active at t0+1s: "b" expired, "c" locked.
	if keys, more := s.Keys(t0+sec, nil, nil, 1, false); len(keys) != 1 || more {
		t.Fatalf("Keys = %q, more %v", keys, more)
	}
	if keys, more := s.Keys(t0+sec, nil, nil, 1, true); len(keys) != 1 || !more {
		t.Fatalf("Keys active = %q, more %v", keys, more)
	}
}

func TestKeyValidation(t *testing.T) {
	s, c := New("s"), &counters{}
	for _, key := range [][]byte{nil, {}, bytes.Repeat([]byte("k"), MaxKeyLen+1)} {
		check := func(err *apierr.Error, what string) {
			t.Helper()
			wantStatus(t, err, stInvalid, fmt.Sprintf("%s with a %d-byte key", what, len(key)))
			if !strings.Contains(err.Msg, "key") {
				t.Fatalf("message %q does not name key", err.Msg)
			}
		}
		_, err := s.Set(t0, 0, &pb.StorageSetRequest{Key: key, Value: []byte("v")}, c)
		check(err, "Set")
		check(s.Delete(t0, 0, key, 0), "Delete")
		_, err = s.Lock(t0, 0, key, 0, c)
		check(err, "Lock")
		_, err = s.Get(t0, key)
		check(err, "Get")
	}
	max := bytes.Repeat([]byte("k"), MaxKeyLen)
	if _, err := s.Set(t0, 0, &pb.StorageSetRequest{Key: max}, c); err != nil {
		t.Fatalf("1024-byte key: %v", err)
	}
	if e, ok := s.LockAny(t0, 0, max, 0, c); !ok || !bytes.Equal(e.Key, max) {
		t.Fatal("LockAny with a 1024-byte prefix")
	}
	wantCounts(t, s, 1, 1)
}

func TestKeyIsCopied(t *testing.T) {
	s, c := New("s"), &counters{}
	req := setReq("abc", "v")
	mustSet(t, s, t0, 0, c, "zzz", "v")
	if _, err := s.Set(t0, 0, req, c); err != nil {
		t.Fatal(err)
	}
	req.Key[0] = 'z' // the caller reuses its buffer
	if _, err := s.Get(t0, []byte("abc")); err != nil {
		t.Fatal("stored key aliases the request")
	}
}

func TestGetByIDs(t *testing.T) {
	s, c := New("s"), &counters{}
	a := mustSet(t, s, t0, 0, c, "a", "1")
	b := mustSet(t, s, t0, 0, c, "b", "2", ttl(time.Second))
	d := mustSet(t, s, t0, 0, c, "d", "4")
	e := mustLock(t, s, t0, 0, "d", time.Minute, c)
	got := s.GetByIDs(t0, []uint64{d, 999, a, b, a})
	want := []string{"d", "a", "b", "a"}
	if len(got) != len(want) {
		t.Fatalf("GetByIDs = %+v", got)
	}
	for i, g := range got {
		if string(g.Key) != want[i] {
			t.Fatalf("GetByIDs[%d] = %q, want %q", i, g.Key, want[i])
		}
	}
	if !got[0].Locked || got[0].LockToken != e.LockToken || got[1].Locked {
		t.Fatalf("lock flags: %+v", got)
	}
	if got := s.GetByIDs(t0+sec, []uint64{b}); len(got) != 0 {
		t.Fatal("expired key by id")
	}
	if got := s.GetByIDs(t0, nil); len(got) != 0 {
		t.Fatal("no ids")
	}
}

func TestNextDeadline(t *testing.T) {
	s, c := New("s"), &counters{}
	if s.NextDeadline() != 0 {
		t.Fatal("empty storage has a deadline")
	}
	mustSet(t, s, t0, 0, c, "a", "v", ttl(30*time.Second))
	mustSet(t, s, t0, 0, c, "b", "v", delay(20*time.Second))
	mustSet(t, s, t0, 0, c, "c", "v")
	mustLock(t, s, t0, 0, "c", 10*time.Second, c)
	for _, want := range []int64{10, 20, 30} {
		if got := s.NextDeadline(); got != t0+want*sec {
			t.Fatalf("NextDeadline = t0%+ds, want t0+%ds", (got-t0)/sec, want)
		}
		s.Advance(t0 + want*sec - 1) // not yet
		if got := s.NextDeadline(); got != t0+want*sec {
			t.Fatalf("Advance fired early: %d", got)
		}
		s.Advance(t0 + want*sec)
	}
	if s.NextDeadline() != 0 {
		t.Fatalf("NextDeadline = %d, want 0", s.NextDeadline())
	}
	wantCounts(t, s, 2, 0)
	// Deleting a key drops its deadlines.
	mustSet(t, s, t0+30*sec, 0, c, "x", "v", ttl(time.Second), delay(time.Second))
	if err := s.Delete(t0+30*sec, 0, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if s.NextDeadline() != 0 {
		t.Fatal("deadlines of a deleted key left")
	}
}

// snapshot returns a storage's records.
func snapshot(t *testing.T, s *Storage) []*raftpb.KeyState {
	t.Helper()
	var out []*raftpb.KeyState
	if err := s.Snapshot(func(k *raftpb.KeyState) error {
		out = append(out, proto.Clone(k).(*raftpb.KeyState))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func restored(t *testing.T, s *Storage) *Storage {
	t.Helper()
	r := New(s.Name())
	for _, k := range snapshot(t, s) {
		// Through the wire format, as Raft would.
		b, err := proto.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var k2 raftpb.KeyState
		if err := proto.Unmarshal(b, &k2); err != nil {
			t.Fatal(err)
		}
		r.Restore(&k2)
	}
	return r
}

func TestSnapshotRoundTrip(t *testing.T) {
	s, c := New("st"), &counters{}
	for i := 0; i < 50; i++ {
		var opts []setOpt
		if i%3 == 0 {
			opts = append(opts, ttl(time.Duration(i+1)*time.Second))
		}
		if i%4 == 0 {
			opts = append(opts, delay(time.Duration(i+1)*time.Second))
		}
		if i%5 == 0 {
			opts = append(opts, compress())
		}
		mustSet(t, s, t0, 0, c, fmt.Sprintf("k%02d", 49-i), fmt.Sprint(i), opts...)
	}
	for i := 0; i < 50; i += 6 {
		mustLock(t, s, t0, uint64(i), fmt.Sprintf("k%02d", i), time.Duration(i+1)*time.Second, c)
	}
	s.Advance(t0 + 5*sec) // some delays over, some keys and locks gone
	recs := snapshot(t, s)
	for i, k := range recs {
		if k.GetStorage() != "st" {
			t.Fatalf("record storage %q", k.GetStorage())
		}
		if i > 0 && recs[i-1].GetId() >= k.GetId() {
			t.Fatal("records not in id order")
		}
	}
	r := restored(t, s)
	if got := snapshot(t, r); len(got) != len(recs) {
		t.Fatalf("restored %d records, want %d", len(got), len(recs))
	} else {
		for i := range got {
			if !proto.Equal(got[i], recs[i]) {
				t.Fatalf("record %d: %v != %v", i, got[i], recs[i])
			}
		}
	}
	a, b := s.Counts()
	x, y := r.Counts()
	if a != x || b != y || s.NextDeadline() != r.NextDeadline() {
		t.Fatalf("counts %d/%d vs %d/%d, deadline %d vs %d", a, b, x, y, s.NextDeadline(), r.NextDeadline())
	}
	// Both behave identically from here on.
	c2 := *c
	for now := t0 + 5*sec; now < t0+60*sec; now += sec / 2 {
		s.Advance(now)
		r.Advance(now)
		e1, ok1 := s.LockAny(now, 1, []byte("k"), 3*time.Second, c)
		e2, ok2 := r.LockAny(now, 1, []byte("k"), 3*time.Second, &c2)
		if ok1 != ok2 || e1.ID != e2.ID || e1.LockToken != e2.LockToken {
			t.Fatalf("at %d: LockAny %+v/%v vs %+v/%v", now-t0, e1, ok1, e2, ok2)
		}
		k1, m1 := s.Keys(now, nil, nil, 100, false)
		k2, m2 := r.Keys(now, nil, nil, 100, false)
		if m1 != m2 || !slices.EqualFunc(k1, k2, bytes.Equal) || s.NextDeadline() != r.NextDeadline() {
			t.Fatalf("at %d: Keys or NextDeadline differ", now-t0)
		}
	}
}

func TestSnapshotError(t *testing.T) {
	s, c := New("s"), &counters{}
	mustSet(t, s, t0, 0, c, "a", "v")
	mustSet(t, s, t0, 0, c, "b", "v")
	boom := errors.New("boom")
	calls := 0
	err := s.Snapshot(func(*raftpb.KeyState) error { calls++; return boom })
	if err != boom || calls != 1 {
		t.Fatalf("Snapshot = %v after %d calls", err, calls)
	}
}

func TestRestoreReplaces(t *testing.T) {
	s := New("s")
	s.Restore(&raftpb.KeyState{Id: 1, Key: []byte("a"), Value: []byte("1"), Locked: true, LockToken: 5, LockUntil: t0 + sec})
	s.Restore(&raftpb.KeyState{Id: 2, Key: []byte("a"), Value: []byte("2")})
	wantCounts(t, s, 1, 0)
	if s.NextDeadline() != 0 {
		t.Fatal("replaced record left a deadline")
	}
	e, err := s.Get(t0, []byte("a"))
	if err != nil || e.ID != 2 || string(e.Value) != "2" {
		t.Fatalf("Get = %+v %v", e, err)
	}
	// A restored delayed key becomes lockable at its time; overdue deadlines fire at Advance.
	s.Restore(&raftpb.KeyState{Id: 3, Key: []byte("b"), VisibleAt: t0 - sec, ExpiresAt: t0 + sec})
	if _, ok := s.LockAny(t0, 1, []byte("b"), 0, &counters{}); !ok {
		t.Fatal("overdue delay of a restored key did not fire")
	}
}
