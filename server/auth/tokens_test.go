package auth

import (
	"crypto/sha256"
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	file := "# callers\n\n" +
		"ci admin " + HashToken("a") + "  # the CI\n" +
		"worker consumer:jobs-,producer:jobs- " + HashToken("w") + "\n" +
		"worker kv " + HashToken("w2") + "\n" +
		"alice kv:cache- -\n"
	tab, err := parseTokens([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.entries) != 4 {
		t.Fatalf("%d entries", len(tab.entries))
	}
	e, ok := tab.lookup(sha256.Sum256([]byte("w2")))
	if !ok || e.name != "worker" || e.grants[0] != (Grant{Role: RoleKV}) {
		t.Fatalf("lookup w2: %+v %v", e, ok)
	}
	if _, ok := tab.lookup(sha256.Sum256([]byte("nope"))); ok {
		t.Fatal("an unknown token was found")
	}
	if _, ok := tab.lookup([sha256.Size]byte{}); ok {
		t.Fatal("a certificate-only line matched a token")
	}
	if g := tab.byName["worker"]; len(g) != 3 {
		t.Fatalf("worker's certificate roles are the union of its lines: %v", g)
	}
	id := &Identity{Name: "worker", grants: tab.byName["worker"]}
	if id.check(needProducer, "jobs-1") != nil || id.check(needConsumer, "jobs-1") != nil || id.check(needKV, "any") != nil {
		t.Fatal("worker lacks a granted role")
	}
	if err := id.check(needProducer, "other"); err == nil || !strings.Contains(err.Error(), `permission denied: producer on queue "other" required`) {
		t.Fatalf("producer outside the prefix: %v", err)
	}
	if err := id.check(needAdmin, ""); err == nil || !strings.Contains(err.Error(), "admin required") {
		t.Fatalf("admin: %v", err)
	}

	for _, bad := range []struct{ file, want string }{
		{"ci admin", "line 1: want NAME ROLE"},
		{"\nci root " + HashToken("a"), `line 2: unknown role "root"`},
		{"ci admin:x " + HashToken("a"), "admin takes no prefix"},
		{"ci admin abc", "64 hex digits"},
		{"a admin " + HashToken("x") + "\nb kv " + HashToken("x"), "the same token hash as line 1"},
	} {
		if _, err := parseTokens([]byte(bad.file)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.file, err, bad.want)
		}
	}
}
