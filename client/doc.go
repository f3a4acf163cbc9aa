// Package client is the Go client of OctopusMQ: a Raft-replicated priority queue and
// key-value store with locks.
//
//   - QueueClient enqueues, pulls, commits, requeues, deletes and extends the items of one
//     queue (NewQueueClient).
//   - StorageClient sets, gets, deletes, lists and locks the keys of one storage
//     (NewStorageClient).
//   - AdminClient creates, lists, pauses, resizes and deletes queues and storages, peeks at,
//     purges and redrives queues and reads their statistics, and reports and changes
//     cluster membership (NewAdminClient).
//
// All three are safe for concurrent use; create one per queue or storage and share it.
//
// # Connections
//
// The target is "host:port", or a comma-separated list of cluster nodes
// ("node1:4123,node2:4123,node3:4123"): the client tries them in turn until one answers.
// Connections are plaintext gRPC by default; WithTransportCredentials sets TLS and
// WithDialOptions adds any other gRPC dial option. Clients of one process with the same
// address and options share one connection per node (each with its own stream); a client
// given WithDialOptions dials its own.
//
// A QueueClient or StorageClient keeps one bidirectional stream open and pipelines every
// request on it: requests from many goroutines travel concurrently, each with its own
// correlation id, and answers are matched back however they are ordered (a long-polling
// Pull does not hold up a Commit behind it). NewQueueClient and NewStorageClient connect
// and set the stream up before returning (bounded by WithConnectTimeout, default 10 s), so
// a missing queue or storage is reported at once as ErrQueueNotFound / ErrStorageNotFound;
// WithLazyConnect defers this to the first operation.
//
// When the stream breaks (a node restarts, the network drops) the client reconnects with
// exponential backoff (50 ms doubling to 2 s, with jitter; WithBackoff), moving on to the
// next address when one is unreachable. Requests issued meanwhile wait for the new stream,
// bounded by their context: give contexts a deadline where waiting is not acceptable.
// Nodes that are not the Raft leader answer LEADER_SWITCH with the leader's address; the
// client reconnects there and re-sends the request, which the node did not execute, so the
// caller never notices. Idle streams are kept alive with noops (WithKeepAlive).
//
// A context that is cancelled or expires makes its call return the context's error at
// once; the server's late answer is dropped. Waits that happen on the server — the pull
// long poll, enqueue's wait for room, lock waits — are shortened to end before the
// context's deadline, so a deadline-bound Pull returns an empty result rather than a
// context error. (An item a cancelled Pull was about to receive stays leased until its
// lease runs out, as with any unacknowledged delivery.)
//
// Close ends the stream and its uses of the connections (a shared one closes with its last
// client); calls waiting on them fail with ErrClosed.
// Closing a QueueClient returns the items it pulled and did not commit to the queue.
//
// # Errors
//
// Errors wrap the package's sentinel errors; test them with errors.Is:
//
//	items, err := qClient.Pull(ctx, 10)
//	switch {
//	case errors.Is(err, client.ErrQueueNotFound): // the queue was deleted
//	case errors.Is(err, client.ErrQueuePaused):
//	case errors.Is(err, context.DeadlineExceeded):
//	}
//
// A failure answered by the server on a stream is a *StatusError carrying the protocol's
// status code and the server's message; a failed management call is an *RPCError carrying
// the gRPC code and message (status.Code works on it). Storage "no such key" errors match
// both ErrKeyNotFound and ErrItemNotFound. Commit and Delete of several ids return a
// *PartialError saying how many ids succeeded.
//
// # Unknown outcomes and idempotent enqueue
//
// A request in flight when the stream breaks fails with an error wrapping
// ErrConnectionLost, and a request whose context ends before the answer fails with the
// context's error. In both cases the server may or may not have executed it: the client
// never re-sends such a request on its own, because doing so could execute it twice. Only
// reads (Pull, PullSingle, Info, GetKey, GetKeys, the first page of Keys) are re-sent
// transparently on the new stream — a pull whose answer was lost leases nothing for long:
// the server returns a closed stream's items to the queue.
//
// To make enqueueing safe to retry, give items a UniqueKey (for example an order id):
// while an item with that key is in the queue, enqueueing it again adds nothing and
// answers the existing item's id, with EnqueueWithResult reporting Duplicate. So after
// ErrConnectionLost or a context error, enqueue the same item again:
//
//	item := &client.InputItem{UniqueKey: []byte("order-123"), Value: payload}
//	id, err := qClient.Enqueue(ctx, item)
//	for errors.Is(err, client.ErrConnectionLost) {
//		id, err = qClient.Enqueue(ctx, item) // at most one item "order-123" is queued
//	}
//
// (Deduplication lasts while the first item is in the queue: once it was committed a
// retry enqueues it anew.) Commit, Delete and Requeue of an id that was already executed
// answer ErrItemNotFound or ErrItemNotBusy on a retry, which callers can treat as done.
// For storage, SetKey is naturally idempotent; locks are fenced by tokens
// (LockKeyToken, LockAnyToken).
//
// # Locks across reconnects
//
// A lock belongs to the stream that took it and to its fencing token, and it outlives the
// stream. The StorageClient remembers the token of every lock it was granted and sends it
// with UnlockKey, Release, DeleteKey and SetKey of that key, so code written against one
// stream keeps working after a reconnect; a token whose lock expired or was released is
// refused (ErrItemBusy), which is what makes it a fence.
//
// The server's operators' reference (flags, REST, cluster) is the repository README.
package client
