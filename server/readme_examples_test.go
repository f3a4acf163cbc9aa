package server_test

// The README's Go programs, run unchanged (only the address replaced) against a real server.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/client"
	"github.com/clbs-io/octopusmq/server/servertest"
)

// readmeGoPrograms returns the README's ```go blocks that are whole programs (package main).
func readmeGoPrograms(readme string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(readme, -1) {
		if strings.Contains(m[1], "package main") {
			out = append(out, m[1])
		}
	}
	return out
}

func TestReadmeExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the README programs with go run (slow)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("..")
	kvMust(t, err)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	kvMust(t, err)

	// Exactly the two quick-start programs, so an emptied README cannot pass.
	progs := readmeGoPrograms(string(readme))
	if len(progs) != 2 {
		t.Fatalf("README has %d Go programs (package main), want 2 (queue and storage quick start)", len(progs))
	}
	type expect struct {
		name    string
		marker  string           // what identifies the program
		lines   []*regexp.Regexp // log lines it must print, in order
		absents []string
	}
	expects := []expect{
		{
			name:   "queue",
			marker: `client.NewQueueClient("localhost:4123", "my-queue")`,
			lines: []*regexp.Regexp{
				regexp.MustCompile(`Enqueued message with ID: (\d+)`),
				regexp.MustCompile(`Processing message ID (\d+): process this order`),
			},
			absents: []string{"Failed to commit"},
		},
		{
			name:   "storage",
			marker: `client.NewStorageClient("localhost:4123", "my-storage")`,
			lines: []*regexp.Regexp{
				regexp.MustCompile(`Set key with ID: (\d+)`),
				regexp.MustCompile(`Retrieved value: \{"name":"John"\}`),
				regexp.MustCompile(`Locked key with ID: (\d+)`),
			},
		},
	}
	for i, e := range expects {
		if !strings.Contains(progs[i], e.marker) {
			t.Fatalf("README program %d is not the %s quick start (no %s)", i+1, e.name, e.marker)
		}
	}

	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	admin, err := client.NewAdminClient(srv.Addr)
	kvMust(t, err)
	defer admin.Close()
	kvMust(t, admin.CreateQueue(ctx, client.QueueConfig{Name: "my-queue"}))
	kvMust(t, admin.CreateStorage(ctx, "my-storage"))

	// The programs import github.com/clbs-io/octopusmq/client, so they are built inside the
	// module: in .tools/ (ignored by git and by ./... patterns), removed afterwards.
	kvMust(t, os.MkdirAll(filepath.Join(root, ".tools"), 0o755))
	tmp, err := os.MkdirTemp(filepath.Join(root, ".tools"), "readme-examples-")
	kvMust(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })

	for i, e := range expects {
		t.Run(e.name, func(t *testing.T) {
			src := strings.ReplaceAll(progs[i], "localhost:4123", srv.Addr)
			dir := filepath.Join(tmp, e.name)
			kvMust(t, os.MkdirAll(dir, 0o755))
			kvMust(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
			cmd := exec.CommandContext(ctx, goBin, "run", dir)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go run of the README's %s program: %v\n%s", e.name, err, out)
			}
			rest := string(out)
			var ids []string
			for _, re := range e.lines {
				loc := re.FindStringSubmatchIndex(rest)
				if loc == nil {
					t.Fatalf("the %s program did not log %q (in order); output:\n%s", e.name, re, out)
				}
				if len(loc) >= 4 {
					ids = append(ids, rest[loc[2]:loc[3]])
				}
				rest = rest[loc[1]:]
			}
			for _, a := range e.absents {
				if strings.Contains(string(out), a) {
					t.Fatalf("the %s program logged %q:\n%s", e.name, a, out)
				}
			}
			// The id logged twice is the same item / key.
			if len(ids) == 2 && ids[0] != ids[1] {
				t.Fatalf("the %s program logged ids %s and %s, want the same:\n%s", e.name, ids[0], ids[1], out)
			}
		})
	}

	// What the programs did is visible on the server: the message was committed, the key
	// is set and unlocked.
	s, err := client.NewStorageClient(srv.Addr, "my-storage")
	kvMust(t, err)
	defer s.Close()
	kvWantValue(t, ctx, s, "user:123", `{"name":"John"}`)
	kvWantInfo(t, ctx, s, 1, 0)
	q, err := client.NewQueueClient(srv.Addr, "my-queue")
	kvMust(t, err)
	defer q.Close()
	info, err := q.Info(ctx)
	kvMust(t, err)
	if info.Length != 0 || info.Active != 0 {
		t.Fatalf("queue after the README program: %+v, want empty", info)
	}
}
