package raftnode

import "github.com/hashicorp/raft"

// logCacheEntries is how many of the newest log entries a node keeps decoded in memory
// (raft.LogCache) in front of its log store.
//
// Raft reads back every entry it has just written: a leader to send it to each follower
// (replicate → GetLog), a follower to apply it (processLogs → GetLog). From raft-boltdb
// each read is a bbolt lookup, a copy and a msgpack decode of the whole entry; from the
// cache it is a pointer copy. Those reads are of the newest entries (the proposer keeps at
// most maxInflight = 16 of its own in flight; Raft sends at most MaxAppendEntries per
// request), so a few dozen suffice; a follower far behind reads the store as before.
//
// The cache holds references to entries Raft has just held anyway; with entries capped at
// maxBatchBytes (4 MiB) it retains at most logCacheEntries of them beyond that, and
// typically entries are tens of KiB.
const logCacheEntries = 32

// cachedLogs puts a cache of the newest entries in front of store.
func cachedLogs(store raft.LogStore) raft.LogStore {
	c, err := raft.NewLogCache(logCacheEntries, store)
	if err != nil { // only for a capacity ≤ 0
		panic(err)
	}
	return c
}
