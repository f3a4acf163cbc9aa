package raftnode

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clbs-io/octopusmq/server/state"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hashicorp/raft's own log lines come out through the node's slog handler: JSON like ours,
// with logger=raft, filtered by the same level.
func TestRaftLogsThroughSlog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
		t.Run(level.String(), func(t *testing.T) {
			out := &lockedBuffer{}
			addr := freeAddr(t)
			logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))
			n, err := Start(Config{NodeID: "n1", DataDir: t.TempDir(), RaftBind: addr, Bootstrap: true, Logger: logger}, state.New(nil))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := n.WaitLeaderReady(ctx); err != nil {
				t.Fatal(err)
			}
			if err := n.Shutdown(); err != nil {
				t.Fatal(err)
			}
			raftLines := 0
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line == "" {
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("a log line is not our JSON: %q", line)
				}
				if rec["logger"] == "raft" {
					raftLines++
					if _, ok := rec["time"]; !ok || rec["msg"] == nil || rec["level"] == nil {
						t.Errorf("raft line without slog's fields: %q", line)
					}
				}
			}
			switch {
			case level == slog.LevelInfo && raftLines == 0:
				t.Errorf("no raft lines at info (an election happened):\n%s", out)
			case level == slog.LevelError && raftLines != 0:
				t.Errorf("%d raft lines at level error, want none:\n%s", raftLines, out)
			}
		})
	}
}

// The adapter's levels and names follow the slog handler.
func TestHCLogAdapter(t *testing.T) {
	out := &lockedBuffer{}
	h := newHCLog(slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})), "raft")
	if !h.IsDebug() || h.IsTrace() || h.GetLevel() != hclog.Debug {
		t.Errorf("levels: debug %v trace %v get %v, want debug on, trace off", h.IsDebug(), h.IsTrace(), h.GetLevel())
	}
	h.Named("snapshot").With("peer", "n2").Warn("slow", "took", "2s")
	h.Trace("hidden")
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out.String())), &rec); err != nil {
		t.Fatalf("want one JSON line, got %q", out)
	}
	for k, v := range map[string]any{"logger": "raft.snapshot", "peer": "n2", "took": "2s", "level": "WARN", "msg": "slow"} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (line %q)", k, rec[k], v, out)
		}
	}
	h.StandardLogger(nil).Print("from the standard logger")
	if !strings.Contains(out.String(), "from the standard logger") {
		t.Errorf("standard logger output lost: %q", out)
	}
}
