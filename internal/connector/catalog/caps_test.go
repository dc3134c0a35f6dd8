package catalog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// CapabilityDoc and Capabilities repeat the comments and the order of the
// Cap constants in internal/connector/module.go (comments are not there at
// run time): this test keeps them equal.
func TestCapabilityDocsMatchComments(t *testing.T) {
	path := filepath.Join("..", "module.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var declared []connector.Capability
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Capability" || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Fatalf("%s: %s is not a string literal", path, vs.Names[0].Name)
			}
			value, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			c := connector.Capability(value)
			declared = append(declared, c)
			comment := strings.Join(strings.Fields(vs.Doc.Text()), " ")
			comment = strings.TrimPrefix(comment, vs.Names[0].Name+": ")
			if got := CapabilityDoc(c); got != comment {
				t.Errorf("CapabilityDoc(%q) = %q\nthe comment of %s in %s says %q: copy it into caps.go",
					c, got, vs.Names[0].Name, path, comment)
			}
		}
	}
	if len(declared) == 0 {
		t.Fatalf("no Capability constants found in %s", path)
	}
	if !slices.Equal(Capabilities(), declared) {
		t.Errorf("Capabilities() = %v, module.go declares %v (same order)", Capabilities(), declared)
	}
}

func TestSortCaps(t *testing.T) {
	got := sortCaps([]connector.Capability{"zeta", connector.CapWake, connector.CapCursor, "alpha", connector.CapCursor})
	want := []connector.Capability{connector.CapCursor, connector.CapWake, "alpha", "zeta"}
	if !slices.Equal(got, want) {
		t.Errorf("sortCaps = %v, want %v", got, want)
	}
}
