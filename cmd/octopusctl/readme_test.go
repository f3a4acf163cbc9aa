package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// readmeCommands returns the octopusctl command lines of the example block of the README's
// "Operate" section, "octopusctl" part.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, found := strings.Cut(string(readme), "## Operate\n")
	if found {
		_, sec, found = strings.Cut(sec, "### octopusctl\n")
	}
	if !found {
		t.Fatal(`README has no "## Operate" section with "### octopusctl"`)
	}
	_, block, found := strings.Cut(sec, "```bash\n")
	block, _, found2 := strings.Cut(block, "```")
	if !found || !found2 {
		t.Fatal("the README's octopusctl section has no bash block")
	}
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		if strings.HasPrefix(line, "octopusctl ") || strings.Contains(line, "| octopusctl ") {
			cmds = append(cmds, line)
		}
	}
	if len(cmds) < 10 {
		t.Fatalf("the README's octopusctl block has %d commands, want the whole tour", len(cmds))
	}
	return cmds
}

// TestReadmeCommands runs the README's octopusctl examples, as written, in a shell against
// a fresh server: each must succeed (the ids and tokens they use are those of a fresh server).
func TestReadmeCommands(t *testing.T) {
	s := servertest.Start(t)
	env := append(os.Environ(),
		"OCTOPUSMQ_ADDR="+s.Addr,
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	outputs := map[string]string{}
	dir := t.TempDir() // snapshot save writes backup.snap here
	for _, line := range readmeCommands(t) {
		cmd := exec.Command("sh", "-c", line)
		cmd.Env = env
		cmd.Dir = dir
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("README line %q: %v\nstdout: %s\nstderr: %s", line, err, out.String(), errOut.String())
		}
		outputs[line] = out.String()
	}
	for line, out := range outputs {
		switch {
		case strings.HasPrefix(line, "octopusctl kv get "):
			if out != `{"name":"John"}` {
				t.Errorf("%q printed %q", line, out)
			}
		case strings.HasPrefix(line, "octopusctl queue peek jobs"):
			if !strings.Contains(out, "first") || !strings.Contains(out, "third") {
				t.Errorf("%q printed %q", line, out)
			}
		case strings.HasPrefix(line, "octopusctl queue stats jobs --watch"):
			if n := strings.Count(strings.TrimSpace(out), "\n"); n != 3 {
				t.Errorf("%q printed %d lines after the header: %q", line, n, out)
			}
		case strings.HasPrefix(line, "octopusctl snapshot restore"):
			if !strings.Contains(out, "restored") {
				t.Errorf("%q printed %q", line, out)
			}
		case strings.HasPrefix(line, "octopusctl queue pull jobs --commit"):
			if !strings.Contains(out, "first") {
				t.Errorf("%q printed %q", line, out)
			}
		}
	}
}
