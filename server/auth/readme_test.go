package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// readmePort matches the walkthrough's ports: client 41x3 and Raft 41x4 of n1, n2 and n3.
var readmePort = regexp.MustCompile(`:41[234][34]\b`)

// TestReadmeSecureWalkthrough runs the README's "Secure a cluster" walkthrough as written: the
// ```bash blocks of the section make certificates (octopusmq certs), the tokens and node token
// files (sha256sum), start three nodes with peer mTLS, client-port TLS, client certificates
// and tokens, then call a follower with curl and save a snapshot. Only the binary (the test's
// build in place of go run ./cmd/octopusmq) and the ports (free ones, substituted
// consistently) differ. Each curl answer is checked against the comment line under it.
func TestReadmeSecureWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server binary and starts a 3-node cluster")
	}
	for _, tool := range []string{"bash", "sha256sum", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("no %s on PATH (CI must install it: .ci/run)", tool)
			}
			t.Skipf("no %s on PATH", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "## Secure a cluster\n")
	if i < 0 {
		t.Fatal("README has no Secure a cluster section")
	}
	section = section[i+1:]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	var lines []string
	for _, b := range regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(section, -1) {
		lines = append(lines, strings.Split(strings.TrimSpace(b[1]), "\n")...)
	}

	// Free ports for the six of the walkthrough, the same one for every mention.
	ports := map[string]string{}
	for _, p := range readmePort.FindAllString(strings.Join(lines, "\n"), -1) {
		if ports[p] == "" {
			ports[p] = ":" + freePort(t)
		}
	}
	if len(ports) != 6 {
		t.Fatalf("the walkthrough uses %d of the ports 4123/4124, 4133/4134, 4143/4144; want all six", len(ports))
	}
	subst := func(line string) string {
		return readmePort.ReplaceAllStringFunc(line, func(p string) string { return ports[p] })
	}

	bin := clustertest.Binary(t)
	const goRun = "go run ./cmd/octopusmq "
	dir := t.TempDir()
	run := func(line string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", strings.ReplaceAll(line, goRun, bin+" "))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}

	// Set-up lines run in order until the node commands, which start in the background.
	var nodes []string // client URLs, n1 first
	k := 0
	for ; k < len(lines); k++ {
		line := subst(lines[k])
		if strings.HasPrefix(line, "curl ") {
			break
		}
		if !strings.HasPrefix(line, goRun+"--node-id ") {
			run(line)
			continue
		}
		args := strings.Fields(strings.TrimPrefix(line, goRun))
		listen := ""
		for a := range args[:len(args)-1] {
			if args[a] == "--listen" {
				listen = args[a+1]
			}
		}
		if listen == "" {
			t.Fatalf("node command without --listen: %s", lines[k])
		}
		node := exec.Command(bin, args...)
		node.Dir = dir
		logf, err := os.Create(dir + "/node" + strconv.Itoa(len(nodes)+1) + ".log")
		if err != nil {
			t.Fatal(err)
		}
		node.Stdout, node.Stderr = logf, logf
		if err := node.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			node.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { node.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				node.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s:\n%s", logf.Name(), tail(string(b), 3000))
			}
		})
		nodes = append(nodes, "https://"+listen)
	}
	if len(nodes) != 3 {
		t.Fatalf("the walkthrough starts %d nodes; want 3", len(nodes))
	}
	for _, n := range nodes {
		if err := servertest.WaitReady(n, 60*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	// The calls go through one node; the README says it is a follower, so make it one.
	target := regexp.MustCompile(`https://localhost(:\d+)`).FindStringSubmatch(subst(lines[k]))
	if target == nil {
		t.Fatalf("first curl names no https://localhost:PORT: %s", lines[k])
	}
	ensureFollower(t, dir+"/certs/ca.crt", "https://127.0.0.1"+target[1])

	ran := 0
	for ; k < len(lines); k++ {
		line := subst(lines[k])
		switch {
		case strings.HasPrefix(line, "curl "):
			if k+1 >= len(lines) || !strings.HasPrefix(lines[k+1], "# ") {
				t.Fatalf("no expected answer after %s", lines[k])
			}
			want := strings.TrimPrefix(lines[k+1], "# ")
			out := run(line + ` -s -w '\n%{http_code}'`)
			body, code, _ := strings.Cut(strings.TrimSpace(out), "\n")
			if m := regexp.MustCompile(`^(\d{3}): (.*)$`).FindStringSubmatch(want); m != nil {
				if code != m[1] || !strings.Contains(body, strings.ReplaceAll(m[2], `"`, `\"`)) {
					t.Errorf("%s\n got %s %s\nwant %s", lines[k], code, body, want)
				}
			} else if code != "200" || strings.Join(strings.Fields(body), "") != strings.Join(strings.Fields(want), "") {
				// (protojson varies its whitespace on purpose)
				t.Errorf("%s\n got %s %s\nwant %s", lines[k], code, body, want)
			}
			ran++
		case strings.HasPrefix(line, goRun+"snapshot save "):
			if out := run(line); !strings.Contains(out, "saved") {
				t.Errorf("%s: %s", lines[k], out)
			}
			ran++
		case strings.HasPrefix(line, "# "):
		default:
			t.Errorf("unexpected line after the calls started: %s", lines[k])
		}
	}
	if ran < 6 {
		t.Fatalf("ran only %d calls and snapshot saves; want the walkthrough's 6 (5 curl, 1 snapshot save)", ran)
	}
}

// ensureFollower makes the node at url a follower: if it leads, it hands leadership over
// and the test waits until it reports another leader.
func ensureFollower(t *testing.T, caFile, url string) {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(method, path string) (state, leader string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer admin-secret")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ State, LeaderID, NodeID string }
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return st.State, st.LeaderID
	}
	state, _ := call(http.MethodGet, "/v1/cluster")
	if state != "Leader" {
		return
	}
	call(http.MethodPost, "/v1/cluster:transferLeadership")
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, leader := call(http.MethodGet, "/v1/cluster")
		if state == "Follower" && leader != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s (leader %q) 30 s after a leadership transfer", url, state, leader)
		}
		time.Sleep(50 * time.Millisecond) // polling the node's own report; there is no event to await
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
