package raftnode

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeback starts writing f's bytes [off, off+n) back to the disk and waits until the n
// bytes before them are written.
func writeback(f *os.File, off, n int64) error {
	fd := int(f.Fd())
	if err := unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE); err != nil {
		return err
	}
	if off < n {
		return nil
	}
	return unix.SyncFileRange(fd, off-n, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
}
