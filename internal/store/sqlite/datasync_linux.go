package sqlite

import (
	"os"
	"syscall"
)

// dataSync flushes f's data and the metadata needed to read it back (its
// size), not its times: fdatasync. The log is overwritten in place
// between restarts, so a sync that also wrote the changed mtime would
// commit the file system's journal each time for nothing.
func dataSync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
