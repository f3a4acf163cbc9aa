package raftnode

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog is an hclog.Logger over a slog.Logger, so hashicorp/raft logs through the
// server's slog handler: one format (text or JSON) and one level (--log-level) for every
// line the process writes. hashicorp/go-hclog has no slog adapter of its own (v1.6).
// hclog's Trace maps to slog's Debug-4 (shown by no --log-level), and the logger's name to a
// "logger" attribute. SetLevel is ignored: the slog handler's level rules.
type slogHCLog struct {
	base    *slog.Logger // without name and implied arguments
	l       *slog.Logger // base with them
	name    string
	implied []any
}

var _ hclog.Logger = (*slogHCLog)(nil)

// levelTrace is hclog's Trace in slog terms.
const levelTrace = slog.LevelDebug - 4

func newHCLog(l *slog.Logger, name string) hclog.Logger { return build(l, name, nil) }

func build(base *slog.Logger, name string, implied []any) *slogHCLog {
	l := base
	if name != "" {
		l = l.With("logger", name)
	}
	return &slogHCLog{base: base, l: l.With(implied...), name: name, implied: implied}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	h.l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *slogHCLog) enabled(l slog.Level) bool { return h.l.Enabled(context.Background(), l) }

func (h *slogHCLog) IsTrace() bool { return h.enabled(levelTrace) }
func (h *slogHCLog) IsDebug() bool { return h.enabled(slog.LevelDebug) }
func (h *slogHCLog) IsInfo() bool  { return h.enabled(slog.LevelInfo) }
func (h *slogHCLog) IsWarn() bool  { return h.enabled(slog.LevelWarn) }
func (h *slogHCLog) IsError() bool { return h.enabled(slog.LevelError) }

func (h *slogHCLog) ImpliedArgs() []any { return h.implied }

func (h *slogHCLog) With(args ...any) hclog.Logger {
	return build(h.base, h.name, append(append([]any(nil), h.implied...), args...))
}

func (h *slogHCLog) Name() string { return h.name }

func (h *slogHCLog) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

// ResetNamed keeps the implied arguments; the "logger" attribute becomes name.
func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	return build(h.base, name, h.implied)
}

func (h *slogHCLog) SetLevel(hclog.Level) {}

func (h *slogHCLog) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(slogLevel(l)) {
			return l
		}
	}
	return hclog.Off
}

func (h *slogHCLog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}

func (h *slogHCLog) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}
