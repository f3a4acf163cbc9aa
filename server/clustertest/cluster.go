// Package clustertest runs real multi-node OctopusMQ clusters for tests: it builds the
// octopusmq binary once per test process and starts each node as its own process on
// 127.0.0.1, so tests can kill -9, SIGSTOP and restart nodes like an operator would.
package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/certgen"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/octopusmq once and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = err
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "octopusmq-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "octopusmq")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/octopusmq")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Node is one server process.
type Node struct {
	ID       string
	Addr     string // client address
	RaftAddr string
	DataDir  string
	LogPath  string
	// PeerCert and PeerKey are the node's Raft-port certificate files (WithPeerTLS).
	PeerCert, PeerKey string
	args              []string
	cmd               *exec.Cmd
	done              chan struct{}
	// ExitCode is the last process's exit code (-1 when killed by a signal).
	ExitCode int

	// RaftAdvertise is the Raft address peers dial (RaftAddr unless WithRaftAdvertise).
	RaftAdvertise string
	scheme        string
}

// URL is the node's HTTP base URL ("https://" when the cluster serves TLS).
func (n *Node) URL() string {
	if n.scheme == "" {
		return "http://" + n.Addr
	}
	return n.scheme + "://" + n.Addr
}

// Cluster is a set of nodes.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
	extra []string
	// PeerCA signs the nodes' Raft-port certificates (WithPeerTLS); PeerCAFile is its PEM.
	PeerCA     *certgen.CA
	PeerCAFile string
	outsiders  []*Node

	advertise func(n *Node) string
	// token and hc are what the helper's own requests (Status) use.
	token string
	hc    *http.Client
	tls   bool
	// bin is the binary New starts the nodes from (WithBinary); "" means Binary's.
	bin string
}

// Option adds flags to every node.
type Option func(*Cluster)

// WithFlags passes extra flags to every node.
func WithFlags(flags ...string) Option {
	return func(c *Cluster) { c.extra = append(c.extra, flags...) }
}

// WithPeerTLS secures the Raft port with mutual TLS: a fresh CA signs each node's
// certificate (for 127.0.0.1), passed with --peer-tls-cert, --peer-tls-key and --peer-tls-ca.
func WithPeerTLS() Option {
	return func(c *Cluster) {
		ca, err := certgen.NewCA("clustertest peer CA", 24*time.Hour)
		if err != nil {
			c.t.Fatal(err)
		}
		crt, _, err := ca.Write(c.t.TempDir(), "ca")
		if err != nil {
			c.t.Fatal(err)
		}
		c.PeerCA, c.PeerCAFile = ca, crt
	}
}

// WithBinary makes New start the nodes from the octopusmq binary at path (a previous
// release, for upgrade tests) instead of this tree's; Restart starts this tree's.
func WithBinary(path string) Option {
	return func(c *Cluster) { c.bin = path }
}

// WithRaftAdvertise makes every node advertise advertise(n) as its Raft address instead of
// its bind address (a fault-injecting proxy in front of n.RaftAddr, say).
func WithRaftAdvertise(advertise func(n *Node) string) Option {
	return func(c *Cluster) { c.advertise = advertise }
}

// WithClientSecurity is for a cluster whose nodes serve TLS (roots trust their
// certificates; nil for plaintext) and require a token: the helper's own requests send
// token, and node URLs are https.
func WithClientSecurity(token string, roots *x509.CertPool) Option {
	return func(c *Cluster) {
		c.token = token
		if roots != nil {
			c.tls = true
			c.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		}
	}
}

// New starts an n-node cluster formed with --initial-cluster and waits for a leader.
func New(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, hc: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	bin := c.bin
	if bin == "" {
		bin = Binary(t)
	}
	var initial []string
	for i := 0; i < n; i++ {
		node := c.newNode(fmt.Sprintf("n%d", i+1), true)
		c.Nodes = append(c.Nodes, node)
		initial = append(initial, node.ID+"="+node.RaftAdvertise)
	}
	for _, node := range c.Nodes {
		node.args = append(node.args, "--initial-cluster", strings.Join(initial, ","))
		c.Start(node, bin)
	}
	t.Cleanup(c.StopAll)
	c.WaitLeader(20 * time.Second)
	return c
}

// newNode prepares a node; member nodes get the cluster's peer certificate (WithPeerTLS).
func (c *Cluster) newNode(id string, member bool) *Node {
	dir := c.t.TempDir()
	n := &Node{ID: id, Addr: freeAddr(c.t), RaftAddr: freeAddr(c.t), DataDir: dir, LogPath: filepath.Join(dir, "node.log")}
	if c.tls {
		n.scheme = "https"
	}
	n.args = []string{"--node-id", id, "--data-dir", n.DataPath(), "--listen", n.Addr, "--raft-bind", n.RaftAddr,
		"--log-level", "info", "--shutdown-grace", "2s", "--leader-wait", "15s"}
	n.RaftAdvertise = n.RaftAddr
	if c.advertise != nil {
		n.RaftAdvertise = c.advertise(n)
		n.args = append(n.args, "--raft-advertise", n.RaftAdvertise)
	}
	n.args = append(n.args, c.extra...)
	if member && c.PeerCA != nil {
		c.RotatePeerCert(n)
		n.args = append(n.args, "--peer-tls-cert", n.PeerCert, "--peer-tls-key", n.PeerKey, "--peer-tls-ca", c.PeerCAFile)
	}
	return n
}

// RotatePeerCert issues node n a new certificate from PeerCA and replaces its files (as
// cert-manager would); a running node uses it from its next handshake. It returns the
// new certificate.
func (c *Cluster) RotatePeerCert(n *Node) *x509.Certificate {
	c.t.Helper()
	kp, err := c.PeerCA.Issue(certgen.Node, n.ID, []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	if n.PeerCert, n.PeerKey, err = kp.Write(n.DataDir, "peer"); err != nil {
		c.t.Fatal(err)
	}
	return kp.Cert
}

// StartOutsider starts a process that is not one of the cluster's nodes (WaitLeader and
// Nodes ignore it), for a node that must not get in: it gets the cluster's common flags but
// not its peer certificate, plus the flags returned by flags (given the prepared node, so
// they can name its addresses). StopAll ends it.
func (c *Cluster) StartOutsider(id string, flags func(n *Node) []string) *Node {
	c.t.Helper()
	n := c.newNode(id, false)
	n.args = append(n.args, flags(n)...)
	c.outsiders = append(c.outsiders, n)
	c.Start(n, Binary(c.t))
	return n
}

// AddNode starts a new node that joins the running cluster through its members.
func (c *Cluster) AddNode(id string) *Node { return c.AddNodeFrom(id, Binary(c.t)) }

// AddNodeFrom is AddNode with the node started from binary bin.
func (c *Cluster) AddNodeFrom(id, bin string) *Node {
	n := c.newNode(id, true)
	var join []string
	for _, m := range c.Nodes {
		join = append(join, m.Addr)
	}
	n.args = append(n.args, "--join", strings.Join(join, ","))
	c.Nodes = append(c.Nodes, n)
	c.Start(n, bin)
	return n
}

// Start (re)starts a node's process with its data.
func (c *Cluster) Start(n *Node, bin string) {
	c.t.Helper()
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(bin, n.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		n.ExitCode = cmd.ProcessState.ExitCode()
		logf.Close()
		close(n.done)
	}()
}

// Restart starts a stopped node again.
func (c *Cluster) Restart(n *Node) { c.Start(n, Binary(c.t)) }

// Kill sends SIGKILL and waits for the process to end.
func (c *Cluster) Kill(n *Node) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// Stop sends SIGTERM (graceful) and waits; it reports whether the process ended by itself
// within the timeout (else it is killed).
func (c *Cluster) Stop(n *Node, timeout time.Duration) bool {
	if n.cmd == nil {
		return true
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	defer func() { n.cmd = nil }()
	select {
	case <-n.done:
		return true
	case <-time.After(timeout):
		_ = n.cmd.Process.Kill()
		<-n.done
		return false
	}
}

// WaitExit waits up to timeout for n's process to end by itself (a binary that refuses to
// start) and reports whether it did; n.ExitCode is then its exit code. It sends nothing.
func (c *Cluster) WaitExit(n *Node, timeout time.Duration) bool {
	if n.cmd == nil {
		return true
	}
	select {
	case <-n.done:
		n.cmd = nil
		return true
	case <-time.After(timeout):
		return false
	}
}

// Pause sends SIGSTOP; Resume sends SIGCONT.
func (c *Cluster) Pause(n *Node)  { _ = n.cmd.Process.Signal(syscall.SIGSTOP) }
func (c *Cluster) Resume(n *Node) { _ = n.cmd.Process.Signal(syscall.SIGCONT) }

// StopAll kills every node; on failure it prints the tail of each log.
func (c *Cluster) StopAll() {
	for _, n := range slices.Concat(c.Nodes, c.outsiders) {
		if n.cmd != nil {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			c.Kill(n)
		}
	}
	if c.t.Failed() {
		for _, n := range slices.Concat(c.Nodes, c.outsiders) {
			b, _ := os.ReadFile(n.LogPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			c.t.Logf("--- log of %s ---\n%s", n.ID, strings.Join(lines, "\n"))
		}
	}
}

// Status is a node's answer to GET /v1/cluster.
type Status struct {
	NodeID       string `json:"nodeId"`
	State        string `json:"state"`
	Term         string `json:"term"` // a decimal number (proto JSON uint64)
	LeaderID     string `json:"leaderId"`
	AppliedIndex string `json:"appliedIndex"`
	CommitIndex  string `json:"commitIndex"`
	Members      []struct {
		ID            string `json:"id"`
		ClientAddress string `json:"clientAddress"`
		Voter         bool   `json:"voter"`
		Suffrage      string `json:"suffrage"`  // Voter, Learner or Nonvoter
		LogFormat     int    `json:"logFormat"` // the log entry format it reported (0: none)
	} `json:"members"`
	LogFormat int `json:"logFormat"` // the answering node's (0 from versions before it)
}

// Status asks one node for its view of the cluster.
func (c *Cluster) Status(n *Node) (*Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/v1/cluster", nil)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Suffrage is member id's suffrage in st ("" when it is not a member).
func (st *Status) Suffrage(id string) string {
	for _, m := range st.Members {
		if m.ID == id {
			return m.Suffrage
		}
	}
	return ""
}

// DataPath is the node's --data-dir.
func (n *Node) DataPath() string { return filepath.Join(n.DataDir, "data") }

// Recover runs `octopusmq recover` on a stopped node's data dir with extra arguments (for
// example "--members", "n1,n2") and returns its output.
func (c *Cluster) Recover(n *Node, args ...string) (string, error) {
	c.t.Helper()
	if n.cmd != nil {
		c.t.Fatalf("recover %s: the node is running", n.ID)
	}
	cmd := exec.Command(Binary(c.t), append([]string{"recover", "--data-dir", n.DataPath(), "--node-id", n.ID}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Running lists the nodes whose process runs.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n.cmd != nil {
			out = append(out, n)
		}
	}
	return out
}

// WaitLeader waits until every running node reports the same leader, which is itself
// running and reports itself Leader, and returns it. Leadership lives in other processes,
// so it is polled (every 50 ms) within the timeout.
func (c *Cluster) WaitLeader(timeout time.Duration) *Node {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := c.agreedLeader(); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no agreed leader within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) agreedLeader() *Node {
	var leaderID string
	for _, n := range c.Running() {
		st, err := c.Status(n)
		if err != nil || st.LeaderID == "" {
			return nil
		}
		if leaderID != "" && st.LeaderID != leaderID {
			return nil
		}
		leaderID = st.LeaderID
	}
	for _, n := range c.Running() {
		if n.ID == leaderID {
			if st, err := c.Status(n); err == nil && st.State == "Leader" {
				return n
			}
		}
	}
	return nil
}

// Addrs is the comma-separated client address list of every node (a client target).
func (c *Cluster) Addrs() string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr)
	}
	return strings.Join(a, ",")
}

// Follower returns a running node that is not leader.
func (c *Cluster) Follower(leader *Node) *Node {
	for _, n := range c.Running() {
		if n != leader {
			return n
		}
	}
	c.t.Fatal("no follower running")
	return nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
