//go:build !windows

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// syncDir makes the entries of the folder at path durable: a file it
// has just created survives a power loss only with its folder's entry.
// File systems that cannot sync a folder (some FUSE, 9p and CIFS mounts
// answer EINVAL or EBADF) are taken at their word, as PostgreSQL does.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EBADF) || errors.Is(err, syscall.ENOTSUP) {
		err = nil
	}
	if err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
