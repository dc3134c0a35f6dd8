//go:build !windows

package sqlite

import "os"

// syncDir makes the entries of the folder at path durable: a file it
// has just created survives a power loss only with its folder's entry.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
