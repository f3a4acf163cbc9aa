package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

func TestParseMembers(t *testing.T) {
	m, err := parseMembers("n1, n2=h2:4124")
	if err != nil || len(m) != 2 || m[0].ID != "n1" || m[0].Address != "" || m[1].Address != "h2:4124" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"=a:1", "n1,n1", "n1,,n2"} {
		if _, err := parseMembers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRecoverStoppedNode: recover refuses a running node's data dir and one without Raft
// data; on the stopped node it reports, rewrites the configuration, and the node starts
// from it with its data.
func TestRecoverStoppedNode(t *testing.T) {
	srv := servertest.Start(t)
	post(t, srv.URL+"/v1/queues", `{"queueName":"kept"}`)
	var out bytes.Buffer
	if err := runRecover([]string{"--data-dir", srv.DataDir, "--node-id", "test-node"}, &out); err == nil || !strings.Contains(err.Error(), "stop the node first") {
		t.Fatalf("recover of a running node: %v", err)
	}
	if err := runRecover([]string{"--data-dir", t.TempDir(), "--node-id", "test-node"}, &out); err == nil || !strings.Contains(err.Error(), "no Raft data") {
		t.Fatalf("recover of an empty dir: %v", err)
	}
	srv.Stop()
	out.Reset()
	if err := runRecover([]string{"--data-dir", srv.DataDir, "--node-id", "test-node", "--dry-run"}, &out); err != nil || !strings.Contains(out.String(), "configuration: test-node=") || strings.Contains(out.String(), "recovered") {
		t.Fatalf("dry run: %v\n%s", err, &out)
	}
	if err := runRecover([]string{"--data-dir", srv.DataDir, "--node-id", "test-node", "--members", "other=127.0.0.1:1"}, &out); err == nil || !strings.Contains(err.Error(), `"test-node"`) {
		t.Fatalf("recover without this node: %v", err)
	}
	out.Reset()
	if err := runRecover([]string{"--data-dir", srv.DataDir, "--node-id", "test-node"}, &out); err != nil || !strings.Contains(out.String(), "recovered configuration: test-node=") {
		t.Fatalf("recover: %v\n%s", err, &out)
	}
	srv.Restart(t)
	if body := get(t, srv.URL+"/v1/queues"); !strings.Contains(body, `"kept"`) {
		t.Fatalf("queues after recovery: %s", body)
	}
}
