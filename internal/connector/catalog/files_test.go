package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAndCheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docs", "connectors")
	full := testSet(t, alphaKind(), betaKind(), widgetKind())

	// Nothing written yet: every page is missing, and the error says how
	// to regenerate them.
	err := Check(dir, full)
	if err == nil {
		t.Fatal("Check of a missing folder passed")
	}
	for _, want := range []string{filepath.Join(dir, "README.md") + " is missing", filepath.Join(dir, "widget.md") + " is missing", RegenerateCommand, "make docs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q:\n%v", want, err)
		}
	}

	if err := Write(dir, full); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, full); err != nil {
		t.Fatalf("Check right after Write: %v", err)
	}
	notes := filepath.Join(dir, "notes.md") // written by hand: never touched
	if err := os.WriteFile(notes, []byte("# Notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A hand edit makes a page stale, naming the line.
	page := filepath.Join(dir, "alpha.md")
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, []byte(strings.Replace(string(b), "Table to read", "Table to write", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Check(dir, full)
	if err == nil || !strings.Contains(err.Error(), page+" is stale (line ") || !strings.Contains(err.Error(), "Table to write") {
		t.Errorf("Check after a hand edit: %v", err)
	}

	// A kind that left the build leaves an orphaned page: reported, and
	// removed by the next Write; the hand-written file stays.
	fewer := testSet(t, alphaKind(), widgetKind())
	err = Check(dir, fewer)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "beta.md")+" documents a connector kind this build does not have") {
		t.Errorf("Check with a kind gone: %v", err)
	}
	if strings.Contains(err.Error(), "notes.md") {
		t.Errorf("Check reported a hand-written file: %v", err)
	}
	if err := Write(dir, fewer); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir, fewer); err != nil {
		t.Errorf("Check after rewriting: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "beta.md")); !os.IsNotExist(err) {
		t.Errorf("beta.md not removed: %v", err)
	}
	if _, err := os.Stat(notes); err != nil {
		t.Errorf("the hand-written file is gone: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestWriteErrorNamesThePlace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(file, "connectors"), testSet(t, alphaKind()))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(file, "connectors")) {
		t.Errorf("Write under a file: %v", err)
	}
}
