package clustertest

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// A node writes one log format: with --log-format json every line of its output, Raft's
// own included (logger=raft), is a JSON object of the same shape, and --log-level info
// filters Raft's debug lines too.
func TestOneLogFormat(t *testing.T) {
	c := New(t, 3, WithFlags("--log-format", "json"))
	c.WaitLeader(20 * time.Second)
	for _, n := range c.Nodes {
		if !c.Stop(n, 10*time.Second) {
			t.Fatalf("%s did not stop", n.ID)
		}
	}
	for _, n := range c.Nodes {
		raw, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		raft := 0
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: a log line is not JSON: %q", n.ID, line)
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("%s: line without %q: %q", n.ID, k, line)
				}
			}
			if rec["level"] == "DEBUG" || strings.HasPrefix(rec["level"].(string), "DEBUG") {
				t.Errorf("%s: a debug line at --log-level info: %q", n.ID, line)
			}
			if rec["logger"] == "raft" {
				raft++
			}
		}
		if raft == 0 {
			t.Errorf("%s: no line from Raft (logger=raft) though it elected a leader:\n%s", n.ID, raw)
		}
	}
}
