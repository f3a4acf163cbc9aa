package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExample walks the command tree: every command documents an example.
func TestEveryCommandHasExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root)
}

// TestCompletion checks cobra's completion scripts and the completion of flag values.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "octopusctl") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, code, out.Len(), errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"__complete", "queue", "list", "-o", ""}, strings.NewReader(""), &out, &errOut)
	if !strings.Contains(out.String(), "json\nyaml") {
		t.Errorf("completion of -o: %q", out.String())
	}
}
