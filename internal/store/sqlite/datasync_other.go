//go:build !linux

package sqlite

import "os"

// dataSync flushes f: fsync where fdatasync is not offered.
func dataSync(f *os.File) error { return f.Sync() }
