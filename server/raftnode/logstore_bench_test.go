package raftnode

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// BenchmarkLogStore measures one Raft batch written to the log store (8 entries of 512 B,
// one commit with its fsyncs), with the log truncated behind it the way snapshots do:
// raft-boltdb with bbolt's default options (one bbolt transaction: two fdatasyncs per
// commit), with NoFreelistSync and the map freelist (measured, no win beyond noise; see
// DESIGN.md), and hashicorp/raft-wal (append to a preallocated segment file, one fsync).
//
//	go test -run '^$' -bench LogStore -benchtime 2000x ./server/raftnode
func BenchmarkLogStore(b *testing.B) {
	type store interface {
		raft.LogStore
		Close() error
	}
	open := map[string]func(dir string) (store, error){
		"bolt-default": func(dir string) (store, error) {
			return openLogStore(dir, LogStoreBolt, 0, hclog.NewNullLogger())
		},
		"bolt-tuned": func(dir string) (store, error) {
			return raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{
				NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}})
		},
		"wal": func(dir string) (store, error) { return openLogStore(dir, LogStoreWAL, 0, hclog.NewNullLogger()) },
	}
	for _, name := range []string{"bolt-default", "bolt-tuned", "wal"} {
		b.Run(name, func(b *testing.B) {
			s, err := open[name](b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 512)
			logs := make([]*raft.Log, 8)
			next := uint64(1)
			b.ResetTimer()
			for i := range b.N {
				for k := range logs {
					logs[k] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				if i%256 == 255 { // keep the last 1024 entries, like TrailingLogs
					if err := s.DeleteRange(1, next-1024); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
