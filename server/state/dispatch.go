package state

import (
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state/kv"
	"github.com/clbs-io/octopusmq/server/state/queue"
)

// handler applies one decoded command: body is its message, or nil for a command in the
// old envelope, whose message is still serialized in payload (see command_codec.go).
type handler func(s *State, now int64, body proto.Message, payload []byte) Result

// on adapts a typed handler: it takes the command's body, or decodes an old envelope's
// payload into a fresh M.
func on[T any, M interface {
	*T
	proto.Message
}](f func(s *State, now int64, m M) Result) handler {
	return func(s *State, now int64, body proto.Message, payload []byte) Result {
		if body != nil {
			m, ok := body.(M)
			if !ok {
				return Result{Err: apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "corrupt command: body %T", body)}
			}
			return f(s, now, m)
		}
		m := M(new(T))
		if err := proto.Unmarshal(payload, m); err != nil {
			return Result{Err: apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "corrupt command payload: %v", err)}
		}
		return f(s, now, m)
	}
}

// handlers is the one place where command types meet their code.
var handlers = map[raftpb.Type]handler{
	raftpb.Type_TYPE_CREATE_QUEUE:    on((*State).createQueue),
	raftpb.Type_TYPE_DELETE_QUEUE:    on((*State).deleteQueue),
	raftpb.Type_TYPE_RESIZE_QUEUE:    on((*State).resizeQueue),
	raftpb.Type_TYPE_PAUSE_QUEUE:     on((*State).pauseQueue),
	raftpb.Type_TYPE_RESUME_QUEUE:    on((*State).resumeQueue),
	raftpb.Type_TYPE_CREATE_STORAGE:  on((*State).createStorage),
	raftpb.Type_TYPE_DELETE_STORAGE:  on((*State).deleteStorage),
	raftpb.Type_TYPE_TICK:            on(func(*State, int64, *raftpb.Tick) Result { return Result{} }),
	raftpb.Type_TYPE_CLOSE_SESSION:   on((*State).closeSession),
	raftpb.Type_TYPE_QUEUE_ENQUEUE:   on((*State).enqueue),
	raftpb.Type_TYPE_QUEUE_PULL:      on((*State).pull),
	raftpb.Type_TYPE_QUEUE_COMMIT:    on((*State).commit),
	raftpb.Type_TYPE_QUEUE_REQUEUE:   on((*State).requeue),
	raftpb.Type_TYPE_QUEUE_DELETE:    on((*State).deleteItems),
	raftpb.Type_TYPE_QUEUE_EXTEND:    on((*State).extend),
	raftpb.Type_TYPE_STORAGE_SET:     on((*State).storageSet),
	raftpb.Type_TYPE_STORAGE_DELETE:  on((*State).storageDelete),
	raftpb.Type_TYPE_STORAGE_LOCK:    on((*State).storageLock),
	raftpb.Type_TYPE_STORAGE_RELEASE: on((*State).storageRelease),
	raftpb.Type_TYPE_SET_MEMBER_INFO: on((*State).setMemberInfo),
	raftpb.Type_TYPE_SET_CLUSTER_ID:  on((*State).setClusterID),
	raftpb.Type_TYPE_QUEUE_PURGE:     on((*State).purge),
	raftpb.Type_TYPE_QUEUE_REDRIVE:   on((*State).redrive),
}

func (s *State) dispatch(now int64, c *raftpb.Command) Result {
	typ, body := commandBody(c)
	h, ok := handlers[typ]
	if !ok {
		// A newer server wrote a command this one does not know (a type, or a body case
		// that decodes as an unknown field): fail the command, not the replica, so the log
		// stays replayable after an upgrade.
		return Result{Err: apierr.New(pb.StatusCode_STATUS_CODE_ERROR, "unknown command type %d", typ)}
	}
	return h(s, now, body, c.GetPayload())
}

// --- catalog -------------------------------------------------------------------------

func (s *State) createQueue(now int64, r *pb.CreateQueueRequest) Result {
	if err := ValidateCreateQueue(r); err != nil {
		return Result{Err: err}
	}
	if _, ok := s.queues[r.GetQueueName()]; ok {
		return Result{Err: apierr.New(pb.StatusCode_STATUS_CODE_ALREADY_EXISTS, "queue %q already exists", r.GetQueueName())}
	}
	if d := r.GetDeadLetterQueue(); d != "" {
		if _, ok := s.queues[d]; !ok {
			return Result{Err: apierr.InvalidArgument("dead_letter_queue %q does not exist", d)}
		}
	}
	s.queues[r.GetQueueName()] = queue.New(r)
	return Result{}
}

func (s *State) deleteQueue(now int64, r *pb.DeleteQueueRequest) Result {
	name := r.GetQueueName()
	if _, ok := s.queues[name]; !ok {
		return Result{Err: queueNotFound(name)}
	}
	for _, other := range sortedKeys(s.queues) {
		if other != name && s.queues[other].Config().GetDeadLetterQueue() == name {
			return Result{Err: apierr.Precondition("queue %q is the dead_letter_queue of queue %q", name, other)}
		}
	}
	delete(s.queues, name)
	delete(s.deadSources, name)
	delete(s.counts, name)
	delete(s.keyed, name)
	s.touch(QueueKey(name))
	s.touch(RoomKey(name))
	return Result{}
}

func (s *State) resizeQueue(now int64, r *pb.ResizeQueueRequest) Result {
	q, err := s.queue(r.GetQueueName())
	if err != nil {
		return Result{Err: err}
	}
	before := levels(q)
	if err := q.Resize(r.GetMaxSize()); err != nil {
		return Result{Err: err}
	}
	s.wakePullers(r.GetQueueName(), q, before) // room: enqueues waiting for it
	return Result{}
}

func (s *State) pauseQueue(now int64, r *pb.PauseQueueRequest) Result {
	q, err := s.queue(r.GetQueueName())
	if err != nil {
		return Result{Err: err}
	}
	q.SetPaused(true)
	return Result{}
}

func (s *State) resumeQueue(now int64, r *pb.ResumeQueueRequest) Result {
	q, err := s.queue(r.GetQueueName())
	if err != nil {
		return Result{Err: err}
	}
	q.SetPaused(false)
	s.wakePullers(r.GetQueueName(), q, level{ready: 0, room: q.Room()}) // every ready item may be pulled again
	return Result{}
}

func (s *State) createStorage(now int64, r *pb.CreateStorageRequest) Result {
	if err := ValidateName("storage_name", r.GetStorageName()); err != nil {
		return Result{Err: err}
	}
	if _, ok := s.storages[r.GetStorageName()]; ok {
		return Result{Err: apierr.New(pb.StatusCode_STATUS_CODE_ALREADY_EXISTS, "storage %q already exists", r.GetStorageName())}
	}
	s.storages[r.GetStorageName()] = kv.New(r.GetStorageName())
	return Result{}
}

func (s *State) deleteStorage(now int64, r *pb.DeleteStorageRequest) Result {
	if _, ok := s.storages[r.GetStorageName()]; !ok {
		return Result{Err: storageNotFound(r.GetStorageName())}
	}
	delete(s.storages, r.GetStorageName())
	s.touch(StorageKey(r.GetStorageName()))
	s.lockTouched = append(s.lockTouched, lockTouched{storage: r.GetStorageName(), all: true})
	return Result{}
}

// setMemberInfo records (or, with neither an address nor promote, forgets) a member.
func (s *State) setMemberInfo(now int64, r *raftpb.SetMemberInfo) Result {
	if r.GetClientAddress() == "" && !r.GetPromote() {
		delete(s.members, r.GetId())
	} else {
		s.members[r.GetId()] = r
	}
	s.touch(MembersKey)
	return Result{}
}

func (s *State) queue(name string) (*queue.Queue, *apierr.Error) {
	q, ok := s.queues[name]
	if !ok {
		return nil, queueNotFound(name)
	}
	return q, nil
}

func (s *State) storage(name string) (*kv.Storage, *apierr.Error) {
	st, ok := s.storages[name]
	if !ok {
		return nil, storageNotFound(name)
	}
	return st, nil
}

// --- queues --------------------------------------------------------------------------

// EnqueueResult is the value of a successful TYPE_QUEUE_ENQUEUE.
type EnqueueResult struct {
	IDs       []uint64
	Duplicate []bool
}

// PullResult is the value of a TYPE_QUEUE_PULL.
type PullResult struct {
	Items  []queue.Delivery
	Paused bool
}

// PerID is the value of commit, delete, extend and requeue: one error (nil: done) per id.
type PerID []*apierr.Error

func (s *State) enqueue(now int64, r *raftpb.QueueEnqueue) Result {
	q, err := s.queue(r.GetQueue())
	if err != nil {
		return Result{Err: err}
	}
	before := levels(q)
	res := s.enqueueResult(len(r.GetItems()))
	if err := q.EnqueueInto(now, r.GetItems(), s, res.IDs, res.Duplicate); err != nil {
		return Result{Err: err}
	}
	s.countEnqueued(r.GetQueue(), res.Duplicate)
	s.touchPullers(r.GetQueue(), q, r.GetItems(), before)
	return Result{Value: res}
}

// oneEnqueued is the result of an enqueue of one item, in one allocation.
type oneEnqueued struct {
	res EnqueueResult
	id  [1]uint64
	dup [1]bool
}

// enqueueResult returns a result for an enqueue of n items. The results of an entry's
// one-item enqueues (most of a busy log) share one array (s.enqueued), so an entry of many
// costs one allocation for them, not three per command (a follower discards them all).
func (s *State) enqueueResult(n int) *EnqueueResult {
	if n != 1 {
		return &EnqueueResult{IDs: make([]uint64, n), Duplicate: make([]bool, n)}
	}
	if len(s.enqueued) == cap(s.enqueued) {
		s.enqueued = make([]oneEnqueued, 0, max(s.entryCommands, 1))
	}
	s.enqueued = s.enqueued[:len(s.enqueued)+1]
	o := &s.enqueued[len(s.enqueued)-1]
	o.res = EnqueueResult{IDs: o.id[:], Duplicate: o.dup[:]}
	return &o.res
}

func (s *State) pull(now int64, r *raftpb.QueuePull) Result {
	q, err := s.queue(r.GetQueue())
	if err != nil {
		return Result{Err: err}
	}
	max := int(r.GetMax())
	if max < 1 {
		max = 1
	}
	items := q.PullWithin(now, r.GetSession(), max, r.GetMaxBytes())
	for _, d := range items {
		if d.Item.GetDeliveryCount() > 0 {
			s.events.redelivered.Add(1)
		}
	}
	return Result{Value: &PullResult{Items: items, Paused: q.Paused()}}
}

// perID applies f to every id of a QueueIds command.
func (s *State) perID(r *raftpb.QueueIds, f func(q *queue.Queue, id uint64) *apierr.Error) Result {
	q, err := s.queue(r.GetQueue())
	if err != nil {
		return Result{Err: err}
	}
	before := levels(q)
	out := make(PerID, len(r.GetIds()))
	for i, id := range r.GetIds() {
		out[i] = f(q, id)
	}
	s.wakePullers(r.GetQueue(), q, before)
	return Result{Value: out}
}

func (s *State) commit(now int64, r *raftpb.QueueIds) Result {
	res := s.perID(r, func(q *queue.Queue, id uint64) *apierr.Error { return q.Commit(now, id) })
	if ids, ok := res.Value.(PerID); ok {
		s.countCommitted(r.GetQueue(), ids)
	}
	return res
}

func (s *State) deleteItems(now int64, r *raftpb.QueueIds) Result {
	return s.perID(r, func(q *queue.Queue, id uint64) *apierr.Error { return q.Delete(now, id) })
}

func (s *State) extend(now int64, r *raftpb.QueueIds) Result {
	var lease time.Duration
	if r.GetLease() != nil {
		lease = r.GetLease().AsDuration()
	}
	return s.perID(r, func(q *queue.Queue, id uint64) *apierr.Error { return q.Extend(now, id, lease) })
}

func (s *State) requeue(now int64, r *raftpb.QueueRequeue) Result {
	q, err := s.queue(r.GetQueue())
	if err != nil {
		return Result{Err: err}
	}
	before := levels(q)
	out := make(PerID, len(r.GetItems()))
	for i, it := range r.GetItems() {
		dead, err := q.Requeue(now, it)
		out[i] = err
		if dead != nil {
			s.routeDead(now, []*raftpb.QueueItem{dead})
		}
	}
	s.wakePullers(r.GetQueue(), q, before)
	return Result{Value: out}
}

func (s *State) closeSession(now int64, r *raftpb.CloseSession) Result {
	for _, name := range sortedKeys(s.queues) {
		q := s.queues[name]
		before := levels(q)
		if dead := q.CloseSession(now, r.GetSession()); len(dead) > 0 {
			s.routeDead(now, dead)
		}
		s.wakePullers(name, q, before)
	}
	return Result{}
}

// routeDead moves dead items to their queue's dead-letter queue, or drops them.
func (s *State) routeDead(now int64, dead []*raftpb.QueueItem) {
	for _, it := range dead {
		src, ok := s.queues[it.GetQueue()]
		if !ok {
			continue
		}
		dlq, ok := s.queues[src.Config().GetDeadLetterQueue()]
		s.events.countDead(now, it, ok)
		if !ok {
			continue
		}
		before := levels(dlq)
		dlq.AddDead(now, it)
		s.noteDeadSource(src.Config().GetDeadLetterQueue(), it.GetId(), it.GetQueue())
		s.markKeyed(src.Config().GetDeadLetterQueue(), it)
		s.wakePullers(src.Config().GetDeadLetterQueue(), dlq, before)
	}
}

// --- storages ------------------------------------------------------------------------

func (s *State) storageSet(now int64, r *raftpb.StorageSet) Result {
	st, err := s.storage(r.GetStorage())
	if err != nil {
		return Result{Err: err}
	}
	s.watch(st)
	id, err := st.Set(now, r.GetSession(), r.GetRequest(), s)
	s.storageChanged(r.GetStorage(), st)
	if err != nil {
		return Result{Err: err}
	}
	return Result{Value: id}
}

func (s *State) storageDelete(now int64, r *raftpb.StorageDelete) Result {
	st, err := s.storage(r.GetStorage())
	if err != nil {
		return Result{Err: err}
	}
	s.watch(st)
	err = st.Delete(now, r.GetSession(), r.GetRequest().GetKey(), r.GetRequest().GetLockToken())
	// Waiters to lock the deleted key learn at once that it is gone.
	s.storageChanged(r.GetStorage(), st)
	if err != nil {
		return Result{Err: err}
	}
	return Result{}
}

// ErrNoKey is the failure of a lock-any that found no lockable key (waiters retry). On a
// stream it is TIMEOUT, as the protocol says; unary and REST callers get Aborted (HTTP 409,
// as for lock_key on a key that stayed locked): every key was held for the whole wait, which
// is a conflict, not a gateway timeout.
var ErrNoKey = &apierr.Error{Status: pb.StatusCode_STATUS_CODE_TIMEOUT, Code: codes.Aborted, Msg: "no unlocked key is available"}

func (s *State) storageLock(now int64, r *raftpb.StorageLock) Result {
	st, err := s.storage(r.GetStorage())
	if err != nil {
		return Result{Err: err}
	}
	var ttl time.Duration
	if r.GetLockTtl() != nil {
		ttl = r.GetLockTtl().AsDuration()
	}
	s.watch(st)
	defer s.storageChanged(r.GetStorage(), st)
	if r.GetAny() {
		e, ok := st.LockAny(now, r.GetSession(), r.GetPrefix(), ttl, s)
		if !ok {
			return Result{Err: ErrNoKey}
		}
		s.events.locksGranted.Add(1)
		return Result{Value: e}
	}
	e, err := st.Lock(now, r.GetSession(), r.GetKey(), ttl, s)
	if err != nil {
		return Result{Err: err}
	}
	s.events.locksGranted.Add(1)
	return Result{Value: e}
}

func (s *State) storageRelease(now int64, r *raftpb.StorageRelease) Result {
	st, err := s.storage(r.GetStorage())
	if err != nil {
		return Result{Err: err}
	}
	req := r.GetRequest()
	s.watch(st)
	err = st.Release(now, r.GetSession(), req.GetId(), req.GetDelete(), req.GetLockToken())
	s.storageChanged(r.GetStorage(), st)
	if err != nil {
		return Result{Err: err}
	}
	return Result{}
}
