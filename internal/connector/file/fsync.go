package fileconn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// syncDir makes a folder's entries durable (a rename, a new file), so a
// file moved to done/ or published stays so after a power cut. Windows
// cannot open a folder for this; some file systems refuse it (EINVAL):
// there it is skipped.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	err = f.Sync()
	f.Close()
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}
