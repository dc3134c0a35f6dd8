//go:build unix

package jsonx

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time of the process so far, user and system, every
// thread: a benchmark's figure that the load of a shared machine hardly
// moves, unlike ns/op, and that counts the garbage collector's work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
