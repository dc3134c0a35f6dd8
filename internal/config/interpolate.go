package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
)

// interpolator replaces ${env:NAME}, ${env:NAME:-default} and ${file:PATH}
// in every string of a decoded config. It runs on the decoded values, not
// the YAML text, so positions stay true and a secret can never break the
// YAML syntax. Any other ${...} is a runtime expression and stays as is.
type interpolator struct {
	doc     *document
	baseDir string
	lookup  func(string) (string, bool)
	// secrets holds the paths whose value came (partly) from a secret, so
	// later error messages never print those values.
	secrets map[string]bool
}

// interpolate resolves the secret references in cfg and returns the paths
// that received secret values.
func interpolate(cfg *Config, d *document, baseDir string, lookup func(string) (string, bool)) map[string]bool {
	in := &interpolator{doc: d, baseDir: baseDir, lookup: lookup, secrets: map[string]bool{}}
	in.value(reflect.ValueOf(cfg).Elem(), "", false)
	return in.secrets
}

// value walks v. tmpl is true inside fields that are ${...} templates: there
// a "${" in a secret is escaped, so a secret is never run as an expression.
func (in *interpolator) value(v reflect.Value, path string, tmpl bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			in.value(v.Elem(), path, tmpl)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			in.value(v.Field(i), joinPath(path, name), f.Tag.Get("ferry") == "template")
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			child := joinPath(path, k.String())
			e := v.MapIndex(k)
			switch e.Kind() {
			case reflect.String:
				v.SetMapIndex(k, reflect.ValueOf(in.str(e.String(), child, tmpl)).Convert(e.Type()))
			case reflect.Interface:
				if !e.IsNil() {
					v.SetMapIndex(k, reflect.ValueOf(in.any(e.Interface(), child, tmpl)))
				}
			default:
				in.value(e, child, tmpl)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			in.value(v.Index(i), indexPath(path, i), tmpl)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(in.str(v.String(), path, tmpl))
		}
	case reflect.Interface:
		if v.CanSet() && !v.IsNil() {
			v.Set(reflect.ValueOf(in.any(v.Interface(), path, tmpl)))
		}
	}
}

// any resolves references inside a free-form value (map:, body:).
func (in *interpolator) any(x any, path string, tmpl bool) any {
	switch t := x.(type) {
	case string:
		return in.str(t, path, tmpl)
	case map[string]any:
		for k, v := range t {
			t[k] = in.any(v, joinPath(path, k), tmpl)
		}
	case []any:
		for i, v := range t {
			t[i] = in.any(v, indexPath(path, i), tmpl)
		}
	}
	return x
}

// str resolves the references in one string. On a problem it records an
// error (never naming the value) and returns s unchanged.
func (in *interpolator) str(s, path string, tmpl bool) string {
	if !strings.Contains(s, "${env:") && !strings.Contains(s, "${file:") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") { // escaped: a literal "${" for templates
			b.WriteString("$${")
			i += 3
			continue
		}
		kind := ""
		switch {
		case strings.HasPrefix(s[i:], "${env:"):
			kind = "env"
		case strings.HasPrefix(s[i:], "${file:"):
			kind = "file"
		}
		if kind == "" {
			b.WriteByte(s[i])
			i++
			continue
		}
		start := i + len("${") + len(kind) + 1
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			in.doc.errorf(path, "unclosed ${%s: reference (expected ${%s:...})", kind, kind)
			return s
		}
		arg := s[start : start+end]
		val, err := in.resolve(kind, arg)
		if err != nil {
			in.doc.errorf(path, "%s", err.Error())
			// The unresolved text would fail later checks too; one error
			// about it is enough.
			in.doc.reported[path] = true
			return s
		}
		if tmpl {
			val = strings.ReplaceAll(val, "${", "$${")
		}
		b.WriteString(val)
		in.secrets[path] = true
		i = start + end + 1
	}
	return b.String()
}

// resolve reads one secret. Its errors name the variable or file, never
// its content.
func (in *interpolator) resolve(kind, arg string) (string, error) {
	if kind == "env" {
		name, def, hasDef := strings.Cut(arg, ":-")
		if name == "" {
			return "", fmt.Errorf("empty variable name in ${env:} (expected ${env:NAME} or ${env:NAME:-default})")
		}
		if v, ok := in.lookup(name); ok {
			return v, nil
		}
		if hasDef {
			return def, nil
		}
		return "", fmt.Errorf("environment variable %q is not set (set it, or give a default with ${env:%s:-default})", name, name)
	}
	if arg == "" {
		return "", fmt.Errorf("empty file name in ${file:} (expected ${file:PATH})")
	}
	p := arg
	if !filepath.IsAbs(p) {
		p = filepath.Join(in.baseDir, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(v, "\r"), nil
}
