package raftnode

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/state"
)

// RecoverReport describes a data dir before (and after) Recover.
type RecoverReport struct {
	// Before is the configuration the data dir held; After the one written (empty on a
	// dry run).
	Before, After raft.Configuration
	// LastIndex and LastTerm are the data dir's last log entry (or snapshot): of several
	// survivors, the one with the highest (term, index) holds every acknowledged write any
	// of them holds.
	LastIndex, LastTerm uint64
}

// Recover rewrites the Raft configuration of a stopped node's data dir so that members are
// the whole cluster (hashicorp/raft's RecoverCluster): the way back for a cluster that lost
// its quorum for good. Every surviving member runs it with the same members, then starts
// normally; the survivors elect a leader among themselves. A member given without an
// address keeps the one the data dir knows. members must include nodeID. With dryRun it
// only reports.
//
// It is unsafe while any removed member might still come back with its old data, and it
// keeps only what the survivors hold: writes acknowledged by the lost majority alone are
// gone, and entries the survivor held but that were never committed become committed.
func Recover(dataDir, nodeID string, members []raft.Server, dryRun bool) (*RecoverReport, error) {
	// The same layout as Start: <data dir>/raft/{raft.db or wal/, snapshots}.
	raftDir := filepath.Join(dataDir, "raft")
	kind, err := existingLogStore(raftDir)
	if err != nil {
		return nil, err
	}
	// The WAL's guard alone (raft.db as a directory) holds no data.
	_, walErr := os.Stat(walPath(raftDir))
	if kind == "" || kind == LogStoreWAL && errors.Is(walErr, os.ErrNotExist) {
		return nil, fmt.Errorf("no Raft data in %s: neither a bolt log (%s) nor a WAL (%s)", dataDir, boltPath(raftDir), walPath(raftDir))
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: os.Stderr})
	logStore, err := openLogStore(raftDir, kind, time.Second, hl)
	if err != nil {
		return nil, fmt.Errorf("raft log store: %w", err)
	}
	defer logStore.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hl)
	if err != nil {
		return nil, fmt.Errorf("raft snapshot store: %w", err)
	}
	conf := func() *raft.Config {
		c := raft.DefaultConfig()
		c.LocalID = raft.ServerID(nodeID)
		c.Logger = hl
		return c
	}
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()

	rep := &RecoverReport{}
	if rep.Before, err = raft.GetConfiguration(conf(), newFSM(state.New(nil), raft.ServerID(nodeID), offlineClock()), logStore, logStore, snaps, trans); err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	if rep.LastIndex, rep.LastTerm, err = lastEntry(logStore, snaps); err != nil {
		return nil, err
	}
	if dryRun {
		return rep, nil
	}
	after, err := recoveredConfiguration(rep.Before, nodeID, members)
	if err != nil {
		return nil, err
	}
	if err := raft.RecoverCluster(conf(), newFSM(state.New(nil), raft.ServerID(nodeID), offlineClock()), logStore, logStore, snaps, trans, after); err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	rep.After = after
	return rep, nil
}

// recoveredConfiguration makes members (every one a voter) the configuration, filling in
// missing addresses from before.
func recoveredConfiguration(before raft.Configuration, nodeID string, members []raft.Server) (raft.Configuration, error) {
	if len(members) == 0 {
		members = []raft.Server{{ID: raft.ServerID(nodeID)}}
	}
	known := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range before.Servers {
		known[s.ID] = s.Address
	}
	var out raft.Configuration
	self := false
	for _, m := range members {
		if m.Address == "" {
			m.Address = known[m.ID]
		}
		if m.Address == "" {
			return out, fmt.Errorf("members: %q has no Raft address in this data dir: give it as %s=host:port", m.ID, m.ID)
		}
		m.Suffrage = raft.Voter
		self = self || string(m.ID) == nodeID
		out.Servers = append(out.Servers, m)
	}
	if !self {
		return out, fmt.Errorf("members: must include this node, %q", nodeID)
	}
	return out, nil
}

// lastEntry is the index and term of the last log entry, or of the newest snapshot when it
// is further.
func lastEntry(logs raft.LogStore, snaps raft.SnapshotStore) (index, term uint64, err error) {
	if index, err = logs.LastIndex(); err != nil {
		return 0, 0, fmt.Errorf("last log index: %w", err)
	}
	if index > 0 {
		var l raft.Log
		if err := logs.GetLog(index, &l); err != nil {
			return 0, 0, fmt.Errorf("log entry %d: %w", index, err)
		}
		term = l.Term
	}
	list, err := snaps.List()
	if err != nil {
		return 0, 0, fmt.Errorf("snapshots: %w", err)
	}
	if len(list) > 0 && list[0].Index > index {
		index, term = list[0].Index, list[0].Term
	}
	return index, term, nil
}

// offlineClock is the log clock of an FSM that only replays the log (no entry is proposed).
func offlineClock() *logClock {
	return newLogClock(NewSystemClock(), slog.New(slog.DiscardHandler), false)
}
