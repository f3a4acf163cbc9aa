package client

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// KeyValue is one stored key.
type KeyValue struct {
	// ID is the key's id: assigned when the key is created, kept across updates.
	ID    uint64
	Key   []byte
	Value []byte
}

// Lock is a granted lock on a key.
type Lock struct {
	// ID is the key's id (for UnlockKey / Release).
	ID    uint64
	Key   []byte
	Value []byte
	// Token is the lock's fencing token: strictly increasing across the cluster for every
	// lock granted. The client that was granted the lock sends it by itself; pass it to
	// SetKeyWithToken / DeleteKeyWithToken / Release to act on the key from another
	// client. A stale token (the lock ran out or was released) is refused with ErrItemBusy.
	Token uint64
}

// SetOptions are the optional parts of Set.
type SetOptions struct {
	// TTL: the key expires TTL after this set; nil or 0: never.
	TTL *durationpb.Duration
	// Delay: the key cannot be taken by LockAny before Delay has passed.
	Delay *durationpb.Duration
	// Compress stores the value compressed (transparent to readers).
	Compress bool
	// LockToken is the current lock token, to change a key locked by another client.
	LockToken uint64
}

// StorageClient reads, writes and locks the keys of one storage over one multiplexed
// stream. It is safe for concurrent use.
//
// A locked key changes only through its holder: the stream that locked it, or a request
// carrying the lock's fencing token. Locks outlive streams (they last until released or
// their TTL runs out), so the client remembers the token of every lock it was granted and
// sends it by itself with UnlockKey, Release, DeleteKey and SetKey of that key: the client
// stays the holder across reconnects. It forgets a token when the lock is released or the
// key deleted, when the server refuses it (the lock is gone), and once the lock's TTL has
// passed on the local clock; from then on the lock has to be taken again.
type StorageClient struct {
	m     *mux[pb.StorageRequest, pb.StorageResponse]
	o     *options
	locks heldLocks
}

// heldLocks is what a StorageClient remembers of the locks it was granted: id → token and
// key → token. Tokens are strictly increasing, so an entry is only ever replaced by a newer
// grant, and forgetting is "forget this lock unless a newer one was granted meanwhile".
type heldLocks struct {
	mu      sync.Mutex
	byID    map[uint64]*heldLock
	byKey   map[string]*heldLock
	sweepAt int // sweep expired entries when byID reaches this size
}

type heldLock struct {
	id    uint64
	key   string
	token uint64
	until time.Time // the lock's end on the local clock (not before the server's, drift aside)
}

// minSweep is the smallest map size at which expired remembered locks are swept.
const minSweep = 64

// add remembers a granted lock: l.Token, for ttl from now.
func (h *heldLocks) add(l *Lock, ttl time.Duration) {
	if l == nil || l.Token == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID == nil {
		h.byID, h.byKey, h.sweepAt = map[uint64]*heldLock{}, map[string]*heldLock{}, minSweep
	}
	// The response arrives after the server started the lock: now + ttl is no earlier
	// than the server's end of the lock.
	now := time.Now()
	e := &heldLock{id: l.ID, key: string(l.Key), token: l.Token, until: now.Add(ttl)}
	if old := h.byID[e.id]; old != nil && old.token > e.token {
		return // a newer grant already answered
	}
	if old := h.byKey[e.key]; old != nil && old.token > e.token {
		return
	}
	h.drop(h.byID[e.id])
	h.drop(h.byKey[e.key])
	h.byID[e.id], h.byKey[e.key] = e, e
	if len(h.byID) >= h.sweepAt {
		for _, x := range h.byID {
			if !now.Before(x.until) {
				h.drop(x)
			}
		}
		h.sweepAt = max(minSweep, 2*len(h.byID))
	}
}

// drop removes e (nil: nothing) from both maps.
func (h *heldLocks) drop(e *heldLock) {
	if e == nil {
		return
	}
	if h.byID[e.id] == e {
		delete(h.byID, e.id)
	}
	if h.byKey[e.key] == e {
		delete(h.byKey, e.key)
	}
}

// live returns e when its lock may still be current, dropping it otherwise.
func (h *heldLocks) live(e *heldLock) *heldLock {
	if e != nil && !time.Now().Before(e.until) {
		h.drop(e)
		return nil
	}
	return e
}

// byIDToken is the remembered token of the lock on key id (0: none).
func (h *heldLocks) byIDToken(id uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.live(h.byID[id]); e != nil {
		return e.token
	}
	return 0
}

// byKeyToken is the remembered token of the lock on key (0: none).
func (h *heldLocks) byKeyToken(key []byte) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.live(h.byKey[string(key)]); e != nil {
		return e.token
	}
	return 0
}

// forgetID forgets the lock on key id unless it is newer than token.
func (h *heldLocks) forgetID(id, token uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.byID[id]; e != nil && e.token <= token {
		h.drop(e)
	}
}

// forgetKey forgets the lock on key unless it is newer than token.
func (h *heldLocks) forgetKey(key []byte, token uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.byKey[string(key)]; e != nil && e.token <= token {
		h.drop(e)
	}
}

// settle updates what is remembered after a request on a key that sent token `sent` while
// the client remembered `held` (both 0 when none), ending the lock on success when ends.
// forget(t) forgets the remembered lock unless it is newer than t.
func settle(err error, ends bool, sent, held uint64, forget func(uint64)) {
	switch {
	case err == nil:
		if ends {
			forget(max(sent, held)) // the current lock was one of these, and it is over
		}
	case errors.Is(err, ErrItemNotFound), errors.Is(err, ErrItemNotBusy):
		forget(held) // no such key, or not locked: the remembered lock is gone
	case errors.Is(err, ErrItemBusy):
		if sent != 0 && sent == held {
			forget(held) // the remembered token was refused: stale
		}
	}
}

// lockTTL is the lock duration the server applies for a requested ttl.
func lockTTL(ttl *durationpb.Duration) time.Duration {
	if d := ttl.AsDuration(); ttl != nil && d > 0 {
		return d
	}
	return defaultLockTTL
}

// defaultLockTTL is the server's lock duration when a request gives none.
const defaultLockTTL = 60 * time.Second

var storageProtocol = protocol[pb.StorageRequest, pb.StorageResponse]{
	kind:    "storage",
	storage: true,
	open: func(ctx context.Context, cc grpc.ClientConnInterface) (grpc.BidiStreamingClient[pb.StorageRequest, pb.StorageResponse], error) {
		return grpcpb.NewStorageServiceClient(cc).StorageConnect(ctx)
	},
	setup: func(id uint64, name string) *pb.StorageRequest {
		return &pb.StorageRequest{CorrelationId: id, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: name}}}
	},
	noop: func(id uint64) *pb.StorageRequest {
		return &pb.StorageRequest{CorrelationId: id, Command: &pb.StorageRequest_Noop{Noop: &pb.NoopRequest{}}}
	},
	respID: (*pb.StorageResponse).GetCorrelationId,
	status: (*pb.StorageResponse).GetStatus,
}

// NewStorageClient returns a client of storage at target ("host:port", or several separated
// by commas). Unless WithLazyConnect is given it connects first, waiting up to the connect
// timeout: an error wrapping ErrStorageNotFound means the storage does not exist.
func NewStorageClient(target, storage string, opts ...Option) (*StorageClient, error) {
	o := buildOptions(opts)
	m, err := newMux(storageProtocol, target, storage, o)
	if err != nil {
		return nil, err
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return &StorageClient{m: m, o: o}, nil
}

// Close closes the stream and its connections; requests in flight fail with ErrClosed.
// Locks are not released: they last until their TTL runs out.
func (s *StorageClient) Close() error { return s.m.close() }

type storageCall = callOpts[pb.StorageRequest, pb.StorageResponse]

// do sends the command of tmpl (a fresh request with its correlation id per attempt).
func (s *StorageClient) do(ctx context.Context, read bool, tmpl *pb.StorageRequest) (*pb.StorageResponse, error) {
	resp, _, _, err := s.m.call(ctx, func(id uint64) *pb.StorageRequest {
		return &pb.StorageRequest{CorrelationId: id, Command: tmpl.Command}
	}, storageCall{read: read})
	return resp, err
}

// SetKey creates or replaces key with value, expiring ttl after this set (nil: never), and
// returns the key's id.
func (s *StorageClient) SetKey(ctx context.Context, key, value []byte, ttl *durationpb.Duration, compress bool) (uint64, error) {
	return s.Set(ctx, key, value, SetOptions{TTL: ttl, Compress: compress})
}

// SetKeyWithToken is SetKey on a key locked by another client, proving the lock with its
// token.
func (s *StorageClient) SetKeyWithToken(ctx context.Context, key, value []byte, ttl *durationpb.Duration, compress bool, token uint64) (uint64, error) {
	return s.Set(ctx, key, value, SetOptions{TTL: ttl, Compress: compress, LockToken: token})
}

// Set creates or replaces key with value and returns the key's id. A key locked by another
// holder fails with ErrItemBusy unless o.LockToken is the lock's token. Without
// o.LockToken, the token of a lock this client holds on key is sent.
func (s *StorageClient) Set(ctx context.Context, key, value []byte, o SetOptions) (uint64, error) {
	held := s.locks.byKeyToken(key)
	token := o.LockToken
	if token == 0 {
		token = held
	}
	resp, err := s.do(ctx, false, &pb.StorageRequest{Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{
		Key: key, Value: value, Ttl: o.TTL, Compress: o.Compress, Delay: o.Delay, LockToken: token,
	}}})
	if err != nil {
		settle(err, false, token, held, func(t uint64) { s.locks.forgetKey(key, t) })
		return 0, err
	}
	st := resp.GetStatus()
	if st == nil {
		return 0, unexpected("set", resp.GetResponse())
	}
	return st.GetId(), nil
}

// GetKey returns the value of key; ErrKeyNotFound (also matching ErrItemNotFound) when the
// key does not exist.
func (s *StorageClient) GetKey(ctx context.Context, key []byte) ([]byte, error) {
	kv, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return kv.Value, nil
}

// Get returns key with its id and value.
func (s *StorageClient) Get(ctx context.Context, key []byte) (*KeyValue, error) {
	resp, err := s.do(ctx, true, &pb.StorageRequest{Command: &pb.StorageRequest_Get{Get: &pb.StorageGetRequest{Key: key}}})
	if err != nil {
		return nil, err
	}
	d := resp.GetDataResponse()
	if d == nil {
		return nil, unexpected("get", resp.GetResponse())
	}
	return &KeyValue{ID: d.GetId(), Key: d.GetKey(), Value: d.GetValue()}, nil
}

// GetKeys returns the keys with the given ids that exist, in request order.
func (s *StorageClient) GetKeys(ctx context.Context, ids []uint64) ([]*KeyValue, error) {
	if len(ids) == 0 {
		return []*KeyValue{}, nil
	}
	resp, err := s.do(ctx, true, &pb.StorageRequest{Command: &pb.StorageRequest_GetByIds{GetByIds: &pb.StorageGetByIdsRequest{Ids: ids}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetItemsResponse()
	if r == nil {
		return nil, unexpected("get by ids", resp.GetResponse())
	}
	out := make([]*KeyValue, 0, len(r.GetItems()))
	for _, d := range r.GetItems() {
		out = append(out, &KeyValue{ID: d.GetId(), Key: d.GetKey(), Value: d.GetValue()})
	}
	return out, nil
}

// LockKey locks key for ttl (nil: 60 s) and returns the key's id; the client remembers the
// lock's token (see StorageClient). While the key is locked by
// another holder it waits up to the lock timeout (WithLockTimeout, default 0), then fails
// with ErrItemBusy; a missing key fails with ErrKeyNotFound.
func (s *StorageClient) LockKey(ctx context.Context, key []byte, ttl *durationpb.Duration) (uint64, error) {
	l, err := s.LockKeyToken(ctx, key, ttl, s.o.lockTimeout)
	if err != nil {
		return 0, err
	}
	return l.ID, nil
}

// LockKeyToken locks key for ttl, waiting up to timeout while another holder has it, and
// returns the lock with its fencing token.
func (s *StorageClient) LockKeyToken(ctx context.Context, key []byte, ttl *durationpb.Duration, timeout time.Duration) (*Lock, error) {
	resp, err := s.do(ctx, false, &pb.StorageRequest{Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{
		Key: key, LockTtl: ttl, Timeout: waitDuration(ctx, timeout),
	}}})
	l, err := lockFrom("lock key", resp, err)
	s.locks.add(l, lockTTL(ttl))
	return l, err
}

// LockAny locks some unlocked key starting with prefix (any key when empty) for ttl (nil:
// 60 s) and returns its id and key. It waits up to the lock-any timeout (WithLockAnyTimeout,
// default 30 s, shortened to ctx's deadline), then fails with ErrTimeout.
func (s *StorageClient) LockAny(ctx context.Context, prefix []byte, ttl *durationpb.Duration) (id uint64, key []byte, err error) {
	l, err := s.LockAnyToken(ctx, prefix, ttl, s.o.lockAnyTimeout)
	if err != nil {
		return 0, nil, err
	}
	return l.ID, l.Key, nil
}

// LockAnyToken is LockAny with an explicit wait, returning the lock with its value and
// fencing token.
func (s *StorageClient) LockAnyToken(ctx context.Context, prefix []byte, ttl *durationpb.Duration, timeout time.Duration) (*Lock, error) {
	resp, err := s.do(ctx, false, &pb.StorageRequest{Command: &pb.StorageRequest_LockAnyWithId{LockAnyWithId: &pb.StorageLockAnyWithIdRequest{
		Timeout: waitDuration(ctx, timeout), KeyPrefix: prefix, LockTtl: ttl,
	}}})
	l, err := lockFrom("lock any", resp, err)
	s.locks.add(l, lockTTL(ttl))
	return l, err
}

func lockFrom(op string, resp *pb.StorageResponse, err error) (*Lock, error) {
	if err != nil {
		return nil, err
	}
	d := resp.GetDataResponse()
	if d == nil {
		return nil, unexpected(op, resp.GetResponse())
	}
	return &Lock{ID: d.GetId(), Key: d.GetKey(), Value: d.GetValue(), Token: d.GetLockToken()}, nil
}

// UnlockKey releases this client's lock on the key with id: ErrItemNotBusy when it is not
// locked, ErrItemNotFound when there is no such key, ErrItemBusy when the lock is not this
// client's (another holder's, or this client's lock ran out and was granted again).
func (s *StorageClient) UnlockKey(ctx context.Context, id uint64) error {
	return s.Release(ctx, id, false, 0)
}

// Release releases the lock on the key with id, deleting the key when del is set. Only the
// holder may: with token 0 the client sends the token of its own lock on id, a non-zero
// token must be the lock's current token (it lets another client release the lock).
// Otherwise ErrItemBusy; ErrItemNotBusy when the key is not locked, ErrItemNotFound when
// there is no such key.
func (s *StorageClient) Release(ctx context.Context, id uint64, del bool, token uint64) error {
	held := s.locks.byIDToken(id)
	if token == 0 {
		token = held
	}
	_, err := s.do(ctx, false, &pb.StorageRequest{Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{
		Id: id, Delete: del, LockToken: token,
	}}})
	settle(err, true, token, held, func(t uint64) { s.locks.forgetID(id, t) })
	return err
}

// DeleteKey deletes key (ErrItemBusy when another holder has it locked). The token of a
// lock this client holds on key is sent.
func (s *StorageClient) DeleteKey(ctx context.Context, key []byte) error {
	return s.DeleteKeyWithToken(ctx, key, 0)
}

// DeleteKeyWithToken deletes a key locked by another client, proving the lock with its token
// (0: the token of a lock this client holds on key, if any).
func (s *StorageClient) DeleteKeyWithToken(ctx context.Context, key []byte, token uint64) error {
	held := s.locks.byKeyToken(key)
	if token == 0 {
		token = held
	}
	_, err := s.do(ctx, false, &pb.StorageRequest{Command: &pb.StorageRequest_Delete{Delete: &pb.StorageDeleteRequest{
		Key: key, LockToken: token,
	}}})
	settle(err, true, token, held, func(t uint64) { s.locks.forgetKey(key, t) })
	return err
}

// Info returns the number of keys and of locked keys.
func (s *StorageClient) Info(ctx context.Context) (count, locked uint32, err error) {
	resp, err := s.do(ctx, true, &pb.StorageRequest{Command: &pb.StorageRequest_GetInfo{GetInfo: &pb.StorageGetInfoRequest{}}})
	if err != nil {
		return 0, 0, err
	}
	r := resp.GetGetInfoResponse()
	if r == nil {
		return 0, 0, unexpected("get info", resp.GetResponse())
	}
	return r.GetCount(), r.GetActive(), nil
}

// Keys iterates over the storage's keys (locked ones too when activeIncluded), fetching them
// page by page. An error ends the iteration (yielded with a nil key); a listing cut by a lost
// connection fails with ErrConnectionLost rather than resuming.
//
//	for key, err := range sClient.Keys(ctx, true) {
//		if err != nil { … }
//	}
func (s *StorageClient) Keys(ctx context.Context, activeIncluded bool) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		// The listing lives on the stream: get_keys_next goes on the same stream with the
		// correlation id of the get_keys that began it.
		resp, sess, id, err := s.m.call(ctx, func(id uint64) *pb.StorageRequest {
			return &pb.StorageRequest{CorrelationId: id, Command: &pb.StorageRequest_GetKeys{
				GetKeys: &pb.StorageGetKeysRequest{ActiveIncluded: activeIncluded},
			}}
		}, storageCall{read: true})
		for {
			if err != nil {
				yield(nil, err)
				return
			}
			page := resp.GetGetKeysResponse()
			if page == nil {
				yield(nil, unexpected("get keys", resp.GetResponse()))
				return
			}
			for _, k := range page.GetKeys() {
				if !yield(k, nil) {
					return
				}
			}
			if !page.GetMore() {
				return
			}
			resp, _, _, err = s.m.call(ctx, func(id uint64) *pb.StorageRequest {
				return &pb.StorageRequest{CorrelationId: id, Command: &pb.StorageRequest_GetKeysNext{
					GetKeysNext: &pb.StorageGetKeysNextRequest{},
				}}
			}, storageCall{pinned: sess, id: id})
		}
	}
}

// ListKeys returns all keys (locked ones too when activeIncluded).
func (s *StorageClient) ListKeys(ctx context.Context, activeIncluded bool) ([][]byte, error) {
	keys := [][]byte{}
	for k, err := range s.Keys(ctx, activeIncluded) {
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Ping sends a noop and waits for its answer.
func (s *StorageClient) Ping(ctx context.Context) error {
	_, err := s.do(ctx, true, &pb.StorageRequest{Command: &pb.StorageRequest_Noop{Noop: &pb.NoopRequest{}}})
	return err
}
