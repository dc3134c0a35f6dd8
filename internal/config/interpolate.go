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
	// values are the secret values themselves, in the order met.
	values []string
	// addresses are the paths of fields tagged ferry:"address" (a
	// system's url): their scheme, host and port are not secrets.
	addresses map[string]bool
}

// interpolate resolves the secret references in cfg and returns the paths
// that received secret values and the values to redact (see
// SecretValues).
func interpolate(cfg *Config, d *document, baseDir string, lookup func(string) (string, bool)) (map[string]bool, []string) {
	in := &interpolator{doc: d, baseDir: baseDir, lookup: lookup, secrets: map[string]bool{}, addresses: map[string]bool{}}
	in.value(reflect.ValueOf(cfg).Elem(), "", false)
	return in.secrets, in.values
}

// minSecretLen is the shortest value redacted: a shorter one cannot be a
// credential worth the name, and redacting "1" or "50" everywhere would
// make every error and body unreadable.
const minSecretLen = 4

// substitution is one value put into a string, at out[from:to].
type substitution struct {
	val         string
	from, to    int
	fromDefault bool
}

// keep records the values substituted into out (the string at path) as
// values to redact. Not kept: defaults written in the file (anyone
// reading the file sees them), values too short to be credentials, and,
// in a system's url, values that are only its address (scheme, host,
// port, or the whole url): an address is shown in every error about the
// system, and a password in it is redacted by the connector. A value in a
// url's path or query (https://api.example.com/bot${env:TOKEN}) is kept.
func (in *interpolator) keep(out, path string, subs []substitution) {
	pathStart := -1 // where the url's path begins; -1: not a system url
	if in.addresses[path] {
		pathStart = len(out)
		if i := strings.Index(out, "://"); i >= 0 {
			if j := strings.IndexAny(out[i+3:], "/?#"); j >= 0 {
				pathStart = i + 3 + j
			}
		}
	}
	for _, sub := range subs {
		if sub.fromDefault || len(sub.val) < minSecretLen {
			continue
		}
		if pathStart >= 0 && (sub.to <= pathStart || (sub.from == 0 && sub.to == len(out))) {
			continue
		}
		in.values = append(in.values, sub.val)
	}
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
		if h, ok := asHolder(v); ok {
			if p := h.part(); p.Config != nil {
				in.value(reflect.ValueOf(p.Config), p.ConfigPath(path), tmpl)
			}
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			fp := joinPath(path, name)
			if f.Tag.Get("ferry") == "address" {
				in.addresses[fp] = true
			}
			in.value(v.Field(i), fp, f.Tag.Get("ferry") == "template")
			if f.Tag.Get("ferry") == "secret" {
				in.secret(v.Field(i), fp)
			}
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

// secret marks the value of a field tagged ferry:"secret" (a token, an
// HMAC key) as a secret even when it is written in the file: such a value
// only ever serves to authenticate, so it never belongs in output.
func (in *interpolator) secret(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			in.secrets[path] = true
			if len(s) >= minSecretLen {
				in.values = append(in.values, s)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			in.secret(v.Index(i), indexPath(path, i))
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
	var subs []substitution
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
		val, fromDefault, err := in.resolve(kind, arg)
		if err != nil {
			in.doc.errorf(path, "%s", err.Error())
			// The unresolved text would fail later checks too; one error
			// about it is enough.
			in.doc.reported[path] = true
			return s
		}
		subs = append(subs, substitution{val: val, from: b.Len(), to: b.Len() + len(val), fromDefault: fromDefault})
		if tmpl {
			val = strings.ReplaceAll(val, "${", "$${")
		}
		b.WriteString(val)
		in.secrets[path] = true
		i = start + end + 1
	}
	out := b.String()
	in.keep(out, path, subs)
	return out
}

// resolve reads one secret; fromDefault tells that the value is the
// default written in the file. Its errors name the variable or file,
// never its content.
func (in *interpolator) resolve(kind, arg string) (val string, fromDefault bool, err error) {
	if kind == "env" {
		name, def, hasDef := strings.Cut(arg, ":-")
		if name == "" {
			return "", false, fmt.Errorf("empty variable name in ${env:} (expected ${env:NAME} or ${env:NAME:-default})")
		}
		if v, ok := in.lookup(name); ok {
			return v, false, nil
		}
		if hasDef {
			return def, true, nil
		}
		return "", false, fmt.Errorf("environment variable %q is not set (set it, or give a default with ${env:%s:-default})", name, name)
	}
	if arg == "" {
		return "", false, fmt.Errorf("empty file name in ${file:} (expected ${file:PATH})")
	}
	p := arg
	if !filepath.IsAbs(p) {
		p = filepath.Join(in.baseDir, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", false, fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(v, "\r"), false, nil
}
