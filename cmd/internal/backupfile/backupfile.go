// Package backupfile saves, checks and uploads backup files for the command-line tools
// (`octopusmq snapshot`, `octopusctl snapshot`): a download lands in a private temporary
// file, is synced and checked as a whole, and only then takes the target's name, so a
// failed or corrupt download never replaces a good backup; a restore uploads the file,
// following the leader's redirect itself (Restore).
package backupfile

import (
	"fmt"
	"io"
	"os"

	"github.com/clbs-io/octopusmq/server/state"
)

// Check reads the backup file name through and describes it (state.CheckSnapshot).
func Check(name string) (*state.SnapshotInfo, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return state.CheckSnapshot(f)
}

// Save copies body to file (mode 0600): into file+".partial", synced, checked, then
// renamed over file. Errors say which step failed; nothing is left behind on failure.
func Save(body io.Reader, file string) (*state.SnapshotInfo, error) {
	tmp := file + ".partial"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // after the rename there is nothing left to remove
	_, err = io.Copy(out, body)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("downloading: %w", err)
	}
	info, err := Check(tmp)
	if err != nil {
		return nil, fmt.Errorf("the download does not check out (not saved): %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, err
	}
	return info, nil
}
