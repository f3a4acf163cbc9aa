package main

import (
	"os"
	"strings"
	"testing"
)

func TestParseInitialCluster(t *testing.T) {
	peers, err := parseInitialCluster("n1=127.0.0.1:4124, n2=h2:4124")
	if err != nil || len(peers) != 2 || peers[1].ID != "n2" || peers[1].Address != "h2:4124" {
		t.Fatalf("%v %v", peers, err)
	}
	for _, bad := range []string{"n1", "n1=", "=a:1", "n1=a:1,n1=b:1"} {
		if _, err := parseInitialCluster(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDefaultRaftAdvertise(t *testing.T) {
	for _, tc := range []struct {
		bind   string
		single bool
		want   string
		err    string
	}{
		{"10.0.0.5:4124", false, "10.0.0.5:4124", ""},
		{"0.0.0.0:4124", true, "127.0.0.1:4124", ""},
		{":4124", true, "127.0.0.1:4124", ""},
		{"0.0.0.0:4124", false, "", "--raft-advertise"},
	} {
		got, err := defaultRaftAdvertise(tc.bind, tc.single)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s single=%v: %q %v", tc.bind, tc.single, got, err)
		}
	}
}

func TestEnvOverridesDefaultsAndFlagsWin(t *testing.T) {
	t.Setenv("OCTOPUSMQ_LOG_FORMAT", "yaml")
	err := run([]string{"--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `--log-format "yaml"`) {
		t.Fatalf("env value not applied: %v", err)
	}
	t.Setenv("OCTOPUSMQ_LOG_LEVEL", "loud")
	err = run([]string{"--log-level", "info", "--log-format", "nope"})
	if err == nil || !strings.Contains(err.Error(), `--log-format "nope"`) {
		t.Fatalf("flag did not win over env: %v", err)
	}
	os.Unsetenv("OCTOPUSMQ_LOG_LEVEL")
}

func TestJoinWhileListedIsRefused(t *testing.T) {
	err := run([]string{"--node-id", "n1", "--initial-cluster", "n1=127.0.0.1:1", "--join", "127.0.0.1:2", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--join") {
		t.Fatalf("got %v", err)
	}
}

func TestConnectionFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{{"--max-connections", "-1"}, {"--first-bytes-timeout", "-1s"}} {
		err := run(append(args, "--data-dir", t.TempDir()))
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: got %v, want an error naming the flag", args, err)
		}
	}
}

func TestRaftLogStoreFlagIsChecked(t *testing.T) {
	err := run([]string{"--raft-log-store", "rocks", "--data-dir", t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--raft-log-store") || !strings.Contains(err.Error(), "wal") {
		t.Fatalf("got %v, want an error naming the flag and the stores", err)
	}
}
