package server

import (
	"bytes"

	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// relayProto is what the relay needs to know of one stream protocol: its messages, their
// correlation ids, and what a session holds on the leader (holdings). Messages pass
// through unchanged (unknown fields included); the relay only reads them.
type relayProto struct {
	service      string // metrics label: "queue" or "storage"
	newReq       func() proto.Message
	newResp      func() proto.Message
	reqCorr      func(proto.Message) uint64
	respCorr     func(proto.Message) uint64
	isSetup      func(req proto.Message) bool
	status       func(resp proto.Message) *pb.StatusResponse
	answers      func(req, resp proto.Message) bool // resp can be req's answer
	leaderSwitch func(corr uint64, addr string) proto.Message
	newHoldings  func() holdings
}

// holdings tracks what a relayed session may hold on the leader, from the requests it
// sent and the answers they got. It is conservative: anything it cannot prove released
// counts as held.
type holdings interface {
	// answered records the answer resp to req (req nil: the request is unknown).
	answered(req, resp proto.Message)
	// empty reports that the session provably holds nothing a new session would lack.
	empty() bool
}

// relayed maps the streams a follower relays to their protocol.
var relayed = map[string]*relayProto{
	grpcpb.QueuesService_Connect_FullMethodName:         queueRelay,
	grpcpb.StorageService_StorageConnect_FullMethodName: storageRelay,
}

var queueRelay = &relayProto{
	service:  "queue",
	newReq:   func() proto.Message { return new(pb.QueueRequest) },
	newResp:  func() proto.Message { return new(pb.QueueResponse) },
	reqCorr:  func(m proto.Message) uint64 { return m.(*pb.QueueRequest).GetCorrelationId() },
	respCorr: func(m proto.Message) uint64 { return m.(*pb.QueueResponse).GetCorrelationId() },
	isSetup:  func(m proto.Message) bool { return m.(*pb.QueueRequest).GetSetup() != nil },
	status:   func(m proto.Message) *pb.StatusResponse { return m.(*pb.QueueResponse).GetStatus() },
	answers: func(req, resp proto.Message) bool {
		q, r := req.(*pb.QueueRequest), resp.(*pb.QueueResponse)
		switch r.GetResponse().(type) {
		case *pb.QueueResponse_Status:
			return true
		case *pb.QueueResponse_Pull:
			return q.GetPull() != nil
		case *pb.QueueResponse_PullSingle:
			return q.GetPullSingle() != nil
		case *pb.QueueResponse_Enqueue:
			return q.GetEnqueue() != nil
		case *pb.QueueResponse_BatchEnqueue:
			return q.GetBatchEnqueue() != nil
		case *pb.QueueResponse_CommitSingle:
			return q.GetCommitSingle() != nil
		case *pb.QueueResponse_Commit:
			return q.GetCommit() != nil
		}
		return true
	},
	leaderSwitch: func(corr uint64, addr string) proto.Message {
		return &pb.QueueResponse{CorrelationId: corr, Response: &pb.QueueResponse_Status{Status: &pb.StatusResponse{
			Code: pb.StatusCode_STATUS_CODE_LEADER_SWITCH, Message: addr}}}
	},
	newHoldings: func() holdings { return &queueHoldings{ids: map[uint64]struct{}{}} },
}

// queueHoldings are the items delivered to the session and not yet committed, requeued or
// deleted on it. A group binding lasts only while the session holds an active item of the
// group, so no delivered item outstanding means no binding either.
type queueHoldings struct{ ids map[uint64]struct{} }

func (h *queueHoldings) empty() bool { return len(h.ids) == 0 }

func (h *queueHoldings) answered(req, resp proto.Message) {
	r := resp.(*pb.QueueResponse)
	switch d := r.GetResponse().(type) {
	case *pb.QueueResponse_Pull:
		for _, it := range d.Pull.GetItems() {
			h.ids[it.GetId()] = struct{}{}
		}
		return
	case *pb.QueueResponse_PullSingle:
		if it := d.PullSingle.GetItem(); it != nil {
			h.ids[it.GetId()] = struct{}{}
		}
		return
	}
	q, _ := req.(*pb.QueueRequest)
	if q == nil {
		return
	}
	release := func(ids ...uint64) {
		for _, id := range ids {
			delete(h.ids, id)
		}
	}
	switch d := r.GetResponse().(type) {
	case *pb.QueueResponse_CommitSingle:
		if d.CommitSingle.GetCommitted() {
			release(q.GetCommitSingle().GetId())
		}
	case *pb.QueueResponse_DeleteSingle:
		if d.DeleteSingle.GetDeleted() {
			release(q.GetDeleteSingle().GetId())
		}
	case *pb.QueueResponse_RequeueSingle:
		if d.RequeueSingle.GetRequeued() {
			release(q.GetRequeueSingle().GetItem().GetId())
		}
	case *pb.QueueResponse_Commit:
		if ids := q.GetCommit().GetIds(); int(d.Commit.GetRet()) == len(ids) {
			release(ids...)
		}
	case *pb.QueueResponse_Delete:
		if ids := q.GetDelete().GetIds(); int(d.Delete.GetRet()) == len(ids) {
			release(ids...)
		}
	case *pb.QueueResponse_Requeue:
		if items := q.GetRequeue().GetItems(); int(d.Requeue.GetRet()) == len(items) {
			for _, it := range items {
				release(it.GetId())
			}
		}
	}
}

var storageRelay = &relayProto{
	service:  "storage",
	newReq:   func() proto.Message { return new(pb.StorageRequest) },
	newResp:  func() proto.Message { return new(pb.StorageResponse) },
	reqCorr:  func(m proto.Message) uint64 { return m.(*pb.StorageRequest).GetCorrelationId() },
	respCorr: func(m proto.Message) uint64 { return m.(*pb.StorageResponse).GetCorrelationId() },
	isSetup:  func(m proto.Message) bool { return m.(*pb.StorageRequest).GetSetup() != nil },
	status:   func(m proto.Message) *pb.StatusResponse { return m.(*pb.StorageResponse).GetStatus() },
	answers: func(req, resp proto.Message) bool {
		q, r := req.(*pb.StorageRequest), resp.(*pb.StorageResponse)
		switch r.GetResponse().(type) {
		case *pb.StorageResponse_GetKeysResponse:
			return q.GetGetKeys() != nil || q.GetGetKeysNext() != nil
		case *pb.StorageResponse_DataResponse:
			return q.GetGet() != nil || q.GetLockKey() != nil || q.GetLockAnyWithId() != nil
		case *pb.StorageResponse_GetInfoResponse:
			return q.GetGetInfo() != nil
		case *pb.StorageResponse_ItemsResponse:
			return q.GetGetByIds() != nil
		}
		return true
	},
	leaderSwitch: func(corr uint64, addr string) proto.Message {
		return &pb.StorageResponse{CorrelationId: corr, Response: &pb.StorageResponse_Status{Status: &pb.StatusResponse{
			Code: pb.StatusCode_STATUS_CODE_LEADER_SWITCH, Message: addr}}}
	},
	newHoldings: func() holdings { return &storageHoldings{locks: map[uint64][]byte{}, listings: map[uint64]bool{}} },
}

// storageHoldings are the locks the session took and has not released or deleted (a lock
// belongs to its session: a new session could not change the key without the token), and
// its key listings in progress (their position lives in the leader's session).
type storageHoldings struct {
	locks    map[uint64][]byte // key id → key
	listings map[uint64]bool   // by correlation id
}

func (h *storageHoldings) empty() bool { return len(h.locks) == 0 && len(h.listings) == 0 }

func (h *storageHoldings) answered(req, resp proto.Message) {
	q, _ := req.(*pb.StorageRequest)
	r := resp.(*pb.StorageResponse)
	if q == nil {
		// An answer nothing asked for: assume it took something.
		h.listings[r.GetCorrelationId()] = true
		return
	}
	ok := r.GetStatus().GetCode() == pb.StatusCode_STATUS_CODE_OK && r.GetStatus() != nil
	switch c := q.GetCommand().(type) {
	case *pb.StorageRequest_LockKey, *pb.StorageRequest_LockAnyWithId:
		if d := r.GetDataResponse(); d != nil {
			h.locks[d.GetId()] = d.GetKey()
		}
	case *pb.StorageRequest_ReleaseId:
		if ok {
			delete(h.locks, c.ReleaseId.GetId())
		}
	case *pb.StorageRequest_Delete:
		if ok {
			for id, k := range h.locks {
				if bytes.Equal(k, c.Delete.GetKey()) {
					delete(h.locks, id)
				}
			}
		}
	case *pb.StorageRequest_GetKeys, *pb.StorageRequest_GetKeysNext:
		if page := r.GetGetKeysResponse(); page != nil {
			if page.GetMore() {
				h.listings[q.GetCorrelationId()] = true
			} else {
				delete(h.listings, q.GetCorrelationId())
			}
		}
	}
}
