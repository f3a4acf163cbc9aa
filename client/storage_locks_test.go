package client

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// tokenServer is a fake storage that grants locks (key "k" and any other key by name: id 42;
// lock-any: "job/1", id 7) and records the lock_token each set / delete / release carried;
// fail, when set, answers those with that status code instead.
type tokenServer struct {
	mu   sync.Mutex
	sent []string // "set k 9", "delete k 0", "release 42 9"
	fail pb.StatusCode
	tok  uint64 // the last token granted
}

func (ts *tokenServer) handle(send func(*pb.StorageResponse), req *pb.StorageRequest) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	resp := &pb.StorageResponse{CorrelationId: req.GetCorrelationId()}
	ok := &pb.StorageResponse_Status{Status: &pb.StatusResponse{}}
	switch c := req.GetCommand().(type) {
	case *pb.StorageRequest_LockKey:
		ts.tok++
		resp.Response = &pb.StorageResponse_DataResponse{DataResponse: &pb.StorageDataResponse{
			Id: 42, Key: c.LockKey.GetKey(), LockToken: 100 + ts.tok}}
	case *pb.StorageRequest_LockAnyWithId:
		ts.tok++
		resp.Response = &pb.StorageResponse_DataResponse{DataResponse: &pb.StorageDataResponse{
			Id: 7, Key: []byte("job/1"), LockToken: 100 + ts.tok}}
	case *pb.StorageRequest_Set:
		ts.sent = append(ts.sent, fmt.Sprintf("set %s %d", c.Set.GetKey(), c.Set.GetLockToken()))
		resp.Response = ok
	case *pb.StorageRequest_Delete:
		ts.sent = append(ts.sent, fmt.Sprintf("delete %s %d", c.Delete.GetKey(), c.Delete.GetLockToken()))
		resp.Response = ok
	case *pb.StorageRequest_ReleaseId:
		ts.sent = append(ts.sent, fmt.Sprintf("release %d %d", c.ReleaseId.GetId(), c.ReleaseId.GetLockToken()))
		resp.Response = ok
	default:
		resp.Response = ok
	}
	if ts.fail != 0 && resp.GetStatus() != nil {
		resp.Response = &pb.StorageResponse_Status{Status: &pb.StatusResponse{Code: ts.fail, Message: "scripted"}}
	}
	send(resp)
}

// last returns the last recorded request.
func (ts *tokenServer) last() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.sent) == 0 {
		return ""
	}
	return ts.sent[len(ts.sent)-1]
}

func (ts *tokenServer) failWith(code pb.StatusCode) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.fail = code
}

func startTokenServer(t *testing.T) (*tokenServer, *StorageClient) {
	t.Helper()
	ts := &tokenServer{}
	f := &fakeStorage{handle: ts.handle}
	addr, _ := serve(t, "", func(s *grpc.Server) { grpcpb.RegisterStorageServiceServer(s, f) })
	s, err := NewStorageClient(addr, "st")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ts, s
}

// The client sends the token of a lock it was granted with UnlockKey, Release, DeleteKey
// and SetKey of that key, and forgets it once the lock is released or the key deleted.
func TestStorageLockTokensRemembered(t *testing.T) {
	ts, s := startTokenServer(t)
	ctx := testCtx(t)
	step := func(what string, err error, want string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := ts.last(); got != want {
			t.Fatalf("%s sent %q, want %q", what, got, want)
		}
	}
	_, err := s.SetKey(ctx, []byte("k"), nil, nil, false)
	step("SetKey before any lock", err, "set k 0")
	l, err := s.LockKeyToken(ctx, []byte("k"), nil, 0)
	if err != nil || l.ID != 42 {
		t.Fatal(l, err)
	}
	tok := l.Token
	_, err = s.SetKey(ctx, []byte("k"), nil, nil, false)
	step("SetKey of the locked key", err, fmt.Sprint("set k ", tok))
	_, err = s.SetKey(ctx, []byte("other"), nil, nil, false)
	step("SetKey of another key", err, "set other 0")
	_, err = s.Set(ctx, []byte("k"), nil, SetOptions{LockToken: 5})
	step("Set with an explicit token", err, "set k 5")
	step("UnlockKey", s.UnlockKey(ctx, 42), fmt.Sprint("release 42 ", tok))
	step("UnlockKey again (forgotten)", s.UnlockKey(ctx, 42), "release 42 0")
	_, err = s.SetKey(ctx, []byte("k"), nil, nil, false)
	step("SetKey after unlock", err, "set k 0")

	// LockAny; release with delete; delete.
	id, key, err := s.LockAny(ctx, []byte("job/"), nil)
	if err != nil || id != 7 || string(key) != "job/1" {
		t.Fatal(id, key, err)
	}
	tok7 := s.locks.byIDToken(7)
	if tok7 == 0 {
		t.Fatal("LockAny's token not remembered")
	}
	step("Release with delete", s.Release(ctx, 7, true, 0), fmt.Sprint("release 7 ", tok7))
	step("DeleteKey after release", s.DeleteKey(ctx, []byte("job/1")), "delete job/1 0")
	l, err = s.LockKeyToken(ctx, []byte("k"), durationpb.New(time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	step("DeleteKey of the locked key", s.DeleteKey(ctx, []byte("k")), fmt.Sprint("delete k ", l.Token))
	step("UnlockKey after the delete", s.UnlockKey(ctx, 42), "release 42 0")
}

// A token the server refuses is forgotten; an explicit wrong token does not make the client
// forget its own.
func TestStorageLockTokensForgottenWhenRefused(t *testing.T) {
	for _, code := range []pb.StatusCode{pb.StatusCode_STATUS_CODE_ITEM_BUSY, pb.StatusCode_STATUS_CODE_ITEM_NOT_BUSY, pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND} {
		t.Run(code.String(), func(t *testing.T) {
			ts, s := startTokenServer(t)
			ctx := testCtx(t)
			l, err := s.LockKeyToken(ctx, []byte("k"), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ts.failWith(pb.StatusCode_STATUS_CODE_ITEM_BUSY)
			// An explicit token that is not ours: refused, ours is kept.
			if err := s.Release(ctx, 42, false, l.Token+1000); !errors.Is(err, ErrItemBusy) {
				t.Fatal(err)
			}
			if got := s.locks.byIDToken(42); got != l.Token {
				t.Fatalf("remembered token %d after a refused foreign token, want %d", got, l.Token)
			}
			ts.failWith(code)
			if err := s.UnlockKey(ctx, 42); err == nil {
				t.Fatal("scripted failure not reported")
			}
			if want := fmt.Sprint("release 42 ", l.Token); ts.last() != want {
				t.Fatalf("sent %q, want %q", ts.last(), want)
			}
			if got := s.locks.byIDToken(42); got != 0 {
				t.Fatalf("token %d still remembered after %v", got, code)
			}
			if got := s.locks.byKeyToken([]byte("k")); got != 0 {
				t.Fatalf("token %d still remembered by key after %v", got, code)
			}
		})
	}
	t.Run("set refused", func(t *testing.T) {
		ts, s := startTokenServer(t)
		ctx := testCtx(t)
		if _, err := s.LockKey(ctx, []byte("k"), nil); err != nil {
			t.Fatal(err)
		}
		ts.failWith(pb.StatusCode_STATUS_CODE_ITEM_BUSY)
		if _, err := s.SetKey(ctx, []byte("k"), nil, nil, false); !errors.Is(err, ErrItemBusy) {
			t.Fatal(err)
		}
		ts.failWith(0)
		if _, err := s.SetKey(ctx, []byte("k"), nil, nil, false); err != nil || ts.last() != "set k 0" {
			t.Fatalf("SetKey after a refused token sent %q, %v", ts.last(), err)
		}
	})
}

// A remembered lock ends with its lock ttl on the local clock.
func TestStorageLockTokensExpire(t *testing.T) {
	ts, s := startTokenServer(t)
	ctx := testCtx(t)
	l, err := s.LockKeyToken(ctx, []byte("k"), durationpb.New(50*time.Millisecond), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.locks.byKeyToken([]byte("k")) != l.Token {
		t.Fatal("token not remembered")
	}
	time.Sleep(60 * time.Millisecond) // the lock ttl passes
	if _, err := s.SetKey(ctx, []byte("k"), nil, nil, false); err != nil || ts.last() != "set k 0" {
		t.Fatalf("SetKey after the lock ttl sent %q, %v", ts.last(), err)
	}
}

// heldLocks keeps the newest grant per key and id, forgets only what is not newer, and
// sweeps expired locks so that the memory stays bounded.
func TestStorageHeldLocks(t *testing.T) {
	var h heldLocks
	h.add(&Lock{ID: 1, Key: []byte("a"), Token: 5}, time.Minute)
	h.add(&Lock{ID: 1, Key: []byte("a"), Token: 3}, time.Minute) // an older grant answered late
	if got := h.byIDToken(1); got != 5 {
		t.Fatalf("token %d, want the newest 5", got)
	}
	h.forgetID(1, 4)
	if got := h.byKeyToken([]byte("a")); got != 5 {
		t.Fatalf("forgetting token 4 dropped the newer 5 (now %d)", got)
	}
	// The key re-created under a new id and locked again: the old id is forgotten.
	h.add(&Lock{ID: 2, Key: []byte("a"), Token: 8}, time.Minute)
	if h.byIDToken(1) != 0 || h.byIDToken(2) != 8 || h.byKeyToken([]byte("a")) != 8 {
		t.Fatalf("after re-lock under a new id: id1 %d id2 %d key %d", h.byIDToken(1), h.byIDToken(2), h.byKeyToken([]byte("a")))
	}
	h.forgetKey([]byte("a"), 8)
	if h.byIDToken(2) != 0 {
		t.Fatal("forgetKey left the id entry")
	}
	h.add(&Lock{ID: 3, Key: []byte("z"), Token: 0}, time.Minute) // no token: nothing to remember
	if h.byIDToken(3) != 0 {
		t.Fatal("a lock without token remembered")
	}
	// Many locks left to expire: the maps do not grow without bound.
	for i := 0; i < 10*minSweep; i++ {
		h.add(&Lock{ID: uint64(100 + i), Key: []byte(fmt.Sprint("k", i)), Token: uint64(100 + i)}, time.Nanosecond)
	}
	h.add(&Lock{ID: 99, Key: []byte("live"), Token: 10000}, time.Minute)
	h.mu.Lock()
	n := len(h.byID)
	h.mu.Unlock()
	if n > 2*minSweep {
		t.Fatalf("%d locks remembered after all but one expired", n)
	}
	if h.byKeyToken([]byte("live")) != 10000 {
		t.Fatal("the live lock was swept")
	}
}
