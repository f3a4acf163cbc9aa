//go:build !unix

package main

// restrictFileModes has nothing to do where there is no umask.
func restrictFileModes() {}
