package raftnode

import (
	"context"

	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// The typed layer services call (as etcd's servers call its Raft node): one method per
// command, each returning a Future of the command's own result type, so no caller
// asserts a state.Result's Value. It sits on Submit; Propose keeps its low-level shape.

// Future is a submitted command whose typed result is not known yet.
type Future[T any] struct{ pd *Pending }

// Wait waits for the result: the value, or the command's refusal (fault), or err when
// the command's outcome is not known (not the leader, shutdown, ctx; see Propose).
func (f Future[T]) Wait(ctx context.Context) (v T, fault *apierr.Error, err error) {
	res, err := f.pd.Wait(ctx)
	if err != nil {
		return v, nil, err
	}
	if res.Err != nil {
		return v, res.Err, nil
	}
	// The value's type is fixed by the command's handler (state/dispatch.go); a command
	// whose handler returns none (delete, release) yields T's zero value.
	v, _ = res.Value.(T)
	return v, nil, nil
}

// None is the result of a command that returns nothing but success or a refusal.
type None struct{}

// Enqueue adds items to a queue (all or none).
func (n *Node) Enqueue(cmd *raftpb.QueueEnqueue) Future[*state.EnqueueResult] {
	return Future[*state.EnqueueResult]{pd: n.Submit(raftpb.Type_TYPE_QUEUE_ENQUEUE, cmd)}
}

// Pull leases items of a queue to a session.
func (n *Node) Pull(cmd *raftpb.QueuePull) Future[*state.PullResult] {
	return Future[*state.PullResult]{pd: n.Submit(raftpb.Type_TYPE_QUEUE_PULL, cmd)}
}

// QueueIDs runs commit, delete or extend (typ) on items by id: one refusal (nil: done) per
// id.
func (n *Node) QueueIDs(typ raftpb.Type, cmd *raftpb.QueueIds) Future[state.PerID] {
	return Future[state.PerID]{pd: n.Submit(typ, cmd)}
}

// Requeue returns active items to waiting: one refusal (nil: done) per item.
func (n *Node) Requeue(cmd *raftpb.QueueRequeue) Future[state.PerID] {
	return Future[state.PerID]{pd: n.Submit(raftpb.Type_TYPE_QUEUE_REQUEUE, cmd)}
}

// CloseSession returns a stream session's active items and ends its group bindings.
func (n *Node) CloseSession(cmd *raftpb.CloseSession) Future[None] {
	return Future[None]{pd: n.Submit(raftpb.Type_TYPE_CLOSE_SESSION, cmd)}
}

// StorageSet creates or replaces a key; the result is its id.
func (n *Node) StorageSet(cmd *raftpb.StorageSet) Future[uint64] {
	return Future[uint64]{pd: n.Submit(raftpb.Type_TYPE_STORAGE_SET, cmd)}
}

// StorageDelete deletes a key.
func (n *Node) StorageDelete(cmd *raftpb.StorageDelete) Future[None] {
	return Future[None]{pd: n.Submit(raftpb.Type_TYPE_STORAGE_DELETE, cmd)}
}

// StorageRelease releases a lock by key id.
func (n *Node) StorageRelease(cmd *raftpb.StorageRelease) Future[None] {
	return Future[None]{pd: n.Submit(raftpb.Type_TYPE_STORAGE_RELEASE, cmd)}
}

// StorageLock locks a key (or any key with a prefix); the result is the locked entry.
func (n *Node) StorageLock(cmd *raftpb.StorageLock) Future[kv.Entry] {
	return Future[kv.Entry]{pd: n.Submit(raftpb.Type_TYPE_STORAGE_LOCK, cmd)}
}

// PurgeQueue removes a queue's waiting items.
func (n *Node) PurgeQueue(cmd *raftpb.QueuePurge) Future[*state.PurgeResult] {
	return Future[*state.PurgeResult]{pd: n.Submit(raftpb.Type_TYPE_QUEUE_PURGE, cmd)}
}

// RedriveQueue moves a queue's dead-lettered items back into it.
func (n *Node) RedriveQueue(cmd *raftpb.QueueRedrive) Future[*state.RedriveResult] {
	return Future[*state.RedriveResult]{pd: n.Submit(raftpb.Type_TYPE_QUEUE_REDRIVE, cmd)}
}
