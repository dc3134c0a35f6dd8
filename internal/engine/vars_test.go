package engine

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/store"
)

func TestEntryVariable(t *testing.T) {
	vars := entryVars(store.Entry{ID: 7, Key: "A-1", Version: 2, Attempts: 3, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	p, err := expr.Compile(`entry.attempts == 3 && entry.id == 7 && entry.key == key && entry.version == 2`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Bool(vars); err != nil || !ok {
		t.Fatalf("entry fields in expressions: %v %v", ok, err)
	}
	tpl, _ := expr.CompileTemplate("${entry.key}@${entry.created_at}")
	if s, err := tpl.Render(vars); err != nil || s != "A-1@2026-01-02T03:04:05Z" {
		t.Fatalf("template: %q %v", s, err)
	}
	b, err := jsonx.Marshal(vars["entry"])
	if err != nil || string(b) != `{"id":7,"key":"A-1","version":2,"attempts":3,"created_at":"2026-01-02T03:04:05Z"}` {
		t.Fatalf("entry as JSON: %s %v", b, err)
	}
}
