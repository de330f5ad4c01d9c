//go:build unix

package main

import "syscall"

// openFileLimit returns the soft limit of open files (Go raises it to the
// hard limit at start), or 0 if unknown.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
