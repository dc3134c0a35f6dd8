package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
)

// Every option of ferry.yaml is documented: its name appears in
// docs/configuration.md or, for the HTTP connector's own options,
// docs/http.md.
func TestEveryOptionIsDocumented(t *testing.T) {
	var docs strings.Builder
	for _, f := range []string{"configuration.md", "http.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", f))
		if err != nil {
			t.Fatal(err)
		}
		docs.Write(b)
	}
	doc := docs.String()
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, name+":") {
				t.Errorf("%s.%s is not documented in docs/configuration.md or docs/http.md", path, name)
			}
			walk(f.Type, path+"."+name)
		}
	}
	walk(reflect.TypeFor[config.Config](), "config")
}
