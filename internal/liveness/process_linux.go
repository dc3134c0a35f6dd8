//go:build linux

package liveness

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// processGone reports whether process pid no longer runs: it does not
// exist, or it is a zombie (killed or exited, not yet reaped by its
// parent). kill(pid, 0) succeeds on a zombie, so a SIGKILLed ferry whose
// parent has not called wait would otherwise hold its run lock until the
// lease expires.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// Gone between the two calls, or /proc is not mounted: only the
		// first case is known to be dead.
		return errors.Is(err, os.ErrNotExist) && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}
	state, ok := statState(stat)
	return ok && (state == 'Z' || state == 'X')
}

// statState returns the state letter of a /proc/PID/stat line
// ("PID (COMM) S ..."). COMM may itself hold spaces and parentheses, so
// the state is read after the last ')'.
func statState(stat []byte) (byte, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) || stat[i+1] != ' ' {
		return 0, false
	}
	return stat[i+2], true
}
