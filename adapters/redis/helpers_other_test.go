//go:build !linux

package redis

import "os/exec"

// dieWithTest does nothing outside Linux: the test's cleanup stops the
// server.
func dieWithTest(*exec.Cmd) {}
