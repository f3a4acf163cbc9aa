package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Strict decoding catches what a loose parser lets through: a misspelt field, a value of
// the wrong type, a duplicate key, a kind the checks do not know. Each mutation of the real
// StatefulSet (or a stray kind) must fail to decode, while the file as committed decodes.
func TestManifestsDecodeStrictly(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(manifestDir, "statefulset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := func(text string) (string, string, []byte) {
		t.Helper()
		var h header
		if err := yaml.Unmarshal([]byte(text), &h); err != nil {
			t.Fatal(err)
		}
		return h.APIVersion, h.Kind, []byte(text)
	}
	if _, err := decodeStrict(doc(string(raw))); err != nil {
		t.Fatalf("statefulset.yaml as committed: %v", err)
	}
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(string(raw), old) {
			t.Fatalf("statefulset.yaml has no %q to mutate", old)
		}
		return strings.Replace(string(raw), old, new, 1)
	}
	for name, text := range map[string]string{
		"misspelt field":  replace("podManagementPolicy:", "podManagmentPolicy:"),
		"wrong type":      replace("podManagementPolicy: Parallel", "podManagementPolicy: [Parallel]"),
		"duplicate key":   replace("podManagementPolicy: Parallel", "podManagementPolicy: Parallel\n  podManagementPolicy: OrderedReady"),
		"unknown kind":    replace("kind: StatefulSet", "kind: StatefulSett"),
		"unknown version": replace("apiVersion: apps/v1", "apiVersion: apps/v1beta9"),
	} {
		if _, err := decodeStrict(doc(text)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
