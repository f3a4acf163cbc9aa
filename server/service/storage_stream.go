package service

import (
	"context"
	"sync"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// keysPageSize is the number of keys in one get_keys / get_keys_next page.
const keysPageSize = 100

// StorageServer implements StorageService/StorageConnect.
type StorageServer struct {
	grpcpb.UnimplementedStorageServiceServer
	*Service
}

// StorageConnect serves one storage stream. Locks taken on it are held by its session and
// by their token: a locked key is set, deleted or released (release_id) only from the
// locking stream or by a request carrying the lock's current token, from any stream;
// anything else is ITEM_BUSY, a stale token included. Locks outlive the stream until
// released or their lock_ttl runs out, so a client that reconnects proves its locks with
// their tokens.
func (s StorageServer) StorageConnect(stream grpcpb.StorageService_StorageConnectServer) error {
	return serveStream[pb.StorageRequest, pb.StorageResponse](stream, &storageSession{
		s: s.Service, id: s.newSession(), listings: map[uint64]*listing{},
	}, s.draining)
}

type storageSession struct {
	s       *Service
	id      uint64
	storage string

	mu       sync.Mutex
	listings map[uint64]*listing // by the correlation id of the get_keys that began it
}

// listing is a key listing in progress: the last key answered.
type listing struct {
	after          []byte
	activeIncluded bool
}

func storageStatus(corr uint64, err *apierr.Error) *pb.StorageResponse {
	st := &pb.StatusResponse{Code: pb.StatusCode_STATUS_CODE_OK}
	if err != nil {
		st = &pb.StatusResponse{Code: err.Status, Message: err.Msg}
	}
	return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_Status{Status: st}}
}

func storageData(corr uint64, d *pb.StorageDataResponse, err *apierr.Error) *pb.StorageResponse {
	if err != nil {
		return storageStatus(corr, err)
	}
	return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_DataResponse{DataResponse: d}}
}

func (ss *storageSession) setup(ctx context.Context, req *pb.StorageRequest) (*pb.StorageResponse, bool, error) {
	corr := req.GetCorrelationId()
	setup := req.GetSetup()
	if setup == nil {
		return storageStatus(corr, apierr.InvalidArgument("the first command of a stream must be setup")), false, nil
	}
	if err := state.ValidateName("storage_name", setup.GetStorageName()); err != nil {
		return storageStatus(corr, err), false, nil
	}
	if fault, end := ss.s.setupBarrier(ctx); end != nil || fault != nil {
		return storageStatus(corr, fault), false, end
	}
	if err := ss.s.node.HasStorage(setup.GetStorageName()); err != nil {
		return storageStatus(corr, err), false, nil
	}
	ss.storage = setup.GetStorageName()
	return storageStatus(corr, nil), true, nil
}

func (ss *storageSession) close() {}

func (ss *storageSession) start(ctx context.Context, req *pb.StorageRequest) (func(context.Context) *pb.StorageResponse, opKind) {
	corr := req.GetCorrelationId()
	s := ss.s
	now := func(r *pb.StorageResponse) func(context.Context) *pb.StorageResponse {
		return func(context.Context) *pb.StorageResponse { return r }
	}
	switch c := req.GetCommand().(type) {
	case *pb.StorageRequest_Setup:
		return now(storageStatus(corr, apierr.InvalidArgument("the stream is already set up for storage %q", ss.storage))), opWrite
	case *pb.StorageRequest_Noop:
		return now(storageStatus(corr, nil)), opWrite
	case *pb.StorageRequest_Set:
		op := s.setOp(ss.storage, ss.id, c.Set)
		return func(ctx context.Context) *pb.StorageResponse {
			id, err := op(ctx)
			resp := storageStatus(corr, err)
			resp.GetStatus().Id = id
			return resp
		}, opWrite
	case *pb.StorageRequest_Delete:
		op := s.deleteKeyOp(ss.storage, ss.id, c.Delete)
		return func(ctx context.Context) *pb.StorageResponse { return storageStatus(corr, op(ctx)) }, opWrite
	case *pb.StorageRequest_ReleaseId:
		op := s.releaseOp(ss.storage, ss.id, c.ReleaseId)
		return func(ctx context.Context) *pb.StorageResponse { return storageStatus(corr, op(ctx)) }, opWrite
	case *pb.StorageRequest_LockKey:
		op := s.lockOp(ss.storage, ss.id, false, c.LockKey.GetKey(), nil, c.LockKey.GetLockTtl(), asDuration(c.LockKey.GetTimeout()))
		return func(ctx context.Context) *pb.StorageResponse {
			d, err := op(ctx)
			return storageData(corr, d, err)
		}, opWait
	case *pb.StorageRequest_LockAnyWithId:
		op := s.lockOp(ss.storage, ss.id, true, nil, c.LockAnyWithId.GetKeyPrefix(), c.LockAnyWithId.GetLockTtl(), asDuration(c.LockAnyWithId.GetTimeout()))
		return func(ctx context.Context) *pb.StorageResponse {
			d, err := op(ctx)
			return storageData(corr, d, err)
		}, opWait
	case *pb.StorageRequest_Get:
		return func(ctx context.Context) *pb.StorageResponse {
			d, _, err := s.getKey(ctx, ss.storage, c.Get.GetKey())
			return storageData(corr, d, err)
		}, opRead
	case *pb.StorageRequest_GetByIds:
		return func(ctx context.Context) *pb.StorageResponse {
			items, err := s.getByIDs(ctx, ss.storage, c.GetByIds.GetIds())
			if err != nil {
				return storageStatus(corr, err)
			}
			return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_ItemsResponse{ItemsResponse: &pb.StorageItemsResponse{Items: items}}}
		}, opRead
	case *pb.StorageRequest_GetInfo:
		return func(ctx context.Context) *pb.StorageResponse {
			count, locked, err := s.storageInfo(ctx, ss.storage)
			if err != nil {
				return storageStatus(corr, err)
			}
			return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_GetInfoResponse{GetInfoResponse: &pb.StorageGetInfoResponse{Count: count, Active: locked}}}
		}, opRead
	case *pb.StorageRequest_GetKeys:
		l := &listing{activeIncluded: c.GetKeys.GetActiveIncluded()}
		ss.mu.Lock()
		ss.listings[corr] = l
		ss.mu.Unlock()
		return ss.page(corr, l), opRead
	case *pb.StorageRequest_GetKeysNext:
		ss.mu.Lock()
		l := ss.listings[corr]
		ss.mu.Unlock()
		if l == nil {
			return now(storageStatus(corr, apierr.InvalidArgument("no key listing is in progress for correlation_id %d: send get_keys first, then get_keys_next with its correlation_id", corr))), opRead
		}
		return ss.page(corr, l), opRead
	default:
		return now(storageStatus(corr, apierr.InvalidArgument("the request carries no known command"))), opWrite
	}
}

// page answers the next page of listing l (begun by the get_keys with correlation id corr).
func (ss *storageSession) page(corr uint64, l *listing) func(context.Context) *pb.StorageResponse {
	return func(ctx context.Context) *pb.StorageResponse {
		ss.mu.Lock()
		after := l.after
		ss.mu.Unlock()
		keys, more, err := ss.s.listKeys(ctx, ss.storage, after, nil, keysPageSize, l.activeIncluded)
		if err != nil {
			return storageStatus(corr, err)
		}
		ss.mu.Lock()
		if len(keys) > 0 {
			l.after = keys[len(keys)-1]
		}
		if !more && ss.listings[corr] == l {
			delete(ss.listings, corr)
		}
		ss.mu.Unlock()
		return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_GetKeysResponse{GetKeysResponse: &pb.StorageGetKeysResponse{Keys: keys, More: more}}}
	}
}
