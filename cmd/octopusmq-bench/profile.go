package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/clbs-io/octopusmq/client"
)

// Profiles (-profile DIR): while the timed part of a run goes on, the bench fetches
// /debug/pprof/profile (and, with -profile-kinds trace, /debug/pprof/trace) from every
// member of the cluster (servers started with --pprof; an admin token when auth is on),
// saves them as DIR/<role>-<node id>.cpu.pprof (.trace) and summarises each CPU profile:
// the share of the node's sampled CPU per component (componentRules) and the top
// functions, as `go tool pprof -top` would list them.

// profileKinds are what -profile-kinds may name, with the pprof path and file suffix.
var profileKinds = map[string]struct{ path, suffix string }{
	"cpu":   {"/debug/pprof/profile", ".cpu.pprof"},
	"trace": {"/debug/pprof/trace", ".trace"},
}

// profileTarget is one server to profile.
type profileTarget struct {
	addr, id, role string
}

// profiler fetches the profiles of one run.
type profiler struct {
	dir     string
	kinds   []string
	seconds int
	sc      *scraper
	tlsCA   string
	targets []profileTarget

	wg      sync.WaitGroup
	mu      sync.Mutex
	results []profileSummary
	errs    []error
}

// profileSummary is what one saved profile holds.
type profileSummary struct {
	Node       string         `json:"node"`
	Role       string         `json:"role"`
	Addr       string         `json:"addr"`
	Kind       string         `json:"kind"`
	File       string         `json:"file"`
	Seconds    float64        `json:"seconds,omitempty"`     // the profile's wall-clock span
	CPUSeconds float64        `json:"cpu_seconds,omitempty"` // CPU time sampled
	Components []profileShare `json:"components,omitempty"`  // share of CPU per component, largest first
	Top        []profileShare `json:"top,omitempty"`         // functions by own (flat) CPU
}

// profileShare is a part of a profile's CPU time.
type profileShare struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// parseKinds reads -profile-kinds.
func parseKinds(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return []string{"cpu"}, nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if _, ok := profileKinds[k]; !ok {
			return nil, fmt.Errorf("-profile-kinds: %q is not cpu or trace", k)
		}
		out = append(out, k)
	}
	return out, nil
}

// profileSeconds is how long profiles run: -profile-seconds, else -duration.
func (c config) profileSeconds() int {
	if c.profSeconds > 0 {
		return int(c.profSeconds.Round(time.Second) / time.Second)
	}
	return int((c.duration + time.Second - 1) / time.Second)
}

// newProfiler finds the servers to profile (every member of the cluster the first -addr
// belongs to, or the -addr list when the cluster cannot be asked) and their roles, and
// creates the folder. nil when -profile is not given.
func newProfiler(ctx context.Context, c config, sc *scraper) (*profiler, error) {
	if c.profileDir == "" {
		return nil, nil
	}
	kinds, err := parseKinds(c.profileKinds)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
		return nil, fmt.Errorf("-profile: %w", err)
	}
	p := &profiler{dir: c.profileDir, kinds: kinds, seconds: c.profileSeconds(), sc: sc, tlsCA: c.tlsCA}
	opts, err := c.clientOptions()
	if err != nil {
		return nil, err
	}
	addrs := strings.Split(c.addr, ",")
	if st, err := clusterOf(ctx, addrs[0], opts); err == nil && len(st.Members) > 0 {
		var members []string
		for _, m := range st.Members {
			if m.ClientAddress != "" {
				members = append(members, m.ClientAddress)
			}
		}
		if len(members) == len(st.Members) { // every member's client address is known
			addrs = members
		}
	}
	for i, a := range addrs {
		a = strings.TrimSpace(a)
		t := profileTarget{addr: a, id: fmt.Sprintf("node%d", i+1), role: "node"}
		if st, err := clusterOf(ctx, a, opts); err == nil {
			t.id, t.role = st.NodeID, strings.ToLower(st.State)
		}
		p.targets = append(p.targets, t)
	}
	return p, nil
}

// clusterOf asks the server at addr (that one, not the leader) for its cluster status.
func clusterOf(ctx context.Context, addr string, opts []client.Option) (*client.ClusterStatus, error) {
	admin, err := client.NewAdminClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return admin.Cluster(ctx)
}

// start begins fetching every kind from every target; wait collects them.
func (p *profiler) start(ctx context.Context) {
	if p == nil {
		return
	}
	for _, t := range p.targets {
		for _, k := range p.kinds {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				s, err := p.fetch(ctx, t, k)
				p.mu.Lock()
				defer p.mu.Unlock()
				if err != nil {
					p.errs = append(p.errs, fmt.Errorf("%s profile of %s (%s): %w", k, t.id, t.addr, err))
					return
				}
				p.results = append(p.results, s)
			}()
		}
	}
}

// wait waits for the profiles and returns them (leader first) and any failures.
func (p *profiler) wait() ([]profileSummary, error) {
	if p == nil {
		return nil, nil
	}
	p.wg.Wait()
	sort.Slice(p.results, func(i, j int) bool {
		a, b := p.results[i], p.results[j]
		if (a.Role == "leader") != (b.Role == "leader") {
			return a.Role == "leader"
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Kind < b.Kind
	})
	return p.results, errors.Join(p.errs...)
}

// fetch downloads one profile of t, saves it and summarises it.
func (p *profiler) fetch(ctx context.Context, t profileTarget, kind string) (profileSummary, error) {
	k := profileKinds[kind]
	base := metricsURLs(config{metrics: t.addr, tlsCA: p.tlsCA})[0]
	url := strings.TrimSuffix(base, "/metrics") + fmt.Sprintf("%s?seconds=%d", k.path, p.seconds)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.seconds)*time.Second+time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return profileSummary{}, err
	}
	if p.sc.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.sc.token)
	}
	resp, err := p.sc.hc.Do(req)
	if err != nil {
		return profileSummary{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return profileSummary{}, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return profileSummary{}, errors.New("the server serves no /debug/pprof/ (start it with --pprof)")
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return profileSummary{}, fmt.Errorf("%s: profiles need an admin token (-token)", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return profileSummary{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	file := filepath.Join(p.dir, t.role+"-"+t.id+k.suffix)
	if err := os.WriteFile(file, body, 0o644); err != nil {
		return profileSummary{}, err
	}
	s := profileSummary{Node: t.id, Role: t.role, Addr: t.addr, Kind: kind, File: file}
	if kind != "cpu" {
		return s, nil
	}
	prof, err := profile.ParseData(body)
	if err != nil {
		return profileSummary{}, fmt.Errorf("%s: %w", file, err)
	}
	summarise(&s, prof, 12)
	return s, nil
}

// componentRules name the component a CPU sample belongs to: the innermost frame of its
// stack whose function starts with one of a rule's prefixes decides (the first rule that
// matches that frame). Frames of the runtime, the standard library, protobuf and msgpack
// match no rule: their time goes to the code that called them (a write(2) to the
// transport, an fsync to the log store, an allocation to whoever allocated). GC is
// decided first, by any frame of the collector's own work.
var componentRules = []struct {
	name     string
	prefixes []string
}{
	{"log store (bbolt / raft-wal, fsync)", []string{"go.etcd.io/bbolt", "github.com/hashicorp/raft-boltdb", "github.com/hashicorp/raft-wal",
		mod + "/server/raftnode.timedLogStore"}},
	{"proposer (raftnode)", []string{mod + "/server/state.EncodeCommand", mod + "/server/raftnode.(*proposer)", mod + "/server/raftnode.encode",
		mod + "/server/raftnode.(*Pending)", mod + "/server/raftnode.(*Node).Submit", mod + "/server/raftnode.(*Node).Propose", mod + "/server/raftnode.Future"}},
	{"FSM apply (raftnode fsm, state)", []string{mod + "/server/raftnode.(*fsm)", mod + "/server/state"}},
	{"raft (replication, transport)", []string{"github.com/hashicorp/raft."}},
	{"stream handler (service)", []string{mod + "/server/service"}},
	{"gRPC / HTTP2 / HTTP", []string{"google.golang.org/grpc", "golang.org/x/net/http2", "net/http", "github.com/grpc-ecosystem"}},
	{"cmux", []string{"github.com/soheilhy/cmux"}},
	{"metrics", []string{"github.com/prometheus", "github.com/hashicorp/go-metrics", "github.com/armon/go-metrics"}},
	{"other server code", []string{mod + "/", "github.com/hashicorp/go-hclog"}},
}

const mod = "github.com/clbs-io/octopusmq"

// gcFrames are the garbage collector's work (background marking, assists, sweeping).
var gcFrames = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge",
	"runtime.gcStart", "runtime.gcMarkDone", "runtime.gcMarkTermination", "runtime.markroot", "runtime.gcDrain"}

const otherComponent = "runtime (scheduler, netpoll, other)"

// component names the component of one sample's stack (innermost frame first).
func component(stack []string) string {
	for _, f := range stack {
		for _, g := range gcFrames {
			if strings.HasPrefix(f, g) {
				return "GC"
			}
		}
	}
	for _, f := range stack {
		for _, r := range componentRules {
			for _, pre := range r.prefixes {
				if strings.HasPrefix(f, pre) {
					return r.name
				}
			}
		}
	}
	return otherComponent
}

// summarise fills in the CPU time, the share of each component and the top functions.
func summarise(s *profileSummary, p *profile.Profile, top int) {
	vi := len(p.SampleType) - 1 // CPU profiles: samples/count, cpu/nanoseconds
	var total int64
	byComp := map[string]int64{}
	byFunc := map[string]int64{}
	for _, smp := range p.Sample {
		v := smp.Value[vi]
		total += v
		var stack []string
		for _, loc := range smp.Location {
			for _, ln := range loc.Line { // inlined frames first, as pprof lists them
				if ln.Function != nil {
					stack = append(stack, ln.Function.Name)
				}
			}
		}
		byComp[component(stack)] += v
		if len(stack) > 0 {
			byFunc[stack[0]] += v
		}
	}
	s.Seconds = float64(p.DurationNanos) / 1e9
	s.CPUSeconds = float64(total) / 1e9
	s.Components = shares(byComp, total, 0)
	s.Top = shares(byFunc, total, top)
}

// shares lists the parts of total, largest first (the first n; all for n = 0).
func shares(m map[string]int64, total int64, n int) []profileShare {
	out := make([]profileShare, 0, len(m))
	for k, v := range m {
		out = append(out, profileShare{Name: k, Percent: 100 * float64(v) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Percent != out[j].Percent {
			return out[i].Percent > out[j].Percent
		}
		return out[i].Name < out[j].Name
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// profilesText renders the summaries for the text report.
func profilesText(ps []profileSummary) string {
	var b strings.Builder
	for _, s := range ps {
		if s.Kind != "cpu" {
			fmt.Fprintf(&b, "%s profile of %s %s (%s): %s\n", s.Kind, s.Role, s.Node, s.Addr, s.File)
			continue
		}
		fmt.Fprintf(&b, "cpu profile of %s %s (%s): %.2fs CPU over %.1fs (%.2f cores): %s\n",
			s.Role, s.Node, s.Addr, s.CPUSeconds, s.Seconds, s.CPUSeconds/max(s.Seconds, 1e-9), s.File)
		b.WriteString("  by component:")
		for _, c := range s.Components {
			fmt.Fprintf(&b, " %s %.1f%%;", c.Name, c.Percent)
		}
		b.WriteString("\n  top functions (flat):")
		for _, f := range s.Top {
			fmt.Fprintf(&b, " %s %.1f%%;", shortName(f.Name), f.Percent)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// shortName drops a function's import path, as pprof's -top does.
func shortName(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		return f[i+1:]
	}
	return f
}
