package backupfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/clbs-io/octopusmq/server/state"
)

// A good download takes the target's name; a bad one leaves the old file and no leftovers.
func TestSave(t *testing.T) {
	good, err := state.New(nil).Snapshot(7)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	info, err := Save(bytes.NewReader(good), file)
	if err != nil {
		t.Fatal(err)
	}
	if info.AppliedIndex != 7 {
		t.Fatalf("applied index %d, want 7", info.AppliedIndex)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v, %v (want mode 0600)", st, err)
	}

	bad := append([]byte(nil), good[:len(good)-1]...) // truncated
	if _, err := Save(bytes.NewReader(bad), file); err == nil {
		t.Fatal("a truncated download was saved")
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, good) {
		t.Fatal("a failed download replaced the good backup")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files left behind: %v", entries)
	}
}
