package demo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SumsFile lists, in sha256sum format, the checksum of each file the demo
// wrote into a folder, so a later demo rewrites only files nobody changed
// since (`sha256sum -c .ferry-demo.sha256` shows the same).
const SumsFile = ".ferry-demo.sha256"

// Folder is a folder the demo writes into without ever overwriting a
// file the user changed.
type Folder struct {
	Dir  string
	sums map[string]string // file name -> sha256 the demo wrote
}

// OpenFolder creates dir if needed and reads what the demo wrote there before.
func OpenFolder(dir string) (*Folder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo folder: %w", err)
	}
	f := &Folder{Dir: dir, sums: map[string]string{}}
	data, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("demo folder: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if ok {
			f.sums[name] = sum
		}
	}
	return f, nil
}

// Untouched reports whether name may be (re)written: it does not exist,
// or its content is exactly what the demo wrote last time. A file the
// demo did not write, or one changed since, belongs to the user.
func (f *Folder) Untouched(name string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(f.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("demo folder: %w", err)
	}
	want, ok := f.sums[name]
	return ok && want == sum(data), nil
}

// Wrote reports whether the demo wrote name into this folder before.
func (f *Folder) Wrote(name string) bool {
	_, ok := f.sums[name]
	return ok
}

// Exists reports whether name is in the folder (whatever wrote it).
func (f *Folder) Exists(name string) bool {
	_, err := os.Lstat(filepath.Join(f.Dir, name))
	return err == nil
}

// Write writes name if it is untouched and records its checksum; wrote
// is false when the user's file was kept.
func (f *Folder) Write(name string, data []byte) (wrote bool, err error) {
	ok, err := f.Untouched(name)
	if err != nil || !ok {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(f.Dir, name), data, 0o644); err != nil {
		return false, fmt.Errorf("demo folder: %w", err)
	}
	f.sums[name] = sum(data)
	return true, f.saveSums()
}

func (f *Folder) saveSums() error {
	names := make([]string, 0, len(f.sums))
	for n := range f.sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", f.sums[n], n)
	}
	if err := os.WriteFile(filepath.Join(f.Dir, SumsFile), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("demo folder: %w", err)
	}
	return nil
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
