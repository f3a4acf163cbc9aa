//go:build unix

package main

import "syscall"

// restrictFileModes makes everything the server creates private to its user: data folders
// 0700, the Raft log, snapshots and backups 0600 (Raft's snapshot store creates its files
// with the process's default modes).
func restrictFileModes() { syscall.Umask(0o077) }
