package service

import (
	"context"
	"encoding/base64"

	"github.com/clbs-io/octopusmq/gen/octopusmqv1"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
)

// StorageDataServer implements StorageDataService, the unary key-value data plane behind
// REST. Without a stream there is no session (session 0, which holds nothing): a lock taken
// here is held only by its token, and a locked key is changed, deleted or released only by
// a request carrying the lock's current token.
type StorageDataServer struct {
	octopusmqv1.UnimplementedStorageDataServiceServer
	*Service
}

func checkStorageName(name string) error {
	if err := state.ValidateName("storage_name", name); err != nil {
		return err
	}
	return nil
}

// restKey is the key a REST request names: its UTF-8 text (key) or its bytes (binary_key,
// base64 in the path of the binary-keys routes), exactly one of them.
func restKey(text string, binary []byte) ([]byte, *apierr.Error) {
	switch {
	case text != "" && len(binary) > 0:
		return nil, apierr.InvalidArgument("key and binary_key are both given; give one")
	case len(binary) > 0:
		return binary, nil
	}
	return []byte(text), nil
}

// PutKey creates or replaces a key.
func (s StorageDataServer) PutKey(ctx context.Context, r *octopusmqv1.PutKeyRequest) (*octopusmqv1.PutKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	key, kerr := restKey(r.GetKey(), r.GetBinaryKey())
	if kerr != nil {
		return nil, kerr
	}
	req := &pb.StorageSetRequest{Key: key, Value: r.GetValue(), Ttl: r.GetTtl(), Compress: r.GetCompress(), Delay: r.GetDelay(), LockToken: r.GetLockToken()}
	id, err := s.setOp(r.GetStorageName(), 0, req)(ctx)
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.PutKeyResponse{Id: id}, nil
}

// GetKey reads a key.
func (s StorageDataServer) GetKey(ctx context.Context, r *octopusmqv1.GetKeyRequest) (*octopusmqv1.GetKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	key, kerr := restKey(r.GetKey(), r.GetBinaryKey())
	if kerr != nil {
		return nil, kerr
	}
	d, locked, err := s.getKey(ctx, r.GetStorageName(), key)
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.GetKeyResponse{Item: d, Locked: locked}, nil
}

// DeleteKey deletes a key.
func (s StorageDataServer) DeleteKey(ctx context.Context, r *octopusmqv1.DeleteKeyRequest) (*octopusmqv1.DeleteKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	key, kerr := restKey(r.GetKey(), r.GetBinaryKey())
	if kerr != nil {
		return nil, kerr
	}
	if err := s.deleteKeyOp(r.GetStorageName(), 0, &pb.StorageDeleteRequest{Key: key, LockToken: r.GetLockToken()})(ctx); err != nil {
		return nil, err
	}
	return &octopusmqv1.DeleteKeyResponse{}, nil
}

// ListKeys lists a page of keys. The page token is the last key of the previous page.
func (s StorageDataServer) ListKeys(ctx context.Context, r *octopusmqv1.ListKeysRequest) (*octopusmqv1.ListKeysResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	size := int(r.GetPageSize())
	switch {
	case size < 0 || size > MaxPageSize:
		return nil, apierr.InvalidArgument("page_size is %d; it must be 0–%d (0 means 100)", size, MaxPageSize)
	case size == 0:
		size = 100
	}
	var after []byte
	if r.GetPageToken() != "" {
		var err error
		if after, err = base64.RawURLEncoding.DecodeString(r.GetPageToken()); err != nil {
			return nil, apierr.InvalidArgument("page_token is not one this server issued")
		}
	}
	if r.GetPrefix() != "" && len(r.GetBinaryPrefix()) > 0 {
		return nil, apierr.InvalidArgument("prefix and binary_prefix are both given; give one")
	}
	prefix := []byte(r.GetPrefix())
	if len(r.GetBinaryPrefix()) > 0 {
		prefix = r.GetBinaryPrefix()
	}
	keys, more, err := s.listKeys(ctx, r.GetStorageName(), after, prefix, size, r.GetActiveIncluded())
	if err != nil {
		return nil, err
	}
	out := &octopusmqv1.ListKeysResponse{Keys: keys}
	if more && len(keys) > 0 {
		out.NextPageToken = base64.RawURLEncoding.EncodeToString(keys[len(keys)-1])
	}
	return out, nil
}

// LockKey locks one key.
func (s StorageDataServer) LockKey(ctx context.Context, r *octopusmqv1.LockKeyRequest) (*octopusmqv1.LockKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	if err := checkDuration("timeout", r.GetTimeout()); err != nil {
		return nil, err
	}
	key, kerr := restKey(r.GetKey(), r.GetBinaryKey())
	if kerr != nil {
		return nil, kerr
	}
	d, err := s.lockOp(r.GetStorageName(), 0, false, key, nil, r.GetLockTtl(), asDuration(r.GetTimeout()))(ctx)
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.LockKeyResponse{Item: d}, nil
}

// LockAnyKey locks some unlocked, visible key.
func (s StorageDataServer) LockAnyKey(ctx context.Context, r *octopusmqv1.LockAnyKeyRequest) (*octopusmqv1.LockAnyKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	if err := checkDuration("timeout", r.GetTimeout()); err != nil {
		return nil, err
	}
	d, err := s.lockOp(r.GetStorageName(), 0, true, nil, r.GetKeyPrefix(), r.GetLockTtl(), asDuration(r.GetTimeout()))(ctx)
	if err != nil {
		return nil, err
	}
	return &octopusmqv1.LockAnyKeyResponse{Item: d}, nil
}

// ReleaseKey releases a lock. Only the holder may, and over REST (no session) the holder is
// whoever carries the lock's current token: without it a locked key answers ITEM_BUSY
// (409), as PutKey and DeleteKey do.
func (s StorageDataServer) ReleaseKey(ctx context.Context, r *octopusmqv1.ReleaseKeyRequest) (*octopusmqv1.ReleaseKeyResponse, error) {
	if err := checkStorageName(r.GetStorageName()); err != nil {
		return nil, err
	}
	if err := s.releaseOp(r.GetStorageName(), 0, &pb.StorageReleaseIdRequest{Id: r.GetId(), Delete: r.GetDelete(), LockToken: r.GetLockToken()})(ctx); err != nil {
		return nil, err
	}
	return &octopusmqv1.ReleaseKeyResponse{}, nil
}
