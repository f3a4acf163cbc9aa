package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

func findQueue(t *testing.T, qs []queueJSON, name string) queueJSON {
	t.Helper()
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("queue %q not in %+v", name, qs)
	return queueJSON{}
}

// TestTour walks through the commands a user starts with against a real server: a queue
// filled from stdin, listed, pulled and committed (in the same run and by id in a later
// one), keys set, read, locked and released, and the cluster's status.
func TestTour(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr

	ok(t, a, "", "queue", "create", "tour", "--max-size", "100")
	ids := decode[[]enqueued](t, ok(t, a, "a\nb\r\n\nc\n", "queue", "enqueue", "tour", "--lines", "-o", "json"))
	if len(ids) != 3 || ids[0].ID == 0 || ids[0].ID == ids[1].ID {
		t.Fatalf("enqueue --lines: got %+v, want 3 distinct ids", ids)
	}

	q := findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "tour")
	if q.Count != 3 || q.MaxSize != 100 || q.Active != 0 {
		t.Fatalf("queue list: %+v, want count 3, max size 100, none active", q)
	}

	got := decode[[]pulled](t, ok(t, a, "", "queue", "pull", "tour", "-n", "2", "--commit", "-o", "json"))
	if len(got) != 2 || got[0].Value != "a" || got[1].Value != "b" {
		t.Fatalf("pull --commit: %+v, want a and b", got)
	}
	var y queueJSON
	if err := yaml.Unmarshal([]byte(ok(t, a, "", "queue", "get", "tour", "-o", "yaml")), &y); err != nil {
		t.Fatal(err)
	}
	if y.Count != 1 || y.Active != 0 {
		t.Fatalf("after pull --commit: %+v, want count 1, none active", y)
	}

	// Without --commit the item stays leased after octopusctl exits, and a later run
	// commits it by id.
	got = decode[[]pulled](t, ok(t, a, "", "queue", "pull", "tour", "-o", "json"))
	if len(got) != 1 || got[0].Value != "c" || got[0].ID != ids[2].ID {
		t.Fatalf("pull: %+v, want c with id %d", got, ids[2].ID)
	}
	q = findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "tour")
	if q.Count != 1 || q.Active != 1 {
		t.Fatalf("after pull: %+v, want the item still active", q)
	}
	id := fmt.Sprint(got[0].ID)
	if r := decode[settled](t, ok(t, a, "", "queue", "extend", "tour", id, "--lease", "2m", "-o", "json")); r.Count != 1 {
		t.Fatalf("extend: %+v", r)
	}
	ok(t, a, "", "queue", "requeue", "tour", id, "--priority", "7")
	exits(t, a, exitConflict, "queue", "extend", "tour", id) // waiting, not active
	exits(t, a, exitConflict, "queue", "commit", "tour", id)
	got = decode[[]pulled](t, ok(t, a, "", "queue", "pull", "tour", "-o", "json"))
	if len(got) != 1 || got[0].ID != ids[2].ID || got[0].Priority != 7 || got[0].DeliveryCount != 1 {
		t.Fatalf("pull after requeue: %+v, want item %d with priority 7, delivered once before", got, ids[2].ID)
	}
	ok(t, a, "", "queue", "commit", "tour", id)
	q = findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "tour")
	if q.Count != 0 {
		t.Fatalf("after commit: %+v, want an empty queue", q)
	}
	exits(t, a, exitNotFound, "queue", "commit", "tour", id)
	exits(t, a, exitNotFound, "queue", "requeue", "tour", id)

	// delete-items removes waiting items; several ids report how many succeeded.
	ids = decode[[]enqueued](t, ok(t, a, "d\ne\n", "queue", "enqueue", "tour", "--lines", "-o", "json"))
	r := exits(t, a, exitFailure, "queue", "delete-items", "tour", fmt.Sprint(ids[0].ID), "999999", "-o", "json")
	if d := decode[settled](t, r.stdout); d.Count != 1 || d.Total != 2 {
		t.Fatalf("delete-items of one existing and one missing id: %+v", d)
	}
	ok(t, a, "", "queue", "delete-items", "tour", fmt.Sprint(ids[1].ID))

	// An empty queue pulls nothing and is no error.
	if got := decode[[]pulled](t, ok(t, a, "", "queue", "pull", "tour", "-o", "json")); len(got) != 0 {
		t.Fatalf("pull of an empty queue: %+v", got)
	}

	// Keys: set, get, lock (another run cannot change it), change and release with the token.
	ok(t, a, "", "storage", "create", "kvs")
	ok(t, a, "", "kv", "set", "kvs", "user:1", "hello")
	ok(t, a, `{"name":"John"}`, "kv", "set", "kvs", "user:2")
	if v := ok(t, a, "", "kv", "get", "kvs", "user:1"); v != "hello" {
		t.Fatalf("kv get: %q, want hello", v)
	}
	if kv := decode[keyValue](t, ok(t, a, "", "kv", "get", "kvs", "user:2", "-o", "json")); kv.Value != `{"name":"John"}` {
		t.Fatalf("kv get of a value from stdin: %+v", kv)
	}
	if keys := decode[[]string](t, ok(t, a, "", "kv", "list", "kvs", "-o", "json")); strings.Join(keys, ",") != "user:1,user:2" {
		t.Fatalf("kv list: %v", keys)
	}
	l := decode[lockJSON](t, ok(t, a, "", "kv", "lock", "kvs", "user:1", "--ttl", "1m", "-o", "json"))
	if l.ID == 0 || l.Token == 0 || l.Key != "user:1" {
		t.Fatalf("kv lock: %+v", l)
	}
	exits(t, a, exitConflict, "kv", "lock", "kvs", "user:1")
	exits(t, a, exitConflict, "kv", "set", "kvs", "user:1", "nope")
	ok(t, a, "", "kv", "set", "kvs", "user:1", "changed", "--lock-token", fmt.Sprint(l.Token))
	exits(t, a, exitConflict, "kv", "release", "kvs", fmt.Sprint(l.ID), "--token", fmt.Sprint(l.Token+1))
	ok(t, a, "", "kv", "release", "kvs", fmt.Sprint(l.ID), "--token", fmt.Sprint(l.Token))
	exits(t, a, exitConflict, "kv", "release", "kvs", fmt.Sprint(l.ID), "--token", fmt.Sprint(l.Token))
	ok(t, a, "", "kv", "set", "kvs", "user:1", "free again")
	if v := ok(t, a, "", "kv", "get", "kvs", "user:1"); v != "free again" {
		t.Fatalf("kv get after release: %q", v)
	}
	// lock --any takes some unlocked key with the prefix; kv list shows locked keys only
	// with --locked; release --delete removes the key.
	la := decode[lockJSON](t, ok(t, a, "", "kv", "lock", "kvs", "user:", "--any", "-o", "json"))
	if la.Key != "user:1" && la.Key != "user:2" {
		t.Fatalf("kv lock --any user: %+v", la)
	}
	if keys := decode[[]string](t, ok(t, a, "", "kv", "list", "kvs", "-o", "json")); len(keys) != 1 || keys[0] == la.Key {
		t.Fatalf("kv list with %s locked: %v", la.Key, keys)
	}
	if keys := decode[[]string](t, ok(t, a, "", "kv", "list", "kvs", "--locked", "-o", "json")); len(keys) != 2 {
		t.Fatalf("kv list --locked: %v", keys)
	}
	ok(t, a, "", "kv", "release", "kvs", fmt.Sprint(la.ID), "--token", fmt.Sprint(la.Token), "--delete")
	exits(t, a, exitNotFound, "kv", "get", "kvs", la.Key)
	other := map[string]string{"user:1": "user:2", "user:2": "user:1"}[la.Key]
	ok(t, a, "", "kv", "delete", "kvs", other)
	exits(t, a, exitNotFound, "kv", "get", "kvs", other)

	c := decode[clusterJSON](t, ok(t, a, "", "cluster", "status", "-o", "json"))
	if c.State != "Leader" || c.LeaderID != "test-node" || len(c.Members) != 1 || !c.Members[0].Leader {
		t.Fatalf("cluster status: %+v", c)
	}
	if out := ok(t, a, "", "cluster", "members"); !strings.Contains(out, "test-node") {
		t.Fatalf("cluster members: %q", out)
	}
}

// TestExitCodes checks the codes scripts test: not found, conflicts, usage errors and an
// unreachable server.
func TestExitCodes(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "q")
	ok(t, a, "", "storage", "create", "st")

	for _, args := range [][]string{
		{"queue", "get", "missing"},
		{"queue", "delete", "missing"},
		{"queue", "pull", "missing"},
		{"queue", "enqueue", "missing", "x"},
		{"queue", "commit", "q", "12345"},
		{"kv", "get", "st", "missing"},
		{"kv", "get", "missing", "k"},
		{"storage", "delete", "missing"},
		{"cluster", "remove", "missing"},
	} {
		r := exits(t, a, exitNotFound, args...)
		if !strings.Contains(r.stderr, "not found") {
			t.Errorf("%v: stderr %q does not say not found", args, r.stderr)
		}
	}
	exits(t, a, exitConflict, "queue", "create", "q")
	ok(t, a, "", "queue", "create", "q", "--if-not-exists")
	ok(t, a, "", "queue", "enqueue", "q", "x")
	ok(t, a, "", "queue", "enqueue", "q", "y")
	exits(t, a, exitConflict, "queue", "resize", "q", "--max-size", "1")
	ok(t, a, "", "queue", "resize", "q", "--max-size", "2")
	exits(t, a, exitConflict, "queue", "enqueue", "q", "z")
	exits(t, a, exitConflict, "cluster", "transfer") // a single node has no voter to hand over to

	for _, args := range [][]string{
		{"bogus"},
		{"queue", "bogus"},
		{"queue", "create"},
		{"queue", "list", "extra"},
		{"queue", "list", "--bogus"},
		{"queue", "list", "-o", "xml"},
		{"queue", "commit", "q", "abc"},
		{"queue", "pull", "q", "--wait", "soon"},
		{"queue", "resize", "q"},
		{"queue", "enqueue", "q", "--lines", "--unique-key", "k"},
		{"kv", "get", "st", "%%%", "--base64"},
		{"kv", "release", "st", "1"},
		{"--timeout", "0s", "cluster", "status"},
	} {
		r := exits(t, a, exitUsage, args...)
		if !strings.Contains(r.stderr, "--help") {
			t.Errorf("%v: stderr %q does not point to --help", args, r.stderr)
		}
	}
	// A value the server refuses is a usage error too, and the field is named.
	r := exits(t, a, exitUsage, "queue", "enqueue", "q", "v", "--priority", "99")
	if !strings.Contains(r.stderr, "priority") {
		t.Errorf("stderr %q does not name the priority", r.stderr)
	}

	exits(t, "127.0.0.1:1", exitUnavailable, "--timeout", "1s", "queue", "list")
	exits(t, "127.0.0.1:1", exitUnavailable, "--timeout", "1s", "kv", "get", "st", "k")
	// With several addresses the next one is tried when one does not answer.
	ok(t, "127.0.0.1:1,"+a, "", "--timeout", "5s", "queue", "list")
	ok(t, "127.0.0.1:1,"+a, "", "--timeout", "5s", "queue", "pull", "q")
	// --addr wins over OCTOPUSMQ_ADDR.
	ok(t, "127.0.0.1:1", "", "--addr", a, "queue", "list")

	if out := ok(t, a, "", "--help"); !strings.Contains(out, "Exit codes:") {
		t.Errorf("--help does not document the exit codes:\n%s", out)
	}
}

// TestFollowAndBinary covers pull --follow (one JSON object per line, stopping after -n),
// queue pause and resume, and binary keys and values with --base64.
func TestFollowAndBinary(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "f")
	ok(t, a, "two\nthree\n", "queue", "enqueue", "f", "--lines", "-f", "-")
	ok(t, a, "", "queue", "enqueue", "f", "one", "--priority", "3")
	out := ok(t, a, "", "queue", "pull", "f", "--follow", "--commit", "-n", "3", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("pull --follow -n 3: %d lines: %q", len(lines), out)
	}
	for i, want := range []string{"one", "two", "three"} {
		if p := decode[pulled](t, lines[i]); p.Value != want {
			t.Errorf("line %d: %+v, want %q", i, p, want)
		}
	}

	// An item leased to a Go client's stream can be settled by id from octopusctl.
	qc, err := client.NewQueueClient(a, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := qc.Enqueue(ctx, &client.InputItem{Value: []byte("streamed")}); err != nil {
		t.Fatal(err)
	}
	items, err := qc.Pull(ctx, 1)
	if err != nil || len(items) != 1 {
		t.Fatalf("client pull: %v, %v", items, err)
	}
	ok(t, a, "", "queue", "commit", "f", fmt.Sprint(items[0].Id))
	if q := findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "f"); q.Count != 0 {
		t.Fatalf("after committing the client's item: %+v", q)
	}

	ok(t, a, "", "queue", "pause", "f")
	if q := findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "f"); !q.Paused {
		t.Fatalf("after pause: %+v", q)
	}
	ok(t, a, "", "queue", "resume", "f")

	ok(t, a, "", "storage", "create", "bin")
	key := base64.StdEncoding.EncodeToString([]byte{0, 0xff, 'k'})
	val := base64.StdEncoding.EncodeToString([]byte{0xfe, 0, 1})
	ok(t, a, "", "kv", "set", "bin", key, val, "--base64")
	if got := ok(t, a, "", "kv", "get", "bin", key, "--base64"); got != val+"\n" {
		t.Fatalf("kv get --base64: %q, want %q", got, val)
	}
	if keys := decode[[]string](t, ok(t, a, "", "kv", "list", "bin", "--base64", "-o", "json")); len(keys) != 1 || keys[0] != key {
		t.Fatalf("kv list --base64: %v, want [%s]", keys, key)
	}
}
