package server_test

// End-to-end tests of the key-value store through the Go client against a real single-node
// server: the rules of API.md §4 seen from a client.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// kvEnv is a test env with the storage "kv".
type kvEnv struct{ *env }

func kvStart(t *testing.T, opts ...servertest.Option) *kvEnv {
	t.Helper()
	e := &kvEnv{startEnv(t, 60*time.Second, opts...)}
	if err := e.admin.CreateStorage(e.ctx, "kv"); err != nil {
		t.Fatalf("CreateStorage: %v", err)
	}
	return e
}

// client opens a client of the storage "kv" (a stream of its own), closed when the test ends.
func (e *kvEnv) client(opts ...client.Option) *client.StorageClient {
	e.t.Helper()
	s, err := client.NewStorageClient(e.srv.Addr, "kv", opts...)
	if err != nil {
		e.t.Fatalf("NewStorageClient: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

func kvMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func kvWantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}

func kvWantValue(t testing.TB, ctx context.Context, s *client.StorageClient, key, want string) {
	t.Helper()
	v, err := s.GetKey(ctx, []byte(key))
	if err != nil || string(v) != want {
		t.Fatalf("GetKey(%q) = %q, %v; want %q", key, v, err, want)
	}
}

func kvWantInfo(t testing.TB, ctx context.Context, s *client.StorageClient, count, locked uint32) {
	t.Helper()
	c, l, err := s.Info(ctx)
	if err != nil || c != count || l != locked {
		t.Fatalf("Info = %d keys, %d locked, %v; want %d, %d", c, l, err, count, locked)
	}
}

// kvEventually polls cond (an outcome of a ttl, which the server applies on its own
// schedule) until it holds, failing after 5 s.
func kvEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ms(n int) *durationpb.Duration { return durationpb.New(time.Duration(n) * time.Millisecond) }

// A key expires ttl after its last set; a set without ttl clears an earlier one.
func TestStorageE2ETTLExpiry(t *testing.T) {
	e := kvStart(t)
	s := e.client()
	// "kept" is set first with the same ttl, then again without one: it must outlive
	// "short", whose ttl ends later than kept's first one would have.
	_, err := s.SetKey(e.ctx, []byte("kept"), []byte("v"), ms(300), false)
	kvMust(t, err)
	_, err = s.SetKey(e.ctx, []byte("kept"), []byte("forever"), nil, false)
	kvMust(t, err)
	start := time.Now()
	_, err = s.SetKey(e.ctx, []byte("short"), []byte("v"), ms(300), false)
	kvMust(t, err)
	_, err = s.SetKey(e.ctx, []byte("long"), []byte("v"), durationpb.New(time.Hour), false)
	kvMust(t, err)
	kvWantValue(t, e.ctx, s, "short", "v")
	kvWantInfo(t, e.ctx, s, 3, 0)

	kvEventually(t, "short expires", func() bool {
		_, err := s.GetKey(e.ctx, []byte("short"))
		if err != nil && !errors.Is(err, client.ErrKeyNotFound) {
			t.Fatal(err)
		}
		return err != nil
	})
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("short expired after %v, before its 300ms ttl", el)
	}
	kvWantValue(t, e.ctx, s, "kept", "forever")
	kvWantValue(t, e.ctx, s, "long", "v")
	keys, err := s.ListKeys(e.ctx, true)
	kvMust(t, err)
	if fmt.Sprintf("%q", keys) != `["kept" "long"]` {
		t.Fatalf("keys after expiry %q", keys)
	}
	kvWantInfo(t, e.ctx, s, 2, 0)
	// An expired key is gone for good: setting it again creates a new key.
	_, err = s.LockKey(e.ctx, []byte("short"), nil)
	kvWantErr(t, "LockKey of an expired key", err, client.ErrKeyNotFound)
}

// Ids are kept across updates, new (and larger) after delete + re-create; GetKeys answers in
// request order, skipping unknown ids.
func TestStorageE2EIDs(t *testing.T) {
	e := kvStart(t)
	s := e.client()
	a1, err := s.SetKey(e.ctx, []byte("a"), []byte("1"), nil, false)
	kvMust(t, err)
	a2, err := s.SetKey(e.ctx, []byte("a"), []byte("2"), durationpb.New(time.Hour), true)
	kvMust(t, err)
	b, err := s.SetKey(e.ctx, []byte("b"), []byte("b"), nil, false)
	kvMust(t, err)
	if a1 == 0 || a1 != a2 || b == a1 {
		t.Fatalf("ids: a %d then %d, b %d", a1, a2, b)
	}
	kv, err := s.Get(e.ctx, []byte("a"))
	kvMust(t, err)
	if kv.ID != a1 || string(kv.Value) != "2" {
		t.Fatalf("Get(a) = %+v", kv)
	}
	kvMust(t, s.DeleteKey(e.ctx, []byte("a")))
	kvWantErr(t, "DeleteKey twice", s.DeleteKey(e.ctx, []byte("a")), client.ErrKeyNotFound)
	a3, err := s.SetKey(e.ctx, []byte("a"), []byte("3"), nil, false)
	kvMust(t, err)
	if a3 == a1 || a3 <= b {
		t.Fatalf("re-created a got id %d (old %d, b %d): want a new, larger id", a3, a1, b)
	}
	got, err := s.GetKeys(e.ctx, []uint64{b, a1, a3, 1 << 60, b})
	kvMust(t, err)
	var desc []string
	for _, kv := range got {
		desc = append(desc, fmt.Sprintf("%d:%s=%s", kv.ID, kv.Key, kv.Value))
	}
	want := []string{fmt.Sprintf("%d:b=b", b), fmt.Sprintf("%d:a=3", a3), fmt.Sprintf("%d:b=b", b)}
	if !slices.Equal(desc, want) {
		t.Fatalf("GetKeys = %v, want %v", desc, want)
	}
	if got, err := s.GetKeys(e.ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetKeys(nil) = %v, %v", got, err)
	}
	kvWantInfo(t, e.ctx, s, 2, 0)
}

// 8 clients (8 streams) × 25 LockKey/UnlockKey rounds on one key: never two holders at once,
// no lost update of a counter kept in the key, and the tokens of all grants strictly
// increase in grant order. Run with -race.
func TestStorageE2ELockExclusivity(t *testing.T) {
	const workers, rounds = 8, 25
	e := kvStart(t)
	setup := e.client()
	id, err := setup.SetKey(e.ctx, []byte("counter"), []byte("0"), nil, false)
	kvMust(t, err)
	var (
		holders atomic.Int32
		mu      sync.Mutex
		tokens  []uint64 // appended while holding the lock: grant order
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for w := 0; w < workers; w++ {
		c := e.client(client.WithLockTimeout(20 * time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for r := 0; r < rounds; r++ {
					l, err := c.LockKeyToken(e.ctx, []byte("counter"), durationpb.New(30*time.Second), 20*time.Second)
					if err != nil {
						return fmt.Errorf("LockKeyToken: %w", err)
					}
					if l.ID != id {
						return fmt.Errorf("locked id %d, want %d", l.ID, id)
					}
					if n := holders.Add(1); n != 1 {
						return fmt.Errorf("%d holders at once", n)
					}
					mu.Lock()
					tokens = append(tokens, l.Token)
					mu.Unlock()
					v, err := c.GetKey(e.ctx, []byte("counter"))
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(v))
					if err != nil {
						return err
					}
					// The holder writes without passing a token.
					if _, err := c.SetKey(e.ctx, []byte("counter"), []byte(fmt.Sprint(n+1)), nil, false); err != nil {
						return fmt.Errorf("SetKey by the holder: %w", err)
					}
					holders.Add(-1)
					if err := c.UnlockKey(e.ctx, l.ID); err != nil {
						return fmt.Errorf("UnlockKey: %w", err)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		kvMust(t, err)
	}
	kvWantValue(t, e.ctx, setup, "counter", fmt.Sprint(workers*rounds))
	if len(tokens) != workers*rounds {
		t.Fatalf("%d grants, want %d", len(tokens), workers*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("grant %d got token %d after %d: not strictly increasing", i, tokens[i], tokens[i-1])
		}
	}
	kvWantInfo(t, e.ctx, setup, 1, 0)
}

// A lock runs out after its lock ttl; then another stream can lock the key and the old
// holder is fenced: its token is refused for set, delete and release, and so is it without
// the token. A released lock's token is refused too.
func TestStorageE2ELockExpiryAndFence(t *testing.T) {
	e := kvStart(t)
	a, b := e.client(), e.client()
	id, err := a.SetKey(e.ctx, []byte("k"), []byte("v0"), nil, false)
	kvMust(t, err)
	la, err := a.LockKeyToken(e.ctx, []byte("k"), ms(300), 0)
	kvMust(t, err)
	if la.ID != id || la.Token == 0 || string(la.Value) != "v0" {
		t.Fatalf("LockKeyToken = %+v", la)
	}
	_, err = a.SetKey(e.ctx, []byte("k"), []byte("v1"), nil, false)
	kvMust(t, err)
	// b waits for the lock: it gets it once a's lock ttl ran out.
	start := time.Now()
	lb, err := b.LockKeyToken(e.ctx, []byte("k"), durationpb.New(time.Minute), 10*time.Second)
	kvMust(t, err)
	if el := time.Since(start); el >= 9*time.Second {
		t.Fatalf("b got the lock only after %v", el)
	}
	if lb.ID != id || lb.Token <= la.Token || string(lb.Value) != "v1" {
		t.Fatalf("lock after expiry = %+v (old token %d)", lb, la.Token)
	}
	// The fence: a's stale token is refused.
	_, err = a.SetKeyWithToken(e.ctx, []byte("k"), []byte("stale"), nil, false, la.Token)
	kvWantErr(t, "set with a stale token", err, client.ErrItemBusy)
	kvWantErr(t, "delete with a stale token", a.DeleteKeyWithToken(e.ctx, []byte("k"), la.Token), client.ErrItemBusy)
	kvWantErr(t, "release with a stale token", a.Release(e.ctx, id, false, la.Token), client.ErrItemBusy)
	kvWantErr(t, "release+delete with a stale token", a.Release(e.ctx, id, true, la.Token), client.ErrItemBusy)
	// And without the token: a no longer holds the lock.
	_, err = a.SetKey(e.ctx, []byte("k"), []byte("stale"), nil, false)
	kvWantErr(t, "set by the former holder", err, client.ErrItemBusy)
	kvWantErr(t, "unlock by the former holder", a.UnlockKey(e.ctx, id), client.ErrItemBusy)
	kvWantErr(t, "delete by the former holder", a.DeleteKey(e.ctx, []byte("k")), client.ErrItemBusy)
	kvWantValue(t, e.ctx, a, "k", "v1")
	kvWantInfo(t, e.ctx, a, 1, 1)
	// The current holder works, with or without its token.
	_, err = b.SetKey(e.ctx, []byte("k"), []byte("v2"), nil, false)
	kvMust(t, err)
	_, err = a.SetKeyWithToken(e.ctx, []byte("k"), []byte("v3"), nil, false, lb.Token)
	kvMust(t, err)
	kvMust(t, b.UnlockKey(e.ctx, id))
	kvWantValue(t, e.ctx, a, "k", "v3")
	// A released lock's token is a stale token too, even on an unlocked key.
	_, err = b.SetKeyWithToken(e.ctx, []byte("k"), []byte("x"), nil, false, lb.Token)
	kvWantErr(t, "set with a released token", err, client.ErrItemBusy)
	kvWantErr(t, "unlock of an unlocked key", b.UnlockKey(e.ctx, id), client.ErrItemNotBusy)
	// Without a token an unlocked key is anyone's, the former holder's included.
	_, err = a.SetKey(e.ctx, []byte("k"), []byte("v4"), nil, false)
	kvMust(t, err)
	kvWantValue(t, e.ctx, b, "k", "v4")
	kvWantInfo(t, e.ctx, a, 1, 0)
}

// A key locked on one stream is ITEM_BUSY for every change from another stream (reads
// still work); the holder changes it and releases it with delete.
func TestStorageE2EBusyFromSecondStreamAndReleaseDelete(t *testing.T) {
	e := kvStart(t)
	a, b := e.client(), e.client()
	id, err := a.SetKey(e.ctx, []byte("k"), []byte("v"), nil, false)
	kvMust(t, err)
	_, err = a.SetKey(e.ctx, []byte("free"), []byte("f"), nil, false)
	kvMust(t, err)
	lockedID, err := a.LockKey(e.ctx, []byte("k"), durationpb.New(time.Minute))
	kvMust(t, err)
	if lockedID != id {
		t.Fatalf("LockKey id %d, want %d", lockedID, id)
	}
	_, err = b.SetKey(e.ctx, []byte("k"), []byte("x"), nil, false)
	kvWantErr(t, "set from a second stream", err, client.ErrItemBusy)
	kvWantErr(t, "delete from a second stream", b.DeleteKey(e.ctx, []byte("k")), client.ErrItemBusy)
	_, err = b.LockKey(e.ctx, []byte("k"), nil)
	kvWantErr(t, "lock from a second stream", err, client.ErrItemBusy)
	kvWantErr(t, "unlock from a second stream", b.UnlockKey(e.ctx, id), client.ErrItemBusy)
	kvWantErr(t, "release+delete from a second stream", b.Release(e.ctx, id, true, 0), client.ErrItemBusy)
	_, err = a.LockKey(e.ctx, []byte("k"), nil)
	kvWantErr(t, "relock by the holder (locks are not reentrant)", err, client.ErrItemBusy)
	kvWantValue(t, e.ctx, b, "k", "v") // reads are not blocked
	kvWantInfo(t, e.ctx, b, 2, 1)
	// The other key is not affected.
	_, err = b.SetKey(e.ctx, []byte("free"), []byte("g"), nil, false)
	kvMust(t, err)

	// The holder's set keeps the lock.
	_, err = a.SetKey(e.ctx, []byte("k"), []byte("w"), nil, false)
	kvMust(t, err)
	_, err = b.SetKey(e.ctx, []byte("k"), []byte("x"), nil, false)
	kvWantErr(t, "set from a second stream after the holder's set", err, client.ErrItemBusy)
	kvWantValue(t, e.ctx, b, "k", "w")

	// Release with delete.
	kvMust(t, a.Release(e.ctx, id, true, 0))
	_, err = b.GetKey(e.ctx, []byte("k"))
	kvWantErr(t, "get after release+delete", err, client.ErrKeyNotFound)
	kvWantErr(t, "unlock after release+delete", a.UnlockKey(e.ctx, id), client.ErrItemNotFound)
	kvWantInfo(t, e.ctx, b, 1, 0)
	nid, err := b.SetKey(e.ctx, []byte("k"), []byte("new"), nil, false)
	kvMust(t, err)
	if nid == id {
		t.Fatal("a key re-created after release+delete kept its id")
	}

	// Delete by the holder ends the lock with the key.
	_, err = a.LockKey(e.ctx, []byte("k"), nil)
	kvMust(t, err)
	kvMust(t, a.DeleteKey(e.ctx, []byte("k")))
	kvWantInfo(t, e.ctx, b, 1, 0)
}

// Concurrent LockAny workers on a prefix get distinct keys, all of them, and nothing outside
// the prefix; a waiting LockAny gets a key that appears while it waits.
func TestStorageE2ELockAnyPrefix(t *testing.T) {
	const jobs, workers = 40, 8
	e := kvStart(t)
	setup := e.client()
	want := map[string]bool{}
	for i := 0; i < jobs; i++ {
		k := fmt.Sprintf("job/%02d", i)
		want[k] = true
		_, err := setup.SetKey(e.ctx, []byte(k), []byte("payload "+k), nil, false)
		kvMust(t, err)
	}
	for _, k := range []string{"jo", "job", "jobs/1", "other/1", "a"} {
		_, err := setup.SetKey(e.ctx, []byte(k), []byte("x"), nil, false)
		kvMust(t, err)
	}
	var (
		mu     sync.Mutex
		got    = map[string]int{}
		tokens = map[uint64]bool{}
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for w := 0; w < workers; w++ {
		c := e.client()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for {
					l, err := c.LockAnyToken(e.ctx, []byte("job/"), durationpb.New(time.Minute), 300*time.Millisecond)
					if errors.Is(err, client.ErrTimeout) {
						return nil
					}
					if err != nil {
						return err
					}
					if string(l.Value) != "payload "+string(l.Key) {
						return fmt.Errorf("locked %q with value %q", l.Key, l.Value)
					}
					mu.Lock()
					got[string(l.Key)]++
					tokens[l.Token] = true
					mu.Unlock()
				}
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		kvMust(t, err)
	}
	for k, n := range got {
		if !want[k] || n != 1 {
			t.Errorf("key %q locked %d times (in prefix: %v)", k, n, want[k])
		}
	}
	if len(got) != jobs || len(tokens) != jobs {
		t.Fatalf("%d distinct keys and %d distinct tokens locked, want %d", len(got), len(tokens), jobs)
	}
	kvWantInfo(t, e.ctx, setup, jobs+5, jobs)
	locked, err := setup.ListKeys(e.ctx, false)
	kvMust(t, err)
	if fmt.Sprintf("%q", locked) != `["a" "jo" "job" "jobs/1" "other/1"]` {
		t.Fatalf("unlocked keys %q", locked)
	}

	// A waiting LockAny takes a key that appears while it waits (well before its timeout).
	type res struct {
		l   *client.Lock
		err error
	}
	done := make(chan res, 1)
	waiter := e.client()
	start := time.Now()
	go func() {
		l, err := waiter.LockAnyToken(e.ctx, []byte("late/"), nil, 20*time.Second)
		done <- res{l, err}
	}()
	_, err = setup.SetKey(e.ctx, []byte("late/1"), []byte("L"), nil, false)
	kvMust(t, err)
	r := <-done
	kvMust(t, r.err)
	if string(r.l.Key) != "late/1" || time.Since(start) > 15*time.Second {
		t.Fatalf("waiting LockAny got %q after %v", r.l.Key, time.Since(start))
	}
}

// Paging over 10k keys with the client's Keys iterator (100 keys a page on one listing)
// returns each key exactly once, in key order, with and without locked keys.
func TestStorageE2EPaging10k(t *testing.T) {
	const n = 10000
	e := kvStart(t)
	s := e.client()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key/%05d", (i*7919)%n) // written out of order
	}
	sem := make(chan struct{}, 64)
	errs := make(chan error, n)
	for _, k := range keys {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := s.SetKey(e.ctx, []byte(k), []byte("v"), nil, false)
			errs <- err
		}()
	}
	for range n {
		kvMust(t, <-errs)
	}
	slices.Sort(keys)
	// Lock every 97th key.
	locked := map[string]bool{}
	for i := 0; i < n; i += 97 {
		_, err := s.LockKey(e.ctx, []byte(keys[i]), durationpb.New(time.Minute))
		kvMust(t, err)
		locked[keys[i]] = true
	}
	kvWantInfo(t, e.ctx, s, n, uint32(len(locked)))

	list := func(active bool) []string {
		var out []string
		for k, err := range s.Keys(e.ctx, active) {
			kvMust(t, err)
			out = append(out, string(k))
		}
		return out
	}
	all := list(true)
	if !slices.Equal(all, keys) {
		t.Fatalf("Keys(active included) listed %d keys (want %d), or not each once in order", len(all), n)
	}
	unlocked := list(false)
	var wantUnlocked []string
	for _, k := range keys {
		if !locked[k] {
			wantUnlocked = append(wantUnlocked, k)
		}
	}
	if !slices.Equal(unlocked, wantUnlocked) {
		t.Fatalf("Keys(unlocked) listed %d keys, want %d each once in order", len(unlocked), len(wantUnlocked))
	}
	// Two listings interleaved on one client do not disturb each other.
	var a, b []string
	nextA, stopA := iter.Pull2(s.Keys(e.ctx, true))
	defer stopA()
	pullA := func() bool {
		k, err, ok := nextA()
		kvMust(t, err)
		if ok {
			a = append(a, string(k))
		}
		return ok
	}
	for k, err := range s.Keys(e.ctx, false) {
		kvMust(t, err)
		b = append(b, string(k))
		pullA()
	}
	for pullA() {
	}
	if !slices.Equal(a, keys) || !slices.Equal(b, wantUnlocked) {
		t.Fatalf("interleaved listings: %d and %d keys, want %d and %d", len(a), len(b), n, len(wantUnlocked))
	}
}

// Compressed values read back unchanged through every read path.
func TestStorageE2ECompression(t *testing.T) {
	e := kvStart(t)
	s := e.client()
	big := bytes.Repeat([]byte("octopus compresses well; "), 4000) // ~100 kB
	id, err := s.SetKey(e.ctx, []byte("big"), big, nil, true)
	kvMust(t, err)
	_, err = s.SetKey(e.ctx, []byte("empty"), nil, nil, true)
	kvMust(t, err)
	v, err := s.GetKey(e.ctx, []byte("big"))
	kvMust(t, err)
	if !bytes.Equal(v, big) {
		t.Fatalf("GetKey of a compressed value: %d bytes, want %d", len(v), len(big))
	}
	kvs, err := s.GetKeys(e.ctx, []uint64{id})
	kvMust(t, err)
	if len(kvs) != 1 || !bytes.Equal(kvs[0].Value, big) {
		t.Fatal("GetKeys of a compressed value differs")
	}
	l, err := s.LockKeyToken(e.ctx, []byte("big"), nil, 0)
	kvMust(t, err)
	if !bytes.Equal(l.Value, big) {
		t.Fatal("LockKeyToken value of a compressed key differs")
	}
	kvMust(t, s.UnlockKey(e.ctx, id))
	_, k, err := s.LockAny(e.ctx, []byte("empty"), nil)
	kvMust(t, err)
	if string(k) != "empty" {
		t.Fatalf("LockAny = %q", k)
	}
	if v, err := s.GetKey(e.ctx, []byte("empty")); err != nil || len(v) != 0 {
		t.Fatalf("empty compressed value = %q, %v", v, err)
	}
	// Replaced uncompressed, read back uncompressed.
	_, err = s.SetKey(e.ctx, []byte("big"), []byte("plain"), nil, false)
	kvMust(t, err)
	kvWantValue(t, e.ctx, s, "big", "plain")
}

// A restart (from the log, or from a snapshot) keeps keys, ids, ttls, locks and the token
// and id counters; the client that holds a lock still holds it on its new stream.
func TestStorageE2ERestart(t *testing.T) {
	for _, snap := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snap), func(t *testing.T) {
			e := kvStart(t)
			a, b := e.client(), e.client()
			ida, err := a.SetKey(e.ctx, []byte("a"), []byte("A"), nil, false)
			kvMust(t, err)
			idb, err := a.SetKey(e.ctx, []byte("b"), []byte("B"), durationpb.New(time.Hour), true)
			kvMust(t, err)
			idx, err := a.SetKey(e.ctx, []byte("x"), []byte("X"), nil, false)
			kvMust(t, err)
			kvMust(t, a.DeleteKey(e.ctx, []byte("x")))
			la, err := a.LockKeyToken(e.ctx, []byte("a"), durationpb.New(time.Minute), 0)
			kvMust(t, err)
			lb, err := b.LockKeyToken(e.ctx, []byte("b"), durationpb.New(time.Minute), 0)
			kvMust(t, err)
			kvMust(t, b.UnlockKey(e.ctx, idb))
			if snap {
				kvMust(t, e.srv.Server().Node().Raft().Snapshot().Error())
			}

			e.srv.Restart(t)

			kvWantInfo(t, e.ctx, b, 2, 1) // the clients reconnect on their own
			got, err := b.GetKeys(e.ctx, []uint64{ida, idb, idx})
			kvMust(t, err)
			if len(got) != 2 || string(got[0].Key) != "a" || string(got[0].Value) != "A" ||
				string(got[1].Key) != "b" || string(got[1].Value) != "B" {
				t.Fatalf("GetKeys after restart = %+v", got)
			}
			// The lock survived: still busy for others, with the same token.
			_, err = b.LockKey(e.ctx, []byte("a"), nil)
			kvWantErr(t, "lock of a locked key after restart", err, client.ErrItemBusy)
			_, err = b.SetKey(e.ctx, []byte("a"), []byte("no"), nil, false)
			kvWantErr(t, "set of a locked key after restart", err, client.ErrItemBusy)
			// a's stream is a new session now: a is still the holder, by the token the
			// client remembered (README code keeps working across reconnects).
			_, err = a.SetKey(e.ctx, []byte("a"), []byte("A2"), nil, false)
			kvMust(t, err)
			// The token counter survived: a new lock gets a larger token than any before.
			lb2, err := b.LockKeyToken(e.ctx, []byte("b"), nil, 0)
			kvMust(t, err)
			if lb2.Token <= lb.Token || lb2.Token <= la.Token {
				t.Fatalf("token after restart %d, before %d and %d", lb2.Token, la.Token, lb.Token)
			}
			kvMust(t, a.UnlockKey(e.ctx, ida))
			kvMust(t, b.Release(e.ctx, idb, true, 0))
			// The id counter survived (the deleted key's id is not reused).
			idy, err := b.SetKey(e.ctx, []byte("y"), []byte("Y"), nil, false)
			kvMust(t, err)
			if idy <= idx {
				t.Fatalf("id after restart %d, not above %d", idy, idx)
			}
			kvWantValue(t, e.ctx, b, "a", "A2")
			kvWantInfo(t, e.ctx, b, 2, 0)
		})
	}
}

// Locks outlive the stream that took them: after Close, a new client without the token
// cannot release, with the token it can; the lock also runs out by its ttl.
func TestStorageE2ELockSurvivesClose(t *testing.T) {
	e := kvStart(t)
	a := e.client()
	id, err := a.SetKey(e.ctx, []byte("k"), []byte("v"), nil, false)
	kvMust(t, err)
	l, err := a.LockKeyToken(e.ctx, []byte("k"), durationpb.New(time.Minute), 0)
	kvMust(t, err)
	kvMust(t, a.Close())
	b := e.client()
	kvWantInfo(t, e.ctx, b, 1, 1)
	kvWantErr(t, "unlock without the token", b.UnlockKey(e.ctx, id), client.ErrItemBusy)
	kvMust(t, b.Release(e.ctx, id, false, l.Token))
	kvWantInfo(t, e.ctx, b, 1, 0)

	// A lock left to its ttl.
	_, err = b.LockKey(e.ctx, []byte("k"), ms(200))
	kvMust(t, err)
	c := e.client()
	kvEventually(t, "the lock runs out", func() bool {
		_, l, err := c.Info(e.ctx)
		kvMust(t, err)
		return l == 0
	})
	_, err = c.SetKey(e.ctx, []byte("k"), []byte("c"), nil, false)
	kvMust(t, err)
	kvWantValue(t, e.ctx, b, "k", "c")
}

// rawStorage is a StorageService stream driven by hand, one request at a time.
type rawStorage struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[pb.StorageRequest, pb.StorageResponse]
	corr   uint64
}

func kvRaw(t *testing.T, e *kvEnv) *rawStorage {
	t.Helper()
	conn := servertest.Dial(t, e.srv.Addr)
	stream, err := grpcpb.NewStorageServiceClient(conn).StorageConnect(e.ctx)
	kvMust(t, err)
	t.Cleanup(func() { stream.CloseSend() })
	return &rawStorage{t: t, stream: stream, corr: 100}
}

// do sends one request (a fresh correlation id) and returns its answer.
func (r *rawStorage) do(req *pb.StorageRequest) *pb.StorageResponse {
	r.t.Helper()
	r.corr++
	req.CorrelationId = r.corr
	kvMust(r.t, r.stream.Send(req))
	resp, err := r.stream.Recv()
	kvMust(r.t, err)
	if resp.GetCorrelationId() != r.corr {
		r.t.Fatalf("answer to correlation id %d carries %d", r.corr, resp.GetCorrelationId())
	}
	return resp
}

// status sends req and checks its status answer's code and that its message names msgPart.
func (r *rawStorage) status(what string, req *pb.StorageRequest, code pb.StatusCode, msgPart string) *pb.StatusResponse {
	r.t.Helper()
	st := r.do(req).GetStatus()
	if st == nil || st.GetCode() != code || !strings.Contains(st.GetMessage(), msgPart) {
		r.t.Fatalf("%s: got status %v, want %v with a message naming %q", what, st, code, msgPart)
	}
	return st
}

func kvSetup(name string) *pb.StorageRequest {
	return &pb.StorageRequest{Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: name}}}
}

func kvNoop() *pb.StorageRequest {
	return &pb.StorageRequest{Command: &pb.StorageRequest_Noop{Noop: &pb.NoopRequest{}}}
}

func kvSet(key []byte, value string) *pb.StorageRequest {
	return &pb.StorageRequest{Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: key, Value: []byte(value)}}}
}

// Bad input over the raw stream gets the exact status, with a message naming the problem,
// and the stream keeps working after each.
func TestStorageBadInputRawStream(t *testing.T) {
	const maxValue = 64 << 10
	e := kvStart(t, servertest.WithMaxValueBytes(maxValue))
	r := kvRaw(t, e)
	OK := pb.StatusCode_STATUS_CODE_OK

	// Setup phase: the stream waits for a valid setup.
	r.status("wrong first command", kvNoop(), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "setup")
	r.status("wrong first command (get)", &pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{Key: []byte("k")}}},
		pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "setup")
	r.status("unknown storage", kvSetup("nope"), pb.StatusCode_STATUS_CODE_STORAGE_NOT_FOUND, "nope")
	r.status("invalid storage name", kvSetup("no such!"), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "storage_name")
	r.status("empty storage name", kvSetup(""), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "storage_name")
	r.status("setup", kvSetup("kv"), OK, "")

	setOK := r.status("set", kvSet([]byte("k"), "v"), OK, "")
	if setOK.GetId() == 0 {
		t.Fatal("set answered no id")
	}
	key1024 := bytes.Repeat([]byte("k"), 1024)
	r.status("1024-byte key", kvSet(key1024, "v"), OK, "")
	unlocked := setOK.GetId()

	long := bytes.Repeat([]byte("k"), 1025)
	neg := durationpb.New(-time.Second)
	cases := []struct {
		name string
		req  *pb.StorageRequest
		code pb.StatusCode
		msg  string
	}{
		{"set with an empty key", kvSet(nil, "v"), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"set with a 1025-byte key", kvSet(long, "v"), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"get with an empty key", &pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"get with a 1025-byte key", &pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{Key: long}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"delete with an empty key", &pb.StorageRequest{Command: &pb.StorageRequest_Delete{Delete: &pb.StorageDeleteRequest{}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"lock_key with a 1025-byte key", &pb.StorageRequest{Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{Key: long}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "key"},
		{"set with a negative ttl", &pb.StorageRequest{Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: []byte("k"), Ttl: neg}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "ttl"},
		{"set with a negative delay", &pb.StorageRequest{Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: []byte("k"), Delay: neg}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "delay"},
		{"set of a too large value", kvSet([]byte("k"), strings.Repeat("v", maxValue+1)),
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "value"},
		{"lock_key with a negative lock_ttl", &pb.StorageRequest{Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{Key: []byte("k"), LockTtl: neg}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "lock_ttl"},
		{"setup again", kvSetup("kv"), pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "already"},
		{"no command", &pb.StorageRequest{}, pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "command"},
		{"get of a missing key", &pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{Key: []byte("missing")}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "missing"},
		{"delete of a missing key", &pb.StorageRequest{Command: &pb.StorageRequest_Delete{Delete: &pb.StorageDeleteRequest{Key: []byte("missing")}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "missing"},
		{"lock_key of a missing key", &pb.StorageRequest{Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{Key: []byte("missing")}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, "missing"},
		{"release of an unknown id", &pb.StorageRequest{Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{Id: 1 << 50}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND, fmt.Sprint(uint64(1 << 50))},
		{"release of an unlocked id", &pb.StorageRequest{Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{Id: unlocked}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "not locked"},
		{"release+delete of an unlocked id", &pb.StorageRequest{Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{Id: unlocked, Delete: true}}},
			pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, "not locked"},
		{"get_keys_next without get_keys", &pb.StorageRequest{Command: &pb.StorageRequest_GetKeysNext{GetKeysNext: &pb.StorageGetKeysNextRequest{}}},
			pb.StatusCode_STATUS_CODE_INVALID_ARGUMENT, "get_keys"},
		{"set with a token on an absent key", &pb.StorageRequest{Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{Key: []byte("absent"), LockToken: 7}}},
			pb.StatusCode_STATUS_CODE_ITEM_BUSY, "token"},
		{"lock_any with nothing to lock", &pb.StorageRequest{Command: &pb.StorageRequest_LockAnyWithId{LockAnyWithId: &pb.StorageLockAnyWithIdRequest{KeyPrefix: []byte("none/"), Timeout: ms(50)}}},
			pb.StatusCode_STATUS_CODE_TIMEOUT, ""},
	}
	for _, c := range cases {
		r.status(c.name, c.req, c.code, c.msg)
		// The stream keeps working.
		r.status(c.name+": noop after", kvNoop(), OK, "")
		if d := r.do(&pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{Key: []byte("k")}}}).GetDataResponse(); string(d.GetValue()) != "v" {
			t.Fatalf("%s: get after = %v", c.name, d)
		}
	}
	// Nothing was changed by the refused requests.
	info := r.do(&pb.StorageRequest{Command: &pb.StorageRequest_GetInfo{GetInfo: &pb.StorageGetInfoRequest{}}}).GetGetInfoResponse()
	if info.GetCount() != 2 || info.GetActive() != 0 {
		t.Fatalf("info after bad input = %v, want 2 keys, 0 locked", info)
	}
}
