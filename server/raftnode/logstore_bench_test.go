package raftnode

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// BenchmarkLogStore measures one Raft batch written to the log store (8 entries of 512 B,
// one bbolt commit with its fsyncs), with the log truncated behind it the way snapshots
// do, for bbolt's default options (what the node uses) against NoFreelistSync with the
// map freelist, a lever measured and not adopted (no win beyond noise; see DESIGN.md).
//
//	go test -run '^$' -bench LogStore -benchtime 2000x ./server/raftnode
func BenchmarkLogStore(b *testing.B) {
	open := map[string]func(string) (*raftboltdb.BoltStore, error){
		"default": raftboltdb.NewBoltStore,
		"tuned": func(path string) (*raftboltdb.BoltStore, error) {
			return raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{
				NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}})
		},
	}
	for _, name := range []string{"default", "tuned"} {
		b.Run(name, func(b *testing.B) {
			s, err := open[name](filepath.Join(b.TempDir(), "raft.db"))
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
