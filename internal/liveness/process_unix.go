//go:build unix && !linux

package liveness

import (
	"errors"
	"syscall"
)

// processGone reports whether no process pid exists. A zombie still
// counts as existing here: without /proc there is no cheap portable way
// to see its state, and its leases expire by time.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
