package raftnode

import (
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/gen/raftpb"
	"github.com/clbs-io/octopusmq/server/apierr"
	"github.com/clbs-io/octopusmq/server/state"
	"github.com/clbs-io/octopusmq/server/state/kv"
)

// Reads of this replica's state, for the services (which reach the state only through
// the node). They are linearizable after ReadBarrier; now is the reader's clock (0: the
// log's).

// HasQueue reports whether a queue exists (QUEUE_NOT_FOUND otherwise).
func (n *Node) HasQueue(name string) *apierr.Error { return n.state.HasQueue(name) }

// HasStorage reports whether a storage exists (STORAGE_NOT_FOUND otherwise).
func (n *Node) HasStorage(name string) *apierr.Error { return n.state.HasStorage(name) }

// Queue describes one queue.
func (n *Node) Queue(name string) (*pb.ListQueueItem, *apierr.Error) { return n.state.Queue(name) }

// ListQueues describes every queue, ordered by name.
func (n *Node) ListQueues() []*pb.ListQueueItem { return n.state.ListQueues() }

// ListStorages describes every storage, ordered by name.
func (n *Node) ListStorages() []*pb.ListStorageItem { return n.state.ListStorages() }

// Sizes counts the queues and the storages.
func (n *Node) Sizes() (queues, storages int) { return n.state.Sizes() }

// StorageInfo counts a storage's keys and locked keys.
func (n *Node) StorageInfo(name string) (count, locked uint32, err *apierr.Error) {
	return n.state.StorageInfo(name)
}

// StorageGet reads a key.
func (n *Node) StorageGet(name string, now int64, key []byte) (kv.Entry, *apierr.Error) {
	return n.state.StorageGet(name, now, key)
}

// StorageGetByIDs reads keys by id, in request order, skipping absent ones.
func (n *Node) StorageGetByIDs(name string, now int64, ids []uint64) ([]kv.Entry, *apierr.Error) {
	return n.state.StorageGetByIDs(name, now, ids)
}

// StorageKeys lists a page of keys after `after`.
func (n *Node) StorageKeys(name string, now int64, after, prefix []byte, limit int, activeIncluded bool) ([][]byte, bool, *apierr.Error) {
	return n.state.StorageKeys(name, now, after, prefix, limit, activeIncluded)
}

// MemberAddress is the client address member id advertised ("" when unknown).
func (n *Node) MemberAddress(id string) string { return n.state.MemberAddress(id) }

// MemberPromote reports whether member id was added as a voter.
func (n *Node) MemberPromote(id string) bool { return n.state.MemberPromote(id) }

// PullReady reports whether a pull of queue by session would lease an item now, and
// whether the queue is paused.
func (n *Node) PullReady(queue string, session uint64) (ready, paused bool, err *apierr.Error) {
	return n.state.PullReady(queue, session)
}

// QueueReady reports whether queue has an item a stream without bound groups could lease.
func (n *Node) QueueReady(queue string) bool { return n.state.QueueReady(queue) }

// Notifier wakes this process's waiters when the state changes (state.Notifier).
func (n *Node) Notifier() *state.Notifier { return n.state.Notifier() }

// EnqueueFits reports whether items fit into queue now, and its room (state.EnqueueFits).
func (n *Node) EnqueueFits(queue string, items []*pb.InputItem) (bool, int) {
	return n.state.EnqueueFits(queue, items)
}

// LockReady reports whether a lock of storage could be tried now (state.LockReady).
func (n *Node) LockReady(storage string, any bool, key, prefix []byte) bool {
	return n.state.LockReady(storage, any, key, prefix)
}

// AppliedCommands is the number of commands this node applied since it started.
func (n *Node) AppliedCommands() uint64 { return n.state.AppliedCommands() }

// PeekQueue lists a queue's waiting items without leasing them (state.PeekQueue).
func (n *Node) PeekQueue(name string, limit int, includeDelayed bool, maxBytes uint64) ([]*raftpb.QueueItem, bool, *apierr.Error) {
	return n.state.PeekQueue(name, limit, includeDelayed, maxBytes)
}

// QueueStats reports a queue's live statistics (state.QueueStats).
func (n *Node) QueueStats(name string) (*state.QueueStats, *apierr.Error) {
	return n.state.QueueStats(name)
}
