//go:build windows

package liveness

import (
	"errors"

	"golang.org/x/sys/windows"
)

// stillActive is the exit code GetExitCodeProcess reports for a process
// that has not ended (STILL_ACTIVE in the Windows headers).
const stillActive = 259

// processGone reports whether process pid has ended. OpenProcess fails
// with ERROR_INVALID_PARAMETER when no such process exists; any other
// failure (access denied) means it exists but cannot be inspected, which
// counts as alive so that its leases expire by time.
func processGone(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, windows.ERROR_INVALID_PARAMETER)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return false
	}
	return code != stillActive
}
