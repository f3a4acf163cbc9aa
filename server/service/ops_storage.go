package service

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/raftnode"
	"github.com/clbs-io/octopusmq/server/state"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// Storage operations shared by the stream (StorageService) and the unary data plane.

// setOp creates or replaces a key and returns its id.
func (s *Service) setOp(storage string, session uint64, req *pb.StorageSetRequest) func(context.Context) (uint64, *apierr.Error) {
	if err := s.limits.checkKey("key", req.GetKey()); err != nil {
		return failed[uint64](err)
	}
	if err := checkBytes("value", len(req.GetValue()), s.limits.MaxValueBytes, "--max-value-bytes"); err != nil {
		return failed[uint64](err)
	}
	if err := checkDuration("ttl", req.GetTtl()); err != nil {
		return failed[uint64](err)
	}
	if err := checkDuration("delay", req.GetDelay()); err != nil {
		return failed[uint64](err)
	}
	if req.GetCompress() {
		req = proto.Clone(req).(*pb.StorageSetRequest)
		req.Value = compress(req.GetValue())
	}
	f := s.node.StorageSet(&raftpb.StorageSet{Storage: storage, Session: session, Request: req})
	return func(ctx context.Context) (uint64, *apierr.Error) { return wait(ctx, s, f) }
}

// deleteKeyOp deletes a key (holder rule applies).
func (s *Service) deleteKeyOp(storage string, session uint64, req *pb.StorageDeleteRequest) func(context.Context) *apierr.Error {
	return s.plainOp(s.node.StorageDelete(&raftpb.StorageDelete{Storage: storage, Session: session, Request: req}))
}

// releaseOp releases a lock by key id (holder rule: the locking session, or the lock's
// current token).
func (s *Service) releaseOp(storage string, session uint64, req *pb.StorageReleaseIdRequest) func(context.Context) *apierr.Error {
	return s.plainOp(s.node.StorageRelease(&raftpb.StorageRelease{Storage: storage, Session: session, Request: req}))
}

func (s *Service) plainOp(f raftnode.Future[raftnode.None]) func(context.Context) *apierr.Error {
	return func(ctx context.Context) *apierr.Error {
		_, fault := wait(ctx, s, f)
		return fault
	}
}

// lockOp locks a key (any=false) or any unlocked visible key with prefix (any=true),
// waiting up to timeout while none can be had. The entry's value is decompressed.
func (s *Service) lockOp(storage string, session uint64, any bool, key, prefix []byte, lockTTL *durationpb.Duration, timeout time.Duration) func(context.Context) (*pb.StorageDataResponse, *apierr.Error) {
	if err := checkDuration("lock_ttl", lockTTL); err != nil {
		return failed[*pb.StorageDataResponse](err)
	}
	cmd := &raftpb.StorageLock{Storage: storage, Session: session, Any: any, Key: key, Prefix: prefix, LockTtl: lockTTL}
	line := func(seq uint64) *state.Hold { return s.node.Notifier().HoldLock(storage, any, key, prefix, seq) }
	a := startAttemptIn(s, "lock", state.StorageKey(storage), line, func() raftnode.Future[kv.Entry] { return s.node.StorageLock(cmd) }, timeout, func(f *apierr.Error) bool {
		return f == state.ErrNoKey || f.Status == pb.StatusCode_STATUS_CODE_ITEM_BUSY
	})
	a.ready = func() bool { return s.node.LockReady(storage, any, key, prefix) }
	return func(ctx context.Context) (*pb.StorageDataResponse, *apierr.Error) {
		e, fault, err := a.finish(ctx)
		if err != nil {
			return nil, s.toFault(err)
		}
		if fault != nil {
			return nil, fault
		}
		return dataResponse(e)
	}
}

// dataResponse converts an entry for the wire, decompressing its value.
func dataResponse(e kv.Entry) (*pb.StorageDataResponse, *apierr.Error) {
	v := e.Value
	if e.Compressed {
		var err error
		if v, err = decompress(v); err != nil {
			return nil, apierr.From(err)
		}
	}
	return &pb.StorageDataResponse{Id: e.ID, Key: e.Key, Value: v, LockToken: e.LockToken}, nil
}

// readAtLogTime makes reads see the state at its own clock (the log's time), not this
// node's wall clock: a key is gone for every read (get, listing, counts) from the entry that
// expired it on, so reads never disagree about it. The leader's ticker applies that entry
// as soon as the ttl passes.
const readAtLogTime = 0

// getKey is a linearizable read of one key.
func (s *Service) getKey(ctx context.Context, storage string, key []byte) (*pb.StorageDataResponse, bool, *apierr.Error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, false, s.toFault(err)
	}
	e, ferr := s.node.StorageGet(storage, readAtLogTime, key)
	if ferr != nil {
		return nil, false, ferr
	}
	d, ferr := dataResponse(e)
	if d != nil {
		d.LockToken = 0 // tokens are given only to the lock's holder
	}
	return d, e.Locked, ferr
}

// getByIDs is a linearizable read of keys by id.
func (s *Service) getByIDs(ctx context.Context, storage string, ids []uint64) ([]*pb.StorageDataResponse, *apierr.Error) {
	if err := s.limits.checkBatch("ids", len(ids)); err != nil {
		return nil, err
	}
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, s.toFault(err)
	}
	es, ferr := s.node.StorageGetByIDs(storage, readAtLogTime, ids)
	if ferr != nil {
		return nil, ferr
	}
	out := make([]*pb.StorageDataResponse, 0, len(es))
	size := 0
	for _, e := range es {
		d, ferr := dataResponse(e)
		if ferr != nil {
			return nil, ferr
		}
		d.LockToken = 0
		// An answer past the response limit could not be received: say so rather than
		// answer part of the keys (a missing key means "not found").
		if size += proto.Size(d) + 8; len(out) > 0 && size > s.limits.MaxResponseBytes-itemOverhead {
			return nil, apierr.InvalidArgument("ids: the %d keys' values take more than %d bytes (--max-response-bytes); ask for fewer ids at a time", len(es), s.limits.MaxResponseBytes)
		}
		out = append(out, d)
	}
	return out, nil
}

// listKeys is a linearizable read of one page of keys after `after`.
func (s *Service) listKeys(ctx context.Context, storage string, after, prefix []byte, limit int, activeIncluded bool) ([][]byte, bool, *apierr.Error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return nil, false, s.toFault(err)
	}
	return s.node.StorageKeys(storage, readAtLogTime, after, prefix, limit, activeIncluded)
}

// storageInfo is a linearizable read of a storage's counters.
func (s *Service) storageInfo(ctx context.Context, storage string) (uint32, uint32, *apierr.Error) {
	if err := s.node.ReadBarrier(ctx); err != nil {
		return 0, 0, s.toFault(err)
	}
	return s.node.StorageInfo(storage)
}

func failed[T any](err *apierr.Error) func(context.Context) (T, *apierr.Error) {
	return func(context.Context) (T, *apierr.Error) {
		var zero T
		return zero, err
	}
}
