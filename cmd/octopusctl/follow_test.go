package main

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/clbs-io/octopusmq/server/servertest"
)

// TestFollowInterrupt: pull --follow --commit prints items as they come and exits 0 on
// SIGINT, with what it printed committed.
func TestFollowInterrupt(t *testing.T) {
	s := servertest.Start(t)
	a := s.Addr
	ok(t, a, "", "queue", "create", "live")
	ok(t, a, "", "queue", "enqueue", "live", "early")

	cmd := exec.Command(bin, "queue", "pull", "live", "--follow", "--commit", "-o", "json")
	cmd.Env = append(os.Environ(), "OCTOPUSMQ_ADDR="+a)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	next := func(want string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("pull --follow ended before printing %q: %v", want, lines.Err())
		}
		if p := decode[pulled](t, lines.Text()); p.Value != want {
			t.Fatalf("pull --follow printed %+v, want %q", p, want)
		}
	}
	next("early")
	// An item enqueued while it waits arrives on the same run.
	ok(t, a, "", "queue", "enqueue", "live", "late")
	next("late")

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pull --follow after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pull --follow did not exit within 30s of SIGINT")
	}
	if q := findQueue(t, decode[[]queueJSON](t, ok(t, a, "", "queue", "list", "-o", "json")), "live"); q.Count != 0 {
		t.Fatalf("after pull --follow --commit: %+v, want both items committed", q)
	}
}
