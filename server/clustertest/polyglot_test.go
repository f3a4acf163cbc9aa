package clustertest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/gen/grpcpb"
	"github.com/clbs-io/octopusmq/gen/pb"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// The examples in other languages (examples/python, examples/typescript) and grpcurl run
// against FOLLOWERS of a 3-node cluster: they know nothing about leaders, so this proves
// the follower relays their streams, and they keep their promises across a kill -9 of the
// leader. Their tools (python3 with grpcio, node with the example's npm ci, grpcurl from
// `make grpcurl`) are skipped with a message when missing, except in CI (CI=true), where
// .ci/run installs them and a missing one fails.
func TestPolyglot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	root := repoRoot(t)
	c := clustertest.New(t, 3)
	leader := c.WaitLeader(20 * time.Second)
	var followers []*clustertest.Node
	for _, n := range c.Nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	f1, f2 := followers[0], followers[1]
	requireRelay(t, f1)

	t.Run("grpcurl stream through a follower", func(t *testing.T) {
		// With the repository's proto files, and with the server's reflection service.
		grpcurlThroughFollower(t, root, f1, "curl", "-import-path", filepath.Join(root, "api"), "-proto", "protobuf/queues.proto")
		grpcurlThroughFollower(t, root, f2, "curl-reflection")
	})
	t.Run("grpc-js check through a follower", func(t *testing.T) {
		node := nodeExamples(t, root)
		runOK(t, node.cmd("dist/grpcjs-check.js", "--addr", f2.Addr, "--queue", "grpcjs"), "grpcjs-check: ok")
	})
	t.Run("examples through followers across a leader kill", func(t *testing.T) {
		examplesAcrossLeaderKill(t, c, root, leader, f1, f2)
	})
}

// examplesAcrossLeaderKill runs the TypeScript producer and two lockers and the Python
// worker against the two followers, kills -9 the leader once each has made progress, and
// checks the outcome each example promises.
func examplesAcrossLeaderKill(t *testing.T, c *clustertest.Cluster, root string, leader, f1, f2 *clustertest.Node) {
	node := nodeExamples(t, root)
	python := pythonWithGRPC(t)
	const items, ops = 150, 12
	runOK(t, node.cmd("dist/locker.js", "--addr", f2.Addr, "--init"), "initialized")
	// A short lease: an item whose commit was lost with the leader stays leased to the dead
	// stream's session until its lease runs out; the worker waits for it to come back.
	if code, body := httpDo(t, "POST", f1.URL()+"/v1/queues", `{"queueName":"jobs","lease":"5s"}`); code != 200 {
		t.Fatalf("create queue: %d %s", code, body)
	}

	out := filepath.Join(t.TempDir(), "done.txt")
	timeout := "240000" // each example's own deadline (ms); the machine may be loaded
	producer := start(t, "producer", node.cmd("dist/producer.js", "--addr", f1.Addr, "--queue", "jobs", "--count", strconv.Itoa(items), "--rate", "30", "--deadline-ms", timeout))
	worker := start(t, "worker", exec.Command(python, filepath.Join(root, "examples/python/worker.py"),
		"--addr", f2.Addr, "--queue", "jobs", "--out", out, "--count", strconv.Itoa(items), "--batch", "5", "--deadline", "240"))
	lockerA := start(t, "locker a", node.cmd("dist/locker.js", "--addr", f1.Addr, "--name", "a", "--ops", strconv.Itoa(ops), "--pace-ms", "100", "--deadline-ms", timeout))
	lockerB := start(t, "locker b", node.cmd("dist/locker.js", "--addr", f2.Addr, "--name", "b", "--ops", strconv.Itoa(ops), "--pace-ms", "100", "--deadline-ms", timeout))

	// Kill the leader once every example has done part of its work through a follower.
	producer.waitLine(t, "acknowledged 20/")
	worker.waitLine(t, "worker: processed ")
	lockerA.waitLine(t, "a-1 recorded")
	lockerB.waitLine(t, "b-1 recorded")
	t.Logf("kill -9 the leader %s", leader.ID)
	c.Kill(leader)

	for _, p := range []*proc{producer, worker, lockerA, lockerB} {
		p.wait(t, 5*time.Minute)
	}
	t.Logf("producer: %s; worker: %s; locker a: %s; locker b: %s",
		producer.summary("reconnecting"), worker.summary("reconnecting"), lockerA.summary("reconnecting"), lockerB.summary("reconnecting"))

	// An enqueue re-sent after its answer was lost is deduplicated only while the first item
	// is queued: one whose first copy the worker had already committed is in the queue again.
	// A worker run with --count 0 drains those (found processed, committed, written nowhere).
	runOK(t, exec.Command(python, filepath.Join(root, "examples/python/worker.py"),
		"--addr", f1.Addr, "--queue", "jobs", "--out", out, "--wait", "1", "--deadline", "120"), "worker: done")

	// The worker processed every item exactly once (its output holds each value once) ...
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(b))
	slices.Sort(got)
	var want []string
	for i := range items {
		want = append(want, fmt.Sprintf("item-%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the worker's output has %d values, want the %d enqueued once each: %v", len(got), items, got)
	}
	// ... and committed them all: the queue is empty (a linearizable read through a follower).
	if code, body := httpDo(t, "GET", f1.URL()+"/v1/queues/jobs", ""); code != 200 || !strings.Contains(body, `"count":0,`) || !strings.Contains(body, `"active":0,`) {
		t.Fatalf("queue jobs after the worker: %d %s", code, body)
	}
	// The lockers' record holds each of their operations exactly once: no update was lost
	// to a concurrent one, and none was counted twice when retried after the kill.
	code, body := httpDo(t, "GET", f2.URL()+"/v1/storages/locks/keys/record", "")
	if code != 200 {
		t.Fatalf("record: %d %s", code, body)
	}
	var rec struct {
		Item struct {
			Value []byte `json:"value"`
		} `json:"item"`
		Locked bool `json:"locked"`
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatal(err)
	}
	var record []string
	if err := json.Unmarshal(rec.Item.Value, &record); err != nil {
		t.Fatalf("record %q: %v", rec.Item.Value, err)
	}
	slices.Sort(record)
	var wantOps []string
	for _, name := range []string{"a", "b"} {
		for i := range ops {
			wantOps = append(wantOps, fmt.Sprintf("%s-%d", name, i))
		}
	}
	slices.Sort(wantOps)
	if !slices.Equal(record, wantOps) || rec.Locked {
		t.Fatalf("record (locked %v) = %v, want each of %v once", rec.Locked, record, wantOps)
	}
}

// grpcurlThroughFollower drives one QueuesService/Connect stream on queue through follower
// f with grpcurl (schema from protoArgs, else the reflection service): setup, enqueue and
// pull on one stream, then the stream ends (grpcurl closes its side after the last message)
// and the pulled item, never committed, returns to the queue.
func grpcurlThroughFollower(t *testing.T, root string, f *clustertest.Node, queue string, protoArgs ...string) {
	grpcurl := filepath.Join(root, ".tools/bin/grpcurl")
	if _, err := os.Stat(grpcurl); err != nil {
		if p, err := exec.LookPath("grpcurl"); err == nil {
			grpcurl = p
		} else {
			missing(t, "grpcurl (make grpcurl installs it into .tools/bin)")
		}
	}
	if code, body := httpDo(t, "POST", f.URL()+"/v1/queues", `{"queueName":"`+queue+`"}`); code != 200 {
		t.Fatalf("create queue: %d %s", code, body)
	}
	args := append([]string{"-plaintext", "-max-time", "60"}, protoArgs...)
	cmd := exec.Command(grpcurl, append(args, "-d", "@", f.Addr, "io.clbs.octopusmq.grpc.QueuesService/Connect")...)
	cmd.Stdin = strings.NewReader(`{"setup": {"queueName": "` + queue + `"}}
{"correlationId": "1", "enqueue": {"item": {"value": "aGVsbG8="}}}
{"correlationId": "2", "pull": {"batchSize": 1, "timeout": "10s"}}
`)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("grpcurl: %v\n%s\n%s", err, stdout, stderr.Bytes())
	}
	type resp struct {
		CorrelationID string `json:"correlationId"`
		Status        *struct {
			Code string `json:"code"`
		} `json:"status"`
		Enqueue *struct {
			ID string `json:"id"`
		} `json:"enqueue"`
		Pull *struct {
			Items []struct {
				ID    string `json:"id"`
				Value string `json:"value"`
			} `json:"items"`
		} `json:"pull"`
	}
	byID := map[string]resp{}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	for dec.More() {
		var r resp
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("grpcurl output %s: %v", stdout, err)
		}
		byID[r.CorrelationID] = r
	}
	// Setup is answered with correlation id 0 (omitted in JSON) and status OK (code omitted).
	if s, ok := byID[""]; !ok || s.Status == nil || s.Status.Code != "" {
		t.Fatalf("setup answer missing or not OK:\n%s", stdout)
	}
	enq, pull := byID["1"], byID["2"]
	if enq.Enqueue == nil || enq.Enqueue.ID == "" {
		t.Fatalf("enqueue answer:\n%s", stdout)
	}
	if pull.Pull == nil || len(pull.Pull.Items) != 1 || pull.Pull.Items[0].ID != enq.Enqueue.ID || pull.Pull.Items[0].Value != base64.StdEncoding.EncodeToString([]byte("hello")) {
		t.Fatalf("pull answer:\n%s", stdout)
	}
	// The stream ended with the item uncommitted: it is waiting again (the leader applies the
	// stream's end on its own time, so poll).
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := httpDo(t, "GET", f.URL()+"/v1/queues/"+queue, "")
		if code == 200 && strings.Contains(body, `"count":1,`) && strings.Contains(body, `"active":0,`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after grpcurl's stream ended, queue %s: %d %s", queue, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireRelay fails at once, with the reason, when follower f answers a stream's setup
// with LEADER_SWITCH instead of relaying it: the examples would retry until their deadline.
func requireRelay(t *testing.T, f *clustertest.Node) {
	t.Helper()
	if code, body := httpDo(t, "POST", f.URL()+"/v1/queues", `{"queueName":"relay-probe"}`); code != 200 {
		t.Fatalf("create queue: %d %s", code, body)
	}
	conn := servertest.Dial(t, f.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := grpcpb.NewQueuesServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.QueueRequest{Command: &pb.QueueRequest_Setup{Setup: &pb.SetupRequest{QueueName: "relay-probe"}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.GetStatus(); st.GetCode() != pb.StatusCode_STATUS_CODE_OK {
		t.Fatalf("a follower answered a stream's setup with %v %q: clients that know nothing about leaders need the follower stream relay", st.GetCode(), st.GetMessage())
	}
}

// missing skips the test for a missing tool, or fails it in CI (CI=true), which must have
// every tool (.ci/run installs them).
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %s is missing: .ci/run installs it", what)
	}
	t.Skipf("%s is missing (CI installs it; a local run skips this)", what)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// pythonWithGRPC finds a python3 that imports grpc and google.protobuf: $PYTHON, python3 on
// the PATH, or Debian's /usr/bin/python3 (where python3-grpcio installs).
func pythonWithGRPC(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PYTHON"), "python3", "/usr/bin/python3"} {
		if p == "" {
			continue
		}
		if err := exec.Command(p, "-c", "import grpc, google.protobuf").Run(); err == nil {
			return p
		}
	}
	missing(t, "python3 with grpcio and protobuf (apt-get install python3-grpcio python3-protobuf)")
	return ""
}

// tsExamples is examples/typescript, built once per test process.
type tsExamples struct{ dir string }

var (
	tsBuildOnce sync.Once
	tsBuildErr  error
)

// nodeExamples compiles examples/typescript (tsc from its npm ci) once and returns it.
func nodeExamples(t *testing.T, root string) tsExamples {
	t.Helper()
	dir := filepath.Join(root, "examples/typescript")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node (apt-get install nodejs npm)")
	}
	tsc := filepath.Join(dir, "node_modules/typescript/bin/tsc")
	if _, err := os.Stat(tsc); err != nil {
		missing(t, "examples/typescript/node_modules (make examples-tools runs npm ci there)")
	}
	tsBuildOnce.Do(func() {
		cmd := exec.Command("node", tsc, "-p", ".")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tsBuildErr = fmt.Errorf("tsc: %v\n%s", err, out)
		}
	})
	if tsBuildErr != nil {
		t.Fatal(tsBuildErr)
	}
	return tsExamples{dir}
}

func (e tsExamples) cmd(script string, args ...string) *exec.Cmd {
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = e.dir
	return cmd
}

// runOK runs cmd to its end (killed after 2 minutes) and fails unless it succeeds and
// prints want.
func runOK(t *testing.T, cmd *exec.Cmd, want string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	if err != nil || !strings.Contains(out.String(), want) {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.Bytes())
	}
}

// proc is an example running in the background; its output lines are kept and watched.
type proc struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever a line arrives or the process ends
	done  chan struct{}
	err   error
}

func start(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, grew: make(chan struct{}), done: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
		}
		r.Close()
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		close(p.grew)
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("--- output of %s ---\n%s", p.name, strings.Join(p.lines, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// waitLine waits (up to 3 minutes) for an output line containing s.
func (p *proc) waitLine(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for seen := 0; ; {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if strings.Contains(p.lines[seen], s) {
				p.mu.Unlock()
				return
			}
		}
		grew := p.grew
		p.mu.Unlock()
		select {
		case <-grew:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if seen == n {
				t.Fatalf("%s ended (%v) without printing %q", p.name, p.err, s)
			}
		case <-timeout:
			t.Fatalf("%s printed no %q within 3 minutes", p.name, s)
		}
	}
}

// wait waits for the process to end and fails unless it succeeded.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", p.name, timeout)
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
}

// summary counts the output lines containing s (for the log).
func (p *proc) summary(s string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return fmt.Sprintf("%d lines with %q", n, s)
}
