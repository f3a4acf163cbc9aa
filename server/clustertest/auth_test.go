package clustertest_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/auth"
	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestSecureClusterForwards: a 3-node cluster with TLS, tokens and client certificates on
// its client port. A follower checks callers itself and forwards to the leader over TLS:
// with the caller's token, or with the node token for a caller its certificate identified
// (and for the node's own address publishing, joining and learner probes). Backups redirect
// to the leader over https.
func TestSecureClusterForwards(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ca := servertest.NewCA(t, "cluster-ca")
	cert, key, caFile := ca.WriteFiles(t, dir, "node")
	tokens := filepath.Join(dir, "tokens")
	nodeToken := filepath.Join(dir, "node-token")
	lines := "ci admin " + auth.HashToken("admin-tok") + "\n" +
		"node admin " + auth.HashToken("node-tok") + "\n" +
		"pusher producer:jobs- " + auth.HashToken("push-tok") + "\n" +
		"alice kv -\n"
	if err := os.WriteFile(tokens, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nodeToken, []byte("node-tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.New(t, 3, clustertest.WithFlags("--tls-cert", cert, "--tls-key", key, "--tls-ca", caFile,
		"--tls-client-ca", caFile, "--auth-tokens-file", tokens, "--node-token-file", nodeToken),
		clustertest.WithClientSecurity("admin-tok", ca.Pool))
	leader := c.WaitLeader(20 * time.Second)
	follower := c.Follower(leader)

	// Every node published its client address (through the forwarder, as the node).
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := c.Status(follower)
		published := err == nil && len(st.Members) == 3
		for _, m := range st.Members {
			published = published && m.ClientAddress != ""
		}
		if published {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not publish their addresses: %+v %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	do := func(method, url, body, token string, certs ...tls.Certificate) (int, string) {
		t.Helper()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}},
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				req.Header.Set("Authorization", "Bearer "+token)
				return nil
			}}
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	u := follower.URL()
	if code, body := do("POST", u+"/v1/queues", `{"queueName":"jobs-1"}`, ""); code != 401 {
		t.Fatalf("no token via a follower: %d %s", code, body)
	}
	if code, body := do("POST", u+"/v1/queues", `{"queueName":"jobs-1"}`, "push-tok"); code != 403 {
		t.Fatalf("a producer creating a queue via a follower: %d %s", code, body)
	}
	if code, body := do("POST", u+"/v1/queues", `{"queueName":"jobs-1"}`, "admin-tok"); code != 200 {
		t.Fatalf("admin via a follower: %d %s", code, body)
	}
	if code, body := do("POST", u+"/v1/queues/jobs-1/items", `{"items":[{"value":"aGk="}]}`, "push-tok"); code != 200 {
		t.Fatalf("a producer's enqueue via a follower: %d %s", code, body)
	}
	// A caller identified by its certificate: the follower forwards with the node token.
	alice := ca.IssueTLS(t, "alice")
	if code, body := do("POST", u+"/v1/storages", `{"storageName":"s"}`, "admin-tok"); code != 200 {
		t.Fatalf("create storage: %d %s", code, body)
	}
	if code, body := do("PUT", u+"/v1/storages/s/keys/k", `{"value":"aGk="}`, "", alice); code != 200 {
		t.Fatalf("alice's put via a follower: %d %s", code, body)
	}
	if code, body := do("DELETE", u+"/v1/queues/jobs-1", "", "", alice); code != 403 {
		t.Fatalf("alice deleting a queue via a follower: %d %s", code, body)
	}
	// A backup through a follower is redirected to the leader's https address.
	if code, body := do("GET", u+"/v1/cluster/snapshot", "", "admin-tok"); code != 200 || len(body) == 0 {
		t.Fatalf("snapshot via a follower: %d (%d bytes)", code, len(body))
	}
	// The Go client with TLS and a token follows LEADER_SWITCH from any node.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := client.NewQueueClient(follower.Addr, "jobs-1", client.WithTLS(&tls.Config{RootCAs: ca.Pool}), client.WithToken("push-tok"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Enqueue(ctx, &client.InputItem{Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	info, err := q.Info(ctx)
	if err != nil || info.Length != 2 {
		t.Fatalf("info: %+v %v", info, err)
	}
	// Relayed streams (the Go client opted out of direct-to-leader): the follower checks
	// the real caller's rights command by command, and the leader checks the token again.
	rq, err := client.NewQueueClient(follower.Addr, "jobs-1", client.WithRelay(), client.WithTLS(&tls.Config{RootCAs: ca.Pool}), client.WithToken("push-tok"))
	if err != nil {
		t.Fatal(err)
	}
	defer rq.Close()
	if _, err := rq.Enqueue(ctx, &client.InputItem{Value: []byte("relayed")}); err != nil {
		t.Fatalf("a producer's enqueue on a relayed stream: %v", err)
	}
	if items, err := rq.Pull(ctx, 1); err == nil {
		t.Fatalf("a producer pulled %d items on a relayed stream, want a refusal", len(items))
	}
	// A caller identified by its certificate, relayed with the node token.
	rs, err := client.NewStorageClient(follower.Addr, "s", client.WithRelay(), client.WithTLS(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{alice}}))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if _, err := rs.Set(ctx, []byte("relayed"), []byte("v"), client.SetOptions{}); err != nil {
		t.Fatalf("alice's set on a relayed stream: %v", err)
	}
	if _, err := client.NewQueueClient(follower.Addr, "jobs-1", client.WithRelay(), client.WithConnectTimeout(5*time.Second),
		client.WithTLS(&tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{alice}})); err == nil {
		t.Fatal("alice (kv only) opened a relayed queue stream")
	}
	if code, body := do("GET", u+"/metrics", "", "admin-tok"); code != 200 || !strings.Contains(body, `octopusmq_relay_streams_total{service="storage"}`) {
		t.Fatalf("the follower counted no relayed storage stream: %d", code)
	}
	// A node joins as itself (TLS and the node token), and the leader promotes it after
	// asking it, with the node token too, how far it has caught up.
	n4 := c.AddNode("n4")
	deadline = time.Now().Add(60 * time.Second)
	for {
		st, err := c.Status(leader)
		voter := false
		if err == nil {
			for _, m := range st.Members {
				voter = voter || (m.ID == n4.ID && m.Voter)
			}
		}
		if voter {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n4 was not added and promoted: %+v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := os.ReadFile(leader.LogPath)
	if !strings.Contains(string(logs), "logger=audit who=ci by=token") || !strings.Contains(string(logs), "forwarded=true") {
		t.Fatalf("the leader's audit log lacks the forwarded CreateQueue:\n%s", logs)
	}
}
