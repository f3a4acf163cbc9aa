package clustertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// Streams through a follower, with raw generated stubs that know nothing of leaders (no
// LEADER_SWITCH handling): the follower relays them to the leader.

func openStorageStream(t *testing.T, ctx context.Context, addr string) grpcpb.StorageService_StorageConnectClient {
	t.Helper()
	st, err := grpcpb.NewStorageServiceClient(servertest.Dial(t, addr)).StorageConnect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// correlated is a stream request or response.
type correlated interface{ GetCorrelationId() uint64 }

// call sends req on st and returns the next response, which must answer it (nothing else
// in flight on st).
func call[Req, Resp correlated](t *testing.T, st interface {
	Send(Req) error
	Recv() (Resp, error)
}, req Req) Resp {
	t.Helper()
	if err := st.Send(req); err != nil {
		t.Fatalf("send %v: %v", req, err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("answer to %v: %v", req, err)
	}
	if resp.GetCorrelationId() != req.GetCorrelationId() {
		t.Fatalf("answer %v to request %v: correlation id differs", resp, req)
	}
	return resp
}

// qCall and sCall are call on a queue and a storage stream.
func qCall(t *testing.T, st grpcpb.QueuesService_ConnectClient, req *pb.QueueRequest) *pb.QueueResponse {
	t.Helper()
	return call[*pb.QueueRequest, *pb.QueueResponse](t, st, req)
}

func sCall(t *testing.T, st grpcpb.StorageService_StorageConnectClient, req *pb.StorageRequest) *pb.StorageResponse {
	t.Helper()
	return call[*pb.StorageRequest, *pb.StorageResponse](t, st, req)
}

func enqueueReq(corr uint64, key, value string) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{
		Item: &pb.InputItem{Key: []byte(key), Value: []byte(value)}}}}
}

func pullReq(corr uint64, n int32, wait time.Duration) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{
		BatchSize: n, Timeout: durationpb.New(wait)}}}
}

func commitReq(corr, id uint64) *pb.QueueRequest {
	return &pb.QueueRequest{CorrelationId: corr, Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: id}}}
}

func storageSetup(corr uint64, name string) *pb.StorageRequest {
	return &pb.StorageRequest{CorrelationId: corr, Command: &pb.StorageRequest_Setup{Setup: &pb.StorageSetupRequest{StorageName: name}}}
}

func setReq(corr uint64, key, value string, token uint64) *pb.StorageRequest {
	return &pb.StorageRequest{CorrelationId: corr, Command: &pb.StorageRequest_Set{Set: &pb.StorageSetRequest{
		Key: []byte(key), Value: []byte(value), LockToken: token}}}
}

func lockReq(corr uint64, key string, ttl time.Duration) *pb.StorageRequest {
	return &pb.StorageRequest{CorrelationId: corr, Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{
		Key: []byte(key), LockTtl: durationpb.New(ttl), Timeout: durationpb.New(0)}}}
}

func wantOK(t *testing.T, what string, st *pb.StatusResponse) {
	t.Helper()
	if st.GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("%s: %v, want OK", what, st)
	}
}

// TestRelayWireRules drives both streams through a follower with raw stubs: setup with
// correlation id 0, unknown fields ignored, a long-waiting pull answered when an item
// arrives (while later commands on the stream are answered), lease + commit, a key
// listing whose get_keys_next reuse the get_keys id, lock ownership and fencing, and the
// stream-close rules (active items return at once, locks stay leased).
func TestRelayWireRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(10 * time.Second)
	follower := c.Follower(leader)
	for _, body := range []string{`{"queueName":"jobs","lease":"60s"}`} {
		if code, b := httpDo(t, "POST", leader.URL()+"/v1/queues", body); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	if code, b := httpDo(t, "POST", leader.URL()+"/v1/storages", `{"storageName":"kv"}`); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Queue: setup with correlation id 0, and an unknown field (number 999) in a request.
	q := openQueueStream(t, ctx, follower.Addr)
	wantOK(t, "setup 0", qCall(t, q, queueSetup(0, "jobs")).GetStatus())
	withUnknown := enqueueReq(1, "", "unknown-field")
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 7))
	if id := qCall(t, q, withUnknown).GetEnqueue().GetId(); id == 0 {
		t.Fatal("enqueue with an unknown field was not answered with an id")
	}
	// Drain that item, then a pull waits long; a noop behind it is answered first.
	first := qCall(t, q, pullReq(2, 10, time.Second)).GetPull().GetItems()
	if len(first) != 1 || string(first[0].GetValue()) != "unknown-field" {
		t.Fatalf("pulled %v", first)
	}
	if !qCall(t, q, commitReq(3, first[0].GetId())).GetCommitSingle().GetCommitted() {
		t.Fatal("commit on the relayed stream")
	}
	if err := q.Send(pullReq(4, 1, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	noop := &pb.QueueRequest{CorrelationId: 5, Command: &pb.QueueRequest_Noop{Noop: &pb.NoopRequest{}}}
	wantOK(t, "noop behind a waiting pull", qCall(t, q, noop).GetStatus())
	// A producer on the other follower (relayed too) wakes the pull.
	other := c.Nodes[0]
	for _, n := range c.Nodes {
		if n != leader && n != follower {
			other = n
		}
	}
	p := openQueueStream(t, ctx, other.Addr)
	wantOK(t, "producer setup", qCall(t, p, queueSetup(0, "jobs")).GetStatus())
	qCall(t, p, enqueueReq(0, "g", "woke"))
	resp, err := q.Recv()
	if err != nil || resp.GetCorrelationId() != 4 || len(resp.GetPull().GetItems()) != 1 {
		t.Fatalf("the waiting pull: %v %v", resp, err)
	}
	leased := resp.GetPull().GetItems()[0]
	// The item is leased to this stream: another stream gets nothing.
	if got := qCall(t, p, pullReq(1, 1, 200*time.Millisecond)).GetPull().GetItems(); len(got) != 0 {
		t.Fatalf("a leased item was delivered again: %v", got)
	}
	// Closing the relayed stream returns its active item at once (lease 60 s).
	q.CloseSend()
	if _, err := q.Recv(); err == nil {
		t.Fatal("the stream answered after its close")
	}
	got := qCall(t, p, pullReq(2, 1, 10*time.Second)).GetPull().GetItems()
	if len(got) != 1 || got[0].GetId() != leased.GetId() || got[0].GetDeliveryCount() < 1 {
		t.Fatalf("after the relayed stream closed, pulled %v, want item %d back", got, leased.GetId())
	}
	if !qCall(t, p, commitReq(3, got[0].GetId())).GetCommitSingle().GetCommitted() {
		t.Fatal("commit after the item returned")
	}

	// Storage: setup 0, a listing with get_keys_next reusing the get_keys id.
	s := openStorageStream(t, ctx, follower.Addr)
	wantOK(t, "storage setup 0", sCall(t, s, storageSetup(0, "kv")).GetStatus())
	for i := range 150 {
		wantOK(t, "set", sCall(t, s, setReq(uint64(i+1), fmt.Sprintf("k%03d", i), "v", 0)).GetStatus())
	}
	keys := 0
	page := sCall(t, s, &pb.StorageRequest{CorrelationId: 7, Command: &pb.StorageRequest_GetKeys{GetKeys: &pb.StorageGetKeysRequest{}}}).GetGetKeysResponse()
	keys += len(page.GetKeys())
	for page.GetMore() {
		page = sCall(t, s, &pb.StorageRequest{CorrelationId: 7, Command: &pb.StorageRequest_GetKeysNext{GetKeysNext: &pb.StorageGetKeysNextRequest{}}}).GetGetKeysResponse()
		keys += len(page.GetKeys())
	}
	if keys != 150 {
		t.Fatalf("listed %d keys, want 150", keys)
	}
	// Lock ownership and fencing: the locking (relayed) stream changes the key; another
	// stream only with the current token; a stale token is refused.
	lock := sCall(t, s, lockReq(8, "k000", 30*time.Second)).GetDataResponse()
	if lock.GetLockToken() == 0 {
		t.Fatal("lock_key answered no token")
	}
	wantOK(t, "set by the locking stream", sCall(t, s, setReq(9, "k000", "mine", 0)).GetStatus())
	s2 := openStorageStream(t, ctx, other.Addr)
	wantOK(t, "second storage setup", sCall(t, s2, storageSetup(0, "kv")).GetStatus())
	if code := sCall(t, s2, setReq(1, "k000", "theirs", 0)).GetStatus().GetCode(); code != pb.StatusCode_STATUS_CODE_ITEM_BUSY {
		t.Fatalf("set of a key locked by another stream: %v, want ITEM_BUSY", code)
	}
	wantOK(t, "set with the token", sCall(t, s2, setReq(2, "k000", "fenced", lock.GetLockToken())).GetStatus())
	// Closing the locking stream keeps the lock: still ITEM_BUSY without the token.
	s.CloseSend()
	if _, err := s.Recv(); err == nil {
		t.Fatal("the storage stream answered after its close")
	}
	if code := sCall(t, s2, setReq(3, "k000", "x", 0)).GetStatus().GetCode(); code != pb.StatusCode_STATUS_CODE_ITEM_BUSY {
		t.Fatalf("after the locking stream closed, set: %v, want ITEM_BUSY (the lock stays leased)", code)
	}
	// Release with the token, lock again: the old token is now stale.
	wantOK(t, "release with the token", sCall(t, s2, &pb.StorageRequest{CorrelationId: 4, Command: &pb.StorageRequest_ReleaseId{
		ReleaseId: &pb.StorageReleaseIdRequest{Id: lock.GetId(), LockToken: lock.GetLockToken()}}}).GetStatus())
	relock := sCall(t, s2, lockReq(5, "k000", 30*time.Second)).GetDataResponse()
	if relock.GetLockToken() <= lock.GetLockToken() {
		t.Fatalf("tokens %d then %d: want increasing", lock.GetLockToken(), relock.GetLockToken())
	}
	// The follower relayed the streams (its counters say so).
	if code, body := httpDo(t, "GET", follower.URL()+"/metrics", ""); code != 200 ||
		!strings.Contains(body, `octopusmq_relay_streams_total{service="queue"}`) || !strings.Contains(body, `octopusmq_relay_commands_total{service="storage"}`) {
		t.Fatalf("the follower's relay counters are missing: %d", code)
	}
	s3 := openStorageStream(t, ctx, follower.Addr)
	wantOK(t, "third storage setup", sCall(t, s3, storageSetup(0, "kv")).GetStatus())
	if code := sCall(t, s3, setReq(1, "k000", "stale", lock.GetLockToken())).GetStatus().GetCode(); code != pb.StatusCode_STATUS_CODE_ITEM_BUSY {
		t.Fatalf("set with a stale token: %v, want ITEM_BUSY", code)
	}
}
