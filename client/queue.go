package client

import (
	"context"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
)

// InputItem is an item to enqueue.
type InputItem struct {
	// Priority 0 … priorities-1 of the queue; a higher value is pulled first.
	Priority uint32
	// Key groups items: a group's items go to the stream that pulled one of them first.
	Key []byte
	// UniqueKey deduplicates: while an item with this non-empty key is in the queue,
	// enqueueing another answers the existing item's id (see EnqueueWithResult).
	UniqueKey []byte
	// Value is the payload.
	Value []byte
	// TTL: a waiting item older than TTL is never delivered. Nil or 0: never expires.
	TTL *durationpb.Duration
	// Delay: the item becomes visible Delay after it was enqueued.
	Delay *durationpb.Duration
	// Compress stores the value compressed (transparent to consumers).
	Compress bool
}

func (it *InputItem) proto() *pb.InputItem {
	return &pb.InputItem{
		Ttl: it.TTL, Priority: it.Priority, Key: it.Key, UniqueKey: it.UniqueKey,
		Value: it.Value, Delay: it.Delay, Compress: it.Compress,
	}
}

// Item is a pulled item. It is leased to this client's stream for the queue's lease: commit,
// requeue, delete or extend it before the lease runs out.
type Item struct {
	Id        uint64
	Priority  uint32
	Key       []byte
	UniqueKey []byte
	Value     []byte
	// DeliveryCount is how many times the item was delivered before this delivery.
	DeliveryCount uint32
	// EnqueuedAt is when the item was enqueued (zero when the server did not say).
	EnqueuedAt time.Time
}

func itemFromProto(p *pb.Item) *Item {
	it := &Item{
		Id: p.GetId(), Priority: p.GetPriority(), Key: p.GetKey(), UniqueKey: p.GetUniqueKey(),
		Value: p.GetValue(), DeliveryCount: p.GetDeliveryCount(),
	}
	if ts := p.GetEnqueuedAt(); ts != nil {
		it.EnqueuedAt = ts.AsTime()
	}
	return it
}

// RequeueItem returns an active item to waiting.
type RequeueItem struct {
	Id uint64
	// TTL is the new time to live from now; nil or 0: never expires.
	TTL *durationpb.Duration
	// Priority is the new priority; nil keeps the item's priority.
	Priority *uint32
	// Delay: visible again only after Delay.
	Delay *durationpb.Duration
}

// EnqueueResult is the outcome of EnqueueWithResult.
type EnqueueResult struct {
	// Id is the item's id — the existing item's when Duplicate.
	Id uint64
	// Duplicate is true when the UniqueKey matched an item already in the queue: nothing
	// was added.
	Duplicate bool
}

// QueueInfo holds a queue's settings and counters.
type QueueInfo struct {
	// MaxSize bounds waiting + active items; 0 = unlimited.
	MaxSize uint32
	// Length counts waiting items (visible or delayed).
	Length uint32
	// Active counts pulled, not yet committed items.
	Active uint32
	// Priorities is the number of priority levels.
	Priorities uint32
	// Paused is true while the queue is paused.
	Paused bool
}

// QueueClient produces and consumes items of one queue over one multiplexed stream. It is
// safe for concurrent use.
type QueueClient struct {
	m *mux[pb.QueueRequest, pb.QueueResponse]
	o *options
}

var queueProtocol = protocol[pb.QueueRequest, pb.QueueResponse]{
	kind: "queue",
	open: func(ctx context.Context, cc grpc.ClientConnInterface) (grpc.BidiStreamingClient[pb.QueueRequest, pb.QueueResponse], error) {
		return grpcpb.NewQueuesServiceClient(cc).Connect(ctx)
	},
	setup: func(id uint64, name string) *pb.QueueRequest {
		return &pb.QueueRequest{CorrelationId: id, Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: name}}}
	},
	noop: func(id uint64) *pb.QueueRequest {
		return &pb.QueueRequest{CorrelationId: id, Command: &pb.QueueRequest_Noop{Noop: &pb.NoopRequest{}}}
	},
	respID: (*pb.QueueResponse).GetCorrelationId,
	status: (*pb.QueueResponse).GetStatus,
}

// NewQueueClient returns a client of queue at target ("host:port", or several separated by
// commas). Unless WithLazyConnect is given it connects first, waiting up to the connect
// timeout: an error wrapping ErrQueueNotFound means the queue does not exist.
func NewQueueClient(target, queue string, opts ...Option) (*QueueClient, error) {
	o := buildOptions(opts)
	m, err := newMux(queueProtocol, target, queue, o)
	if err != nil {
		return nil, err
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return &QueueClient{m: m, o: o}, nil
}

// Close closes the stream and its connections. Requests in flight fail with ErrClosed; items
// pulled and not yet committed return to the queue (the server releases a closed stream's
// leases).
func (q *QueueClient) Close() error { return q.m.close() }

// do sends the command of tmpl (a fresh request with its correlation id per attempt).
func (q *QueueClient) do(ctx context.Context, read bool, tmpl *pb.QueueRequest) (*pb.QueueResponse, error) {
	resp, _, _, err := q.m.call(ctx, func(id uint64) *pb.QueueRequest {
		return &pb.QueueRequest{CorrelationId: id, Command: tmpl.Command}
	}, callOpts[pb.QueueRequest, pb.QueueResponse]{read: read})
	return resp, err
}

// unexpected reports an answer of the wrong kind.
func unexpected(op string, resp any) error {
	return fmt.Errorf("octopusmq: %s: unexpected answer %T", op, resp)
}

// waitDuration converts a server-side wait, shortened to fit ctx's deadline; nil for none.
func waitDuration(ctx context.Context, d time.Duration) *durationpb.Duration {
	if d = budget(ctx, d); d <= 0 {
		return nil
	}
	return durationpb.New(d)
}

// Enqueue adds item and returns its id. When the queue is at max_size it waits up to the
// enqueue timeout (WithEnqueueTimeout, default 0) for room, then fails with ErrQueueFull.
// An error wrapping ErrConnectionLost (or a ctx error) leaves the outcome unknown: retry with
// the same UniqueKey to enqueue at most once.
func (q *QueueClient) Enqueue(ctx context.Context, item *InputItem) (uint64, error) {
	r, err := q.EnqueueWithResult(ctx, item)
	return r.Id, err
}

// EnqueueWithResult is Enqueue that also reports whether the UniqueKey matched an item
// already in the queue.
func (q *QueueClient) EnqueueWithResult(ctx context.Context, item *InputItem) (EnqueueResult, error) {
	if item == nil {
		return EnqueueResult{}, fmt.Errorf("%w: nil item", ErrInvalidArgument)
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_Enqueue{Enqueue: &pb.EnqueueRequest{
		Item: item.proto(), Timeout: waitDuration(ctx, q.o.enqueueTimeout),
	}}})
	if err != nil {
		return EnqueueResult{}, err
	}
	r := resp.GetEnqueue()
	if r == nil {
		return EnqueueResult{}, unexpected("enqueue", resp.GetResponse())
	}
	return EnqueueResult{Id: r.GetId(), Duplicate: r.GetDuplicate()}, nil
}

// BatchEnqueue adds all items or none, and returns their ids in order.
func (q *QueueClient) BatchEnqueue(ctx context.Context, items []*InputItem) ([]uint64, error) {
	in := make([]*pb.InputItem, len(items))
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("%w: nil item at index %d", ErrInvalidArgument, i)
		}
		in[i] = it.proto()
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_BatchEnqueue{BatchEnqueue: &pb.BatchEnqueueRequest{
		Items: in, Timeout: waitDuration(ctx, q.o.enqueueTimeout),
	}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetBatchEnqueue()
	if r == nil {
		return nil, unexpected("batch enqueue", resp.GetResponse())
	}
	return r.GetIds(), nil
}

// Pull returns 1…maxItems items (maxItems <= 0 means 1), waiting up to the pull timeout
// (WithPullTimeout, default 30 s, shortened to ctx's deadline) for the first one. With none
// it returns an empty slice and a nil error. On a paused queue it fails with ErrQueuePaused.
// The items are leased to this client: commit them when done.
func (q *QueueClient) Pull(ctx context.Context, maxItems int) ([]*Item, error) {
	maxItems = min(max(maxItems, 1), math.MaxInt32)
	resp, err := q.do(ctx, true, &pb.QueueRequest{Command: &pb.QueueRequest_Pull{Pull: &pb.PullRequest{
		BatchSize: int32(maxItems), Timeout: waitDuration(ctx, q.o.pullTimeout),
	}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetPull()
	if r == nil {
		return nil, unexpected("pull", resp.GetResponse())
	}
	items := make([]*Item, 0, len(r.GetItems()))
	for _, p := range r.GetItems() {
		items = append(items, itemFromProto(p))
	}
	return items, nil
}

// PullSingle returns one item, waiting up to the pull timeout; ErrTimeout when none came.
func (q *QueueClient) PullSingle(ctx context.Context) (*Item, error) {
	resp, err := q.do(ctx, true, &pb.QueueRequest{Command: &pb.QueueRequest_PullSingle{PullSingle: &pb.PullSingleRequest{
		Timeout: waitDuration(ctx, q.o.pullTimeout),
	}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetPullSingle()
	if r == nil || r.GetItem() == nil {
		return nil, unexpected("pull single", resp.GetResponse())
	}
	return itemFromProto(r.GetItem()), nil
}

// CommitSingle removes an active item for good (ErrItemNotFound, ErrItemNotBusy otherwise).
func (q *QueueClient) CommitSingle(ctx context.Context, id uint64) error {
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_CommitSingle{CommitSingle: &pb.CommitSingleRequest{Id: id}}})
	if err != nil {
		return err
	}
	r := resp.GetCommitSingle()
	if r == nil {
		return unexpected("commit", resp.GetResponse())
	}
	if !r.GetCommitted() {
		return fmt.Errorf("octopusmq: commit of item %d: not committed", id)
	}
	return nil
}

// Commit removes active items for good. When some could not be committed it returns a
// *PartialError saying how many were.
func (q *QueueClient) Commit(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_Commit{Commit: &pb.CommitRequest{Ids: ids}}})
	if err != nil {
		return err
	}
	r := resp.GetCommit()
	if r == nil {
		return unexpected("commit", resp.GetResponse())
	}
	if int(r.GetRet()) < len(ids) {
		return &PartialError{Op: "commit", Done: int(r.GetRet()), Total: len(ids)}
	}
	return nil
}

// RequeueSingle returns an active item to waiting with a new ttl (nil: never expires) and
// priority.
func (q *QueueClient) RequeueSingle(ctx context.Context, id uint64, ttl *durationpb.Duration, priority uint32) error {
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_RequeueSingle{RequeueSingle: &pb.RequeueSingleRequest{
		Item: &pb.RequeueItem{Id: id, Ttl: ttl, Priority: &priority},
	}}})
	if err != nil {
		return err
	}
	r := resp.GetRequeueSingle()
	if r == nil {
		return unexpected("requeue", resp.GetResponse())
	}
	if !r.GetRequeued() {
		return fmt.Errorf("octopusmq: requeue of item %d: not requeued", id)
	}
	return nil
}

// Requeue returns active items to waiting and reports how many were requeued.
func (q *QueueClient) Requeue(ctx context.Context, items []*RequeueItem) (int, error) {
	in := make([]*pb.RequeueItem, 0, len(items))
	for _, it := range items {
		if it != nil {
			in = append(in, &pb.RequeueItem{Id: it.Id, Ttl: it.TTL, Priority: it.Priority, Delay: it.Delay})
		}
	}
	if len(in) == 0 {
		return 0, nil
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_Requeue{Requeue: &pb.RequeueRequest{Items: in}}})
	if err != nil {
		return 0, err
	}
	r := resp.GetRequeue()
	if r == nil {
		return 0, unexpected("requeue", resp.GetResponse())
	}
	return int(r.GetRet()), nil
}

// DeleteSingle removes a waiting or active item.
func (q *QueueClient) DeleteSingle(ctx context.Context, id uint64) error {
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_DeleteSingle{DeleteSingle: &pb.DeleteSingleRequest{Id: id}}})
	if err != nil {
		return err
	}
	r := resp.GetDeleteSingle()
	if r == nil {
		return unexpected("delete", resp.GetResponse())
	}
	if !r.GetDeleted() {
		return fmt.Errorf("octopusmq: delete of item %d: not deleted", id)
	}
	return nil
}

// Delete removes items. When some could not be deleted it returns a *PartialError saying how
// many were.
func (q *QueueClient) Delete(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_Delete{Delete: &pb.DeleteRequest{Ids: ids}}})
	if err != nil {
		return err
	}
	r := resp.GetDelete()
	if r == nil {
		return unexpected("delete", resp.GetResponse())
	}
	if int(r.GetRet()) < len(ids) {
		return &PartialError{Op: "delete", Done: int(r.GetRet()), Total: len(ids)}
	}
	return nil
}

// Extend renews the lease of active items to lease from now (0: the queue's lease) and
// reports how many were extended.
func (q *QueueClient) Extend(ctx context.Context, ids []uint64, lease time.Duration) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var l *durationpb.Duration
	if lease > 0 {
		l = durationpb.New(lease)
	}
	resp, err := q.do(ctx, false, &pb.QueueRequest{Command: &pb.QueueRequest_Extend{Extend: &pb.ExtendRequest{Ids: ids, Lease: l}}})
	if err != nil {
		return 0, err
	}
	r := resp.GetExtend()
	if r == nil {
		return 0, unexpected("extend", resp.GetResponse())
	}
	return int(r.GetRet()), nil
}

// Info returns the queue's settings and counters.
func (q *QueueClient) Info(ctx context.Context) (*QueueInfo, error) {
	resp, err := q.do(ctx, true, &pb.QueueRequest{Command: &pb.QueueRequest_GetQueueInfo{GetQueueInfo: &pb.GetQueueInfoRequest{}}})
	if err != nil {
		return nil, err
	}
	r := resp.GetGetQueueInfo()
	if r == nil {
		return nil, unexpected("get queue info", resp.GetResponse())
	}
	return &QueueInfo{
		MaxSize: r.GetMaxSize(), Length: r.GetLength(), Active: r.GetActive(),
		Priorities: r.GetPriorities(), Paused: r.GetPaused(),
	}, nil
}

// Ping sends a noop and waits for its answer.
func (q *QueueClient) Ping(ctx context.Context) error {
	_, err := q.do(ctx, true, &pb.QueueRequest{Command: &pb.QueueRequest_Noop{Noop: &pb.NoopRequest{}}})
	return err
}
