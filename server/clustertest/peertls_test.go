package clustertest_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/clbs-io/octopusmq/server/certgen"
	"github.com/clbs-io/octopusmq/server/clustertest"
)

// TestPeerTLSFailover: a 3-node cluster with mutual TLS between peers elects, replicates and
// survives a leader kill (the failover workload's checks), and its Raft ports speak TLS.
func TestPeerTLSFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := failoverWorkload(t, 1, 150, clustertest.WithPeerTLS())
	for _, n := range c.Running() {
		if got := raftPortCert(t, c, n, c.PeerCA); got.Subject.CommonName != n.ID {
			t.Errorf("%s's Raft port presented %q", n.ID, got.Subject.CommonName)
		}
	}
}

// TestPeerTLSOutsidersCannotJoinOrDisrupt: processes without a certificate from the
// cluster's CA (another CA's, or none) cannot join, vote or append: the cluster keeps its
// leader and term while they try, and they learn nothing. The same forged vote request
// sent with a certificate of the cluster's CA does depose the leader, so the requests are
// stopped by the certificate check and nothing else.
func TestPeerTLSOutsidersCannotJoinOrDisrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3, clustertest.WithPeerTLS())
	leader := c.WaitLeader(15 * time.Second)
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	before := stableView(t, c)
	logOffsets := map[string]int{}
	for _, n := range c.Nodes {
		b, _ := os.ReadFile(n.LogPath)
		logOffsets[n.ID] = len(b)
	}

	// Another CA's certificates, for 127.0.0.1 like the members'.
	rogueCA, err := certgen.NewCA("rogue CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogueDir := t.TempDir()
	rogueCAFile, _, err := rogueCA.Write(rogueDir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	rogueKP, err := rogueCA.Issue(certgen.Node, "rogue", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogueCert, rogueKey, err := rogueKP.Write(rogueDir, "rogue")
	if err != nil {
		t.Fatal(err)
	}
	rogueFlags := []string{"--peer-tls-cert", rogueCert, "--peer-tls-key", rogueKey, "--peer-tls-ca", rogueCAFile}

	// A rogue that asks to join through the client port (the leader first checks its Raft
	// port for a node certificate of the cluster's CA, and refuses), and one that claims a
	// seat in the initial cluster and campaigns against the members.
	var initial []string
	for _, n := range c.Nodes {
		initial = append(initial, n.ID+"="+n.RaftAddr)
	}
	joiner := c.StartOutsider("rogue-join", func(*clustertest.Node) []string {
		return slices.Concat(rogueFlags, []string{"--join", c.Addrs()})
	})
	campaigner := c.StartOutsider("rogue-vote", func(n *clustertest.Node) []string {
		return slices.Concat(rogueFlags, []string{"--initial-cluster", strings.Join(append(initial, n.ID+"="+n.RaftAddr), ",")})
	})

	// Forged Raft RPCs from this process: a vote request in a member's name with a much
	// higher term and a leadership transfer flag (which deposes a leader), and an append
	// with a higher term (which makes any node follow), over plain TCP and over TLS with
	// the other CA's certificate.
	rogueTLS, err := rogueKP.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	term := before.term
	forged := term + 100
	for name, cfg := range map[string]*tls.Config{
		"no TLS":              nil,
		"another CA's cert":   {Certificates: []tls.Certificate{rogueTLS}, InsecureSkipVerify: true},
		"TLS, no certificate": {InsecureSkipVerify: true},
	} {
		tr := rpcTransport(t, cfg)
		for round := 0; round < 5; round++ {
			for _, n := range c.Nodes {
				if err := forgeVote(tr, c, n, forged); err == nil {
					t.Errorf("%s: a forged vote request to %s was answered", name, n.ID)
				}
				if err := forgeAppend(tr, n, forged); err == nil {
					t.Errorf("%s: a forged append to %s was answered", name, n.ID)
				}
			}
		}
	}
	// Each member refused the rogue's connections.
	for _, n := range c.Nodes {
		waitLog(t, n.LogPath, "refused a Raft connection", 20*time.Second)
	}
	waitLog(t, joiner.LogPath, "join attempt failed", 30*time.Second)
	waitLog(t, joiner.LogPath, "refused a Raft connection", 30*time.Second) // the leader's check
	waitLog(t, campaigner.LogPath, "starting election", 30*time.Second)

	after := stableView(t, c)
	if after.term >= forged {
		t.Fatalf("a forged term reached the cluster: term %d, then %d", before.term, after.term)
	}
	if after != before {
		// Only an election of the members' own, from a stall of this loaded machine past
		// the 500 ms timeouts, may change them; the outsiders' requests would have carried
		// the forged term.
		stalled := false
		for _, n := range c.Nodes {
			b, _ := os.ReadFile(n.LogPath)
			text := string(b[logOffsets[n.ID]:])
			stalled = stalled || strings.Contains(text, "heartbeat timeout reached") || strings.Contains(text, "failed to contact quorum")
		}
		if !stalled {
			t.Fatalf("the cluster changed while outsiders tried: leader %s term %d, then leader %s term %d",
				before.leader, before.term, after.leader, after.term)
		}
		t.Logf("an election of the members' own (timeouts under load) moved leader %s term %d to %s term %d",
			before.leader, before.term, after.leader, after.term)
	}
	st, err := c.Status(c.WaitLeader(15 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 {
		t.Errorf("members after the outsiders tried: %+v, want the three", st.Members)
	}
	for _, o := range []*clustertest.Node{joiner, campaigner} {
		st, err := c.Status(o)
		if err != nil {
			t.Fatalf("%s: %v", o.ID, err)
		}
		if st.LeaderID != "" || st.State == "Leader" {
			t.Errorf("%s got into the cluster: %+v", o.ID, st)
		}
		if applied, _ := strconv.ParseUint(st.AppliedIndex, 10, 64); applied > 1 {
			t.Errorf("%s applied %d entries of someone's log", o.ID, applied)
		}
	}
	// Adding the outsider directly is refused too, naming the field.
	code, body := httpDo(t, "POST", leader.URL()+"/v1/cluster/members", fmt.Sprintf(`{"id":"rogue-join","raftAddress":%q}`, joiner.RaftAddr))
	if (code != 400 && code != 409) || !strings.Contains(body, "raft_address") {
		t.Errorf("adding the outsider: %d %s, want FailedPrecondition naming raft_address", code, body)
	}
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues/jobs/items", `{"items":[{"value":"eA=="}]}`); code != 200 {
		t.Fatalf("the cluster stopped serving: %d %s", code, body)
	}

	// Control: with a certificate of the cluster's CA the forged vote gets through and
	// deposes the leader.
	kp, err := c.PeerCA.Issue(certgen.Node, "intruder", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	insider, _ := kp.TLSCertificate()
	tr := rpcTransport(t, &tls.Config{Certificates: []tls.Certificate{insider}, RootCAs: c.PeerCA.Pool()})
	leader = c.WaitLeader(15 * time.Second)
	if err := forgeVote(tr, c, leader, forged); err != nil {
		t.Fatalf("control: the forged vote with the cluster's certificate failed: %v", err)
	}
	if st, err = c.Status(leader); err != nil {
		t.Fatal(err)
	}
	if got, _ := strconv.ParseUint(st.Term, 10, 64); got < forged {
		t.Fatalf("control: the leader's term is %d after the forged vote, want at least %d", got, forged)
	}
}

// TestPeerTLSJoin: a node with a certificate of the cluster's CA joins through --join (the
// leader's check of its Raft port passes) and gets the log.
func TestPeerTLSJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3, clustertest.WithPeerTLS())
	leader := c.WaitLeader(15 * time.Second)
	if code, body := httpDo(t, "POST", leader.URL()+"/v1/queues", `{"queueName":"jobs"}`); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	n4 := c.AddNode("n4")
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(n4)
		if err == nil && len(st.Members) == 4 && st.LeaderID != "" {
			if code, body := httpDo(t, "GET", n4.URL()+"/v1/queues", ""); code == 200 && strings.Contains(body, `"jobs"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("n4 did not join: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPeerTLSRotation: nodes pick up replaced certificate files, even from a new CA,
// without a restart: each Raft port serves its new certificate, and after the leader is
// killed the others (dialing each other afresh with the new files) elect a new one.
func TestPeerTLSRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := clustertest.New(t, 3, clustertest.WithPeerTLS())
	leader := c.WaitLeader(15 * time.Second)

	// Rotate everything to a new CA, as a CA rollover that reached every node would.
	ca, err := certgen.NewCA("rotated peer CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.PeerCA = ca
	if _, _, err := ca.Write(filepath.Dir(c.PeerCAFile), "ca"); err != nil {
		t.Fatal(err)
	}
	serials := map[string]string{}
	for _, n := range c.Nodes {
		serials[n.ID] = c.RotatePeerCert(n).SerialNumber.String()
	}
	for _, n := range c.Nodes {
		if got := raftPortCert(t, c, n, ca).SerialNumber.String(); got != serials[n.ID] {
			t.Fatalf("%s serves certificate %s after rotation, want %s", n.ID, got, serials[n.ID])
		}
	}
	c.Kill(leader)
	var rest []*clustertest.Node
	for _, n := range c.Nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	c.Nodes = rest
	nl := c.WaitLeader(20 * time.Second)
	if code, body := httpDo(t, "POST", nl.URL()+"/v1/queues", `{"queueName":"after-rotation"}`); code != 200 {
		t.Fatalf("write after rotation and failover: %d %s", code, body)
	}
	c.Nodes = append(c.Nodes, leader)
	c.Restart(leader) // it starts with the new files and rejoins
	c.WaitLeader(20 * time.Second)
	if code, body := httpDo(t, "GET", leader.URL()+"/v1/queues", ""); code != 200 || !strings.Contains(body, "after-rotation") {
		t.Fatalf("the restarted node: %d %s", code, body)
	}
}

type view struct {
	leader string
	term   uint64
}

// stableView is the leader and term every member agrees on.
func stableView(t *testing.T, c *clustertest.Cluster) view {
	t.Helper()
	l := c.WaitLeader(15 * time.Second)
	var v view
	for _, n := range c.Running() {
		st, err := c.Status(n)
		if err != nil {
			t.Fatal(err)
		}
		term, _ := strconv.ParseUint(st.Term, 10, 64)
		if v.leader == "" {
			v = view{leader: st.LeaderID, term: term}
		} else if st.LeaderID != v.leader || term != v.term {
			t.Fatalf("members disagree: %s says leader %s term %d, another leader %s term %d", n.ID, st.LeaderID, term, v.leader, v.term)
		}
	}
	if v.leader != l.ID {
		t.Fatalf("leader %s, members say %s", l.ID, v.leader)
	}
	return v
}

// raftPortCert connects to n's Raft port with a node certificate from ca and returns the
// certificate n presented.
func raftPortCert(t *testing.T, c *clustertest.Cluster, n *clustertest.Node, ca *certgen.CA) *x509.Certificate {
	t.Helper()
	kp, err := ca.Issue(certgen.Node, "probe", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := kp.TLSCertificate()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.RaftAddr,
		&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to %s's Raft port: %v", n.ID, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// dialLayer is a raft.StreamLayer that only dials: plain TCP, or TLS with cfg.
type dialLayer struct {
	net.Listener
	cfg *tls.Config
}

func (d dialLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if d.cfg == nil {
		return net.DialTimeout("tcp", string(addr), timeout)
	}
	cfg := d.cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), cfg)
}

// rpcTransport is a Raft transport for sending forged RPCs.
func rpcTransport(t *testing.T, cfg *tls.Config) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransport(dialLayer{Listener: ln, cfg: cfg}, 0, 3*time.Second, io.Discard)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// forgeVote asks n for its vote in the name of another member, with a leadership transfer
// flag and an up-to-date-looking log: a node that reads it at a higher term steps down.
func forgeVote(tr *raft.NetworkTransport, c *clustertest.Cluster, n *clustertest.Node, term uint64) error {
	var other *clustertest.Node
	for _, m := range c.Nodes {
		if m != n {
			other = m
		}
	}
	req := &raft.RequestVoteRequest{
		RPCHeader:          raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(other.ID), Addr: []byte(other.RaftAddr)},
		Term:               term,
		LastLogIndex:       1 << 40,
		LastLogTerm:        term,
		LeadershipTransfer: true,
	}
	var resp raft.RequestVoteResponse
	return tr.RequestVote(raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr), req, &resp)
}

// forgeAppend sends n an empty append at a higher term.
func forgeAppend(tr *raft.NetworkTransport, n *clustertest.Node, term uint64) error {
	req := &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("rogue"), Addr: []byte("127.0.0.1:1")},
		Term:      term,
	}
	var resp raft.AppendEntriesResponse
	return tr.AppendEntries(raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr), req, &resp)
}

// waitLog waits for text in another process's log (polled: the process is not ours to
// signal us).
func waitLog(t *testing.T, path, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in %s within %v", text, path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
