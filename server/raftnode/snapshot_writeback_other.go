//go:build !linux

package raftnode

import (
	"errors"
	"os"
)

// writeback is Linux's sync_file_range only: elsewhere a snapshot is flushed at Close.
func writeback(*os.File, int64, int64) error { return errors.ErrUnsupported }
