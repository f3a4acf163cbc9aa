package auth

import (
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// watched holds the value loaded from some files and reloads it when they change. Files are
// checked when the value is used, at most once per interval (a stat of each file): a
// Kubernetes Secret update (a symlink swap), an editor's rename or an in-place rewrite are
// all seen. A version that fails to load is logged and the previous one kept.
type watched[T any] struct {
	what     string
	paths    []string
	load     func() (*T, error)
	interval time.Duration
	log      *slog.Logger

	cur  atomic.Pointer[T]
	next atomic.Int64 // unix nanoseconds of the next check

	mu     sync.Mutex
	stamps []os.FileInfo
}

func newWatched[T any](what string, paths []string, interval time.Duration, log *slog.Logger, load func() (*T, error)) (*watched[T], error) {
	w := &watched[T]{what: what, paths: paths, load: load, interval: interval, log: log}
	w.stamps = stat(paths)
	v, err := load()
	if err != nil {
		return nil, err
	}
	w.cur.Store(v)
	w.next.Store(time.Now().UnixNano() + int64(interval))
	return w, nil
}

// get returns the current value, reloading it first if the files changed.
func (w *watched[T]) get() *T {
	if now := time.Now().UnixNano(); now >= w.next.Load() {
		w.check(now)
	}
	return w.cur.Load()
}

func (w *watched[T]) check(now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now < w.next.Load() {
		return
	}
	defer w.next.Store(time.Now().UnixNano() + int64(w.interval))
	st := stat(w.paths)
	if sameStamps(st, w.stamps) {
		return
	}
	w.stamps = st
	v, err := w.load()
	if err != nil {
		// Half-written files (a certificate without its new key yet) land here; the next
		// change of the files tries again.
		w.log.Error("reloading "+w.what+" failed; keeping the previous version", "err", err)
		return
	}
	w.cur.Store(v)
	w.log.Info("reloaded " + w.what)
}

func stat(paths []string) []os.FileInfo {
	out := make([]os.FileInfo, len(paths))
	for i, p := range paths {
		out[i], _ = os.Stat(p)
	}
	return out
}

func sameStamps(a, b []os.FileInfo) bool {
	for i := range a {
		x, y := a[i], b[i]
		if x == nil || y == nil {
			if x != y {
				return false
			}
			continue
		}
		if !os.SameFile(x, y) || !x.ModTime().Equal(y.ModTime()) || x.Size() != y.Size() {
			return false
		}
	}
	return true
}
