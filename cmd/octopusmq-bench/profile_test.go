package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/clbs-io/octopusmq/server"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestProfile runs a timed workload with -profile against a real server started with
// --pprof: the member's CPU profile and execution trace are saved, named for its role, and
// the CPU profile is summarised by component (shares adding up to 100%) in the JSON report.
func TestProfile(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.Pprof = true })
	dir := t.TempDir()
	c := config{addr: srv.Addr, queue: "prof", workload: "enqueue", producers: 4, items: 1, duration: 2 * time.Second,
		batch: 1, size: 128, inflight: 1, kvop: "all", output: "json", profileDir: dir, profileKinds: "cpu,trace"}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	r, stderr := runJSON(t, c, time.Minute)
	if strings.Contains(stderr, "warning") {
		t.Fatalf("warnings: %s", stderr)
	}
	if len(r.Profiles) != 2 {
		t.Fatalf("profiles %+v, want a cpu profile and a trace", r.Profiles)
	}
	cpu, trace := r.Profiles[0], r.Profiles[1]
	if cpu.Kind != "cpu" || trace.Kind != "trace" || cpu.Role != "leader" || cpu.Node == "" || cpu.Node != trace.Node {
		t.Fatalf("profiles %+v, want the leader's cpu profile then its trace", r.Profiles)
	}
	if !strings.HasSuffix(cpu.File, "leader-"+cpu.Node+".cpu.pprof") || !strings.HasSuffix(trace.File, "leader-"+cpu.Node+".trace") {
		t.Errorf("files %s, %s", cpu.File, trace.File)
	}
	f, err := os.Open(cpu.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := profile.Parse(f); err != nil {
		t.Errorf("saved cpu profile: %v", err)
	}
	if st, err := os.Stat(trace.File); err != nil || st.Size() == 0 {
		t.Errorf("saved trace: %v", err)
	}
	// Profiling lasted the run (2 s), and the server worked meanwhile.
	if cpu.Seconds < 1.5 || cpu.CPUSeconds <= 0 || len(cpu.Top) == 0 {
		t.Errorf("cpu profile summary %+v", cpu)
	}
	sum := 0.0
	for _, s := range cpu.Components {
		sum += s.Percent
	}
	if math.Abs(sum-100) > 0.01 {
		t.Errorf("component shares add up to %.2f%%: %+v", sum, cpu.Components)
	}
}

// TestProfileRefusals: -profile needs a time span and is refused with -sweep; a server
// without --pprof makes a warning naming the flag, and the run's report stands.
func TestProfileRefusals(t *testing.T) {
	base := config{workload: "enqueue", producers: 1, items: 5, batch: 1, size: 8, inflight: 1, kvop: "all", output: "text", profileDir: t.TempDir()}
	if err := base.check(); err == nil || !strings.Contains(err.Error(), "-profile") {
		t.Errorf("-profile without -duration: %v", err)
	}
	sw := base
	sw.duration, sw.sweep = time.Second, []int{1, 2}
	if err := sw.check(); err == nil {
		t.Error("-profile with -sweep accepted")
	}
	bad := base
	bad.profSeconds, bad.profileKinds = time.Second, "heap"
	if _, err := newProfiler(context.Background(), bad, &scraper{}); err == nil || !strings.Contains(err.Error(), "heap") {
		t.Errorf("-profile-kinds heap: %v", err)
	}

	srv := servertest.Start(t) // no --pprof
	c := base
	c.addr, c.queue, c.profSeconds = srv.Addr, "noprof", time.Second
	out, stderr := runOut(t, c, time.Minute)
	if !strings.Contains(stderr, "--pprof") || !strings.Contains(out, "enqueue workload") {
		t.Errorf("stdout %q, stderr %q: want the report and a warning naming --pprof", out, stderr)
	}
}

// TestComponent: a sample belongs to the innermost frame's component, the runtime and
// libraries passing their time to their caller, and GC work to GC.
func TestComponent(t *testing.T) {
	for _, tc := range []struct {
		stack []string
		want  string
	}{
		{[]string{"internal/runtime/syscall.Syscall6", "syscall.Fdatasync", "os.(*File).Sync", "go.etcd.io/bbolt.fdatasync", "go.etcd.io/bbolt.(*Tx).Commit", "github.com/hashicorp/raft.(*raft).dispatchLogs"}, "log store (bbolt / raft-wal, fsync)"},
		{[]string{"syscall.write", "net.(*conn).Write", "bufio.(*Writer).Flush", "github.com/hashicorp/raft.(*NetworkTransport).AppendEntries"}, "raft (replication, transport)"},
		{[]string{"runtime.mallocgc", "google.golang.org/protobuf/proto.Unmarshal", mod + "/server/state.(*State).Apply", mod + "/server/raftnode.(*fsm).ApplyBatch", "github.com/hashicorp/raft.(*raft).runFSM"}, "FSM apply (raftnode fsm, state)"},
		{[]string{mod + "/server/state.EncodeCommand", mod + "/server/raftnode.(*proposer).submit", mod + "/server/service.(*stream).enqueue"}, "proposer (raftnode)"},
		{[]string{"runtime.memmove", "golang.org/x/net/http2.(*Framer).WriteData", "google.golang.org/grpc/internal/transport.(*loopyWriter).run"}, "gRPC / HTTP2 / HTTP"},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2", "runtime.systemstack"}, "GC"},
		{[]string{"runtime.scanobject", "runtime.gcAssistAlloc", "runtime.mallocgc", mod + "/server/service.(*stream).serve"}, "GC"},
		{[]string{"runtime.futex", "runtime.notesleep", "runtime.findRunnable", "runtime.schedule"}, otherComponent},
	} {
		if got := component(tc.stack); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.stack, got, tc.want)
		}
	}
}

// TestProfileCluster: given one follower's address, -profile finds every member of a real
// 3-node cluster (servers with --pprof) and names each profile for its node's role.
func TestProfileCluster(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.WithFlags("--pprof"))
	leader := c.WaitLeader(30 * time.Second)
	follower := c.Follower(leader)
	// The leader records each member's client address once it has answered; the records
	// live in other processes, so they are polled (as clustertest waits for a leader).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := c.Status(follower)
		known := 0
		for i := 0; err == nil && i < len(st.Members); i++ {
			if st.Members[i].ClientAddress != "" {
				known++
			}
		}
		if known == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member client addresses not recorded: %+v, %v", st, err)
		}
	}
	cfg := config{addr: follower.Addr, queue: "prof", workload: "enqueue", producers: 2, items: 1, duration: 2 * time.Second,
		batch: 1, size: 128, inflight: 1, kvop: "all", output: "json", metrics: "none", profileDir: t.TempDir()}
	r, _ := runJSON(t, cfg, 2*time.Minute)
	roles := map[string]string{}
	for _, p := range r.Profiles {
		if p.Kind != "cpu" || p.CPUSeconds <= 0 {
			t.Errorf("profile %+v", p)
		}
		if _, err := os.Stat(filepath.Join(cfg.profileDir, p.Role+"-"+p.Node+".cpu.pprof")); err != nil {
			t.Error(err)
		}
		roles[p.Node] = p.Role
	}
	want := map[string]string{}
	for _, n := range c.Nodes {
		want[n.ID] = "follower"
	}
	want[leader.ID] = "leader"
	if len(roles) != 3 || r.Profiles[0].Node != leader.ID {
		t.Fatalf("profiles of %v (leader first), want %v", roles, want)
	}
	for id, role := range want {
		if roles[id] != role {
			t.Errorf("node %s profiled as %q, want %q", id, roles[id], role)
		}
	}
}
