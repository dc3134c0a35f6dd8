package catalog_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/catalog"
	"github.com/ferry-dev/ferry/internal/schematest"
)

// The committed docs/connectors pages are those the kinds of this build
// generate: change a config type, a description, a capability or a
// kind's Doc, and this fails until the pages are regenerated.
func TestCommittedDocsAreCurrent(t *testing.T) {
	if err := catalog.Check(filepath.Join("..", "..", "..", "docs", "connectors"), all.Set()); err != nil {
		t.Fatal(err)
	}
}

// Every capability a kind declares is explained on its page.
func TestEveryCapabilityIsDescribed(t *testing.T) {
	s := all.Set()
	for _, name := range s.Names() {
		k, _ := s.Kind(name)
		for _, role := range connector.Roles {
			if spec := k.Spec(role); spec != nil {
				for _, c := range spec.Caps {
					if catalog.CapabilityDoc(c) == "" {
						t.Errorf("%s %s: capability %q has no explanation: declare it in internal/connector/module.go and describe it in catalog.CapabilityDoc", name, role, c)
					}
				}
			}
		}
	}
}

// The holders of every role, embedded in one document, compile with a
// real validator: every $ref resolves and no two kinds' definitions clash.
func TestSchemasOfAllKindsCompile(t *testing.T) {
	s := all.Set()
	root := &jsonschema.Schema{Type: "object", Properties: jsonschema.NewProperties()}
	for _, role := range connector.Roles {
		h := catalog.Schema(s, role)
		if err := catalog.MoveDefinitions(root, h); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		root.Properties.Set(string(role), h)
	}
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	schematest.Compile(t, b)
}

// Every option of every kind has a description (the house rule: a
// jsonschema:"description=..." tag on each config field), or its row in
// the docs is blank.
func TestEveryOptionIsDescribed(t *testing.T) {
	for _, e := range catalog.Describe(all.Set()) {
		for _, p := range e.Parts {
			for _, o := range p.Options {
				at := e.Name + " " + string(p.Role) + " " + o.Path
				if o.Description == "" {
					t.Errorf("%s has no description: give its field a jsonschema:\"description=...\" tag (commas written \\\\,)", at)
				}
			}
		}
	}
}

// Every table row of every page has its four cells: a description with a
// | or a line break would shift or cut the row.
func TestPageTablesHaveFourCells(t *testing.T) {
	for name, page := range catalog.Pages(all.Set()) {
		for i, line := range strings.Split(string(page), "\n") {
			if !strings.HasPrefix(line, "| ") {
				continue
			}
			if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 5 {
				t.Errorf("%s line %d has %d cells: %s", name, i+1, n-1, line)
			}
		}
	}
}
