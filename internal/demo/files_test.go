package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
)

// The demo rewrites a file only while it is exactly what the demo wrote:
// a file the user changed, or one the demo never wrote, is kept.
func TestFolderNeverOverwritesAChangedFile(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	f, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if wrote, err := f.Write("ferry.yaml", []byte("v1")); err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	// A later demo (a new Folder reads the checksums back) may rewrite it.
	f, _ = OpenFolder(dir)
	if wrote, err := f.Write("ferry.yaml", []byte("v2")); err != nil || !wrote || read("ferry.yaml") != "v2" {
		t.Fatalf("untouched file not rewritten: %v %v", wrote, err)
	}
	// The user edits it: kept from now on.
	os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte("mine"), 0o644)
	f, _ = OpenFolder(dir)
	if ok, _ := f.Untouched("ferry.yaml"); ok {
		t.Fatal("a changed file counts as untouched")
	}
	if wrote, err := f.Write("ferry.yaml", []byte("v3")); err != nil || wrote || read("ferry.yaml") != "mine" {
		t.Fatalf("changed file overwritten: %v %v %q", wrote, err, read("ferry.yaml"))
	}
	// A file the demo never wrote is the user's.
	os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("theirs"), 0o644)
	if wrote, _ := f.Write("other.yaml", []byte("demo")); wrote || read("other.yaml") != "theirs" {
		t.Fatal("a file the demo never wrote was overwritten")
	}
	// A missing file may be written.
	if ok, _ := f.Untouched("new.yaml"); !ok {
		t.Fatal("a missing file is not writable")
	}
}

func TestStarterAndConfigStoreLoad(t *testing.T) {
	for name, data := range map[string][]byte{
		"starter":      Starter("http://127.0.0.1:8401", "http://127.0.0.1:8402"),
		"config store": ConfigStore("http://127.0.0.1:1", "http://127.0.0.1:2", "demo.db"),
	} {
		cfg, err := config.Parse(data, filepath.Join("/x", "ferry.yaml"), all.Set())
		if err != nil {
			t.Errorf("%s does not load:\n%v", name, err)
			continue
		}
		if strings.Contains(string(data), "__") {
			t.Errorf("%s: placeholder left", name)
		}
		if name == "config store" && cfg.Store != filepath.Join("/x", "demo.db") {
			t.Errorf("store = %q", cfg.Store)
		}
	}
}
