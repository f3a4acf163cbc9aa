package auth_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/clustertest"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestReadmeSecureWalkthrough runs the README's "Secure a cluster" commands as written
// (openssl, sha256sum, the server binary, curl, snapshot save), only pointed at a free port
// and a temporary data folder, and checks each curl answer against the README's comment.
func TestReadmeSecureWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server binary")
	}
	for _, tool := range []string{"bash", "openssl", "sha256sum", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on PATH", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "## Secure a cluster")
	if i < 0 {
		t.Fatal("README has no Secure a cluster section")
	}
	section = section[i:]
	blocks := regexp.MustCompile("(?s)```bash\n(.*?)```").FindAllStringSubmatch(section, 2)
	if len(blocks) != 2 {
		t.Fatalf("want the set-up and the curl blocks, found %d", len(blocks))
	}
	bin := clustertest.Binary(t)
	dir := t.TempDir()
	run := func(line string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", line)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := "localhost:" + itoa(port)
	var server *exec.Cmd
	for _, line := range strings.Split(strings.TrimSpace(blocks[0][1]), "\n") {
		if strings.HasPrefix(line, "go run ./cmd/octopusmq ") {
			args := strings.Fields(strings.TrimPrefix(line, "go run ./cmd/octopusmq "))
			args = append(args, "--listen", "127.0.0.1:"+itoa(port), "--raft-bind", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
			server = exec.Command(bin, args...)
			server.Dir = dir
			if err := server.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { server.Process.Kill(); server.Wait() })
			continue
		}
		run(line)
	}
	if server == nil {
		t.Fatal("the set-up block does not start the server")
	}
	if err := servertest.WaitReady("https://"+addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(blocks[1][1]), "\n")
	ran := 0
	for k, line := range lines {
		line = strings.ReplaceAll(line, "localhost:4123", addr)
		switch {
		case strings.HasPrefix(line, "curl "):
			if k+1 >= len(lines) || !strings.HasPrefix(lines[k+1], "# ") {
				t.Fatalf("no expected answer after %s", line)
			}
			want := strings.TrimPrefix(lines[k+1], "# ")
			out := run(line + ` -s -w '\n%{http_code}'`)
			body, code, _ := strings.Cut(strings.TrimSpace(out), "\n")
			if m := regexp.MustCompile(`^(\d{3}): (.*)$`).FindStringSubmatch(want); m != nil {
				if code != m[1] || !strings.Contains(body, strings.ReplaceAll(m[2], `"`, `\"`)) {
					t.Errorf("%s\n got %s %s\nwant %s", line, code, body, want)
				}
			} else if code != "200" || strings.Join(strings.Fields(body), "") != strings.Join(strings.Fields(want), "") {
				// (protojson varies its whitespace on purpose)
				t.Errorf("%s\n got %s %s\nwant %s", line, code, body, want)
			}
			ran++
		case strings.HasPrefix(line, "go run ./cmd/octopusmq "):
			if out := run(bin + " " + strings.TrimPrefix(line, "go run ./cmd/octopusmq ")); !strings.Contains(out, "saved") {
				t.Errorf("%s: %s", line, out)
			}
			ran++
		}
	}
	if ran < 5 {
		t.Fatalf("ran only %d commands of the curl block", ran)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
