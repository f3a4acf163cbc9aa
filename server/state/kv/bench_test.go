package kv

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/pb"
)

var benchValue = []byte("0123456789abcdef")

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key/%012d", i)) } // 16 bytes

// filled is a storage with n keys, shared by the benchmarks of one size (each benchmark
// leaves it as it found it).
var filled = map[int]*Storage{}

func benchStorage(b *testing.B, n int) (*Storage, *counters, [][]byte) {
	b.Helper()
	if n >= 1_000_000 && testing.Short() {
		b.Skip("1M keys under -short")
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	c := &counters{id: 1 << 40, tok: 1 << 40}
	if s, ok := filled[n]; ok {
		return s, c, keys
	}
	s, fc := New("bench"), &counters{}
	for i := 0; i < n; i++ {
		if _, err := s.Set(t0, 0, &pb.StorageSetRequest{Key: keys[(i*7919)%n], Value: benchValue}, fc); err != nil {
			b.Fatal(err)
		}
	}
	filled[n] = s
	return s, c, keys
}

var benchSizes = []int{1_000, 1_000_000}

func sizeName(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1_000)
}

// BenchmarkSet replaces existing keys (the id and indexes stay).
func BenchmarkSet(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, c, keys := benchStorage(b, n)
			req := &pb.StorageSetRequest{Value: benchValue}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.Key = keys[(i*7919)%n]
				if _, err := s.Set(t0, 0, req, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSetNewDelete creates a key (with a ttl: one deadline) and deletes it again.
func BenchmarkSetNewDelete(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, c, _ := benchStorage(b, n)
			key := []byte("key/new-key-here")
			req := &pb.StorageSetRequest{Key: key, Value: benchValue, Ttl: durationpbNew(time.Hour)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Set(t0, 0, req, c); err != nil {
					b.Fatal(err)
				}
				if err := s.Delete(t0, 0, key, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, _, keys := benchStorage(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Get(t0, keys[(i*7919)%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLockRelease(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, c, keys := benchStorage(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, err := s.Lock(t0, 1, keys[(i*7919)%n], time.Minute, c)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Release(t0, 1, e.ID, false, e.LockToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLockAny locks the first key of a prefix (the keys before it already locked, so
// the seek matters) and releases it.
func BenchmarkLockAny(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, c, _ := benchStorage(b, n)
			// Lock the first 100 keys under the prefix, as busy workers would.
			prefix := []byte("key/0000000")
			var held []Entry
			for i := 0; i < 100; i++ {
				e, ok := s.LockAny(t0, 1, prefix, time.Hour, c)
				if !ok {
					b.Fatal("no key")
				}
				held = append(held, e)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, ok := s.LockAny(t0, 1, prefix, time.Minute, c)
				if !ok {
					b.Fatal("no key")
				}
				if err := s.Release(t0, 1, e.ID, false, e.LockToken); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			for _, e := range held {
				if err := s.Release(t0, 1, e.ID, false, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkKeysPage(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			s, _, keys := benchStorage(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				after := keys[(i*7919)%n]
				if keys, _ := s.Keys(t0, after, []byte("key/"), 100, false); len(keys) == 0 && (i*7919)%n < n-1 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

// BenchmarkBytesPerKey reports the heap a key costs: 16-byte keys, a shared value (so the
// figure is the index overhead plus the key bytes), no ttl, no lock; and again with a ttl
// and a lock on every key (two deadline records each).
func BenchmarkBytesPerKey(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	for _, withDeadlines := range []bool{false, true} {
		name := "plain"
		if withDeadlines {
			name = "ttl+lock"
		}
		b.Run(name, func(b *testing.B) {
			// One measurement per call, whatever b.N: the time reported is the fill's.
			keys := make([][]byte, n)
			for j := range keys {
				keys[j] = benchKey(j)
			}
			c := &counters{}
			req := &pb.StorageSetRequest{Value: benchValue}
			if withDeadlines {
				req.Ttl = durationpbNew(time.Hour)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s := New("bytes")
			for j := 0; j < n; j++ {
				req.Key = keys[(j*7919)%n]
				if _, err := s.Set(t0, 0, req, c); err != nil {
					b.Fatal(err)
				}
				if withDeadlines {
					if _, err := s.Lock(t0, 1, req.Key, time.Minute, c); err != nil {
						b.Fatal(err)
					}
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "B/key")
			runtime.KeepAlive(s)
			runtime.KeepAlive(keys)
		})
	}
}
