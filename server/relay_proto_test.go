package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
)

// The relay re-opens a stream on a new leader only when the session provably holds
// nothing; these cases pin what counts as held and what as released.
func TestQueueHoldings(t *testing.T) {
	h := queueRelay.newHoldings()
	pull := &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{BatchSize: 2}}}
	h.answered(pull, &pb.QueueResponse{CorrelationId: 1, Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{}}})
	if !h.empty() {
		t.Fatal("an empty pull made the session hold something")
	}
	h.answered(pull, &pb.QueueResponse{CorrelationId: 1, Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{
		Items: []*pb.Item{{Id: 7}, {Id: 8}}}}})
	commit7 := &pb.QueueRequest{CorrelationId: 2, Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: 7}}}
	// A failed commit releases nothing.
	h.answered(commit7, &pb.QueueResponse{CorrelationId: 2, Response: &pb.QueueResponse_Status{Status: &pb.StatusResponse{
		Code: pb.StatusCode_STATUS_CODE_ITEM_NOT_FOUND}}})
	h.answered(commit7, &pb.QueueResponse{CorrelationId: 2, Response: &pb.QueueResponse_CommitSingle{CommitSingle: &pb.CommitSingleResponse{Committed: true}}})
	if h.empty() {
		t.Fatal("item 8 is still held")
	}
	// A batch counts only when every id succeeded.
	batch := &pb.QueueRequest{CorrelationId: 3, Command: &pb.QueueRequest_Requeue{Requeue: &pb.RequeueRequest{
		Items: []*pb.RequeueItem{{Id: 8}, {Id: 9}}}}}
	h.answered(batch, &pb.QueueResponse{CorrelationId: 3, Response: &pb.QueueResponse_Requeue{Requeue: &pb.RequeueResponse{Ret: 1}}})
	if h.empty() {
		t.Fatal("a partly failed batch released item 8")
	}
	del := &pb.QueueRequest{CorrelationId: 4, Command: &pb.QueueRequest_Delete{Delete: &pb.DeleteRequest{Ids: []uint64{8}}}}
	h.answered(del, &pb.QueueResponse{CorrelationId: 4, Response: &pb.QueueResponse_Delete{Delete: &pb.DeleteResponse{Ret: 1}}})
	if !h.empty() {
		t.Fatal("every delivered item was released, yet the session holds something")
	}
	// A pull answer matched to no request still counts.
	h.answered(nil, &pb.QueueResponse{Response: &pb.QueueResponse_PullSingle{PullSingle: &pb.PullSingleResponse{Item: &pb.Item{Id: 9}}}})
	if h.empty() {
		t.Fatal("an unmatched delivery was not counted")
	}
}

func TestStorageHoldings(t *testing.T) {
	h := storageRelay.newHoldings()
	lock := &pb.StorageRequest{CorrelationId: 1, Command: &pb.StorageRequest_LockKey{LockKey: &pb.StorageLockKeyRequest{Key: []byte("k")}}}
	h.answered(lock, &pb.StorageResponse{CorrelationId: 1, Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{
		Code: pb.StatusCode_STATUS_CODE_ITEM_BUSY}}})
	if !h.empty() {
		t.Fatal("a refused lock counted as held")
	}
	h.answered(lock, &pb.StorageResponse{CorrelationId: 1, Response: &pb.StorageResponse_DataResponse{DataResponse: &pb.StorageDataResponse{
		Id: 5, Key: []byte("k"), LockToken: 9}}})
	if h.empty() {
		t.Fatal("a granted lock was not counted")
	}
	del := &pb.StorageRequest{CorrelationId: 2, Command: &pb.StorageRequest_Delete{Delete: &pb.StorageDeleteRequest{Key: []byte("k")}}}
	h.answered(del, &pb.StorageResponse{CorrelationId: 2, Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{}}})
	if !h.empty() {
		t.Fatal("deleting the locked key did not release its lock")
	}
	h.answered(lock, &pb.StorageResponse{CorrelationId: 1, Response: &pb.StorageResponse_DataResponse{DataResponse: &pb.StorageDataResponse{
		Id: 6, Key: []byte("k"), LockToken: 10}}})
	rel := &pb.StorageRequest{CorrelationId: 3, Command: &pb.StorageRequest_ReleaseId{ReleaseId: &pb.StorageReleaseIdRequest{Id: 6}}}
	h.answered(rel, &pb.StorageResponse{CorrelationId: 3, Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{}}})
	if !h.empty() {
		t.Fatal("release_id did not release the lock")
	}
	// A listing with more pages is held until its last page.
	list := &pb.StorageRequest{CorrelationId: 4, Command: &pb.StorageRequest_GetKeys{GetKeys: &pb.StorageGetKeysRequest{}}}
	next := &pb.StorageRequest{CorrelationId: 4, Command: &pb.StorageRequest_GetKeysNext{GetKeysNext: &pb.StorageGetKeysNextRequest{}}}
	h.answered(list, &pb.StorageResponse{CorrelationId: 4, Response: &pb.StorageResponse_GetKeysResponse{GetKeysResponse: &pb.StorageGetKeysResponse{More: true}}})
	if h.empty() {
		t.Fatal("a listing in progress was not counted")
	}
	h.answered(next, &pb.StorageResponse{CorrelationId: 4, Response: &pb.StorageResponse_GetKeysResponse{GetKeysResponse: &pb.StorageGetKeysResponse{}}})
	if !h.empty() {
		t.Fatal("a finished listing is still counted")
	}
}

// Answers are matched to the request of their kind when a correlation id is reused.
func TestRelayMatchesAnswersByKind(t *testing.T) {
	r := &relay{p: queueRelay, pending: map[uint64][]proto.Message{}}
	pull := &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{}}}
	enq := &pb.QueueRequest{CorrelationId: 1, Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{}}}
	r.addPending(pull)
	r.addPending(enq)
	got := r.popPending(&pb.QueueResponse{CorrelationId: 1, Response: &pb.QueueResponse_Enqueue{Enqueue: &pb.EnqueueResponse{Id: 3}}})
	if got != enq || r.npending != 1 {
		t.Fatalf("matched %v (%d left), want the enqueue", got, r.npending)
	}
	if got := r.popPending(&pb.QueueResponse{CorrelationId: 1, Response: &pb.QueueResponse_Pull{Pull: &pb.PullResponse{}}}); got != pull || r.npending != 0 {
		t.Fatalf("matched %v, want the pull", got)
	}
	if got := r.popPending(&pb.QueueResponse{CorrelationId: 1}); got != nil {
		t.Fatalf("matched %v with nothing pending", got)
	}
}
