package expr

import (
	"fmt"
	"strconv"
	"strings"
)

// Template is a string with embedded ${expression} parts.
type Template struct {
	src   string
	parts []templatePart
}

type templatePart struct {
	lit  string
	prog *Program // nil for a literal part
}

// CompileTemplate compiles s. "$${" escapes a literal "${".
func CompileTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			lit.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			lit.WriteByte(s[i])
			i++
			continue
		}
		end, err := closingBrace(s, i+2)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", s, err)
		}
		p, err := Compile(s[i+2 : end])
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", s, err)
		}
		if lit.Len() > 0 {
			t.parts = append(t.parts, templatePart{lit: lit.String()})
			lit.Reset()
		}
		t.parts = append(t.parts, templatePart{prog: p})
		i = end + 1
	}
	if lit.Len() > 0 || len(t.parts) == 0 {
		t.parts = append(t.parts, templatePart{lit: lit.String()})
	}
	return t, nil
}

// closingBrace finds the "}" that closes a "${" whose body starts at from,
// skipping braces inside quoted strings and nested {...}.
func closingBrace(s string, from int) (int, error) {
	depth := 0
	var quote byte
	for i := from; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 {
				return i, nil
			}
			depth--
		}
	}
	return 0, fmt.Errorf("unclosed ${ at offset %d", from-2)
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// IsConst reports whether the template has no expressions.
func (t *Template) IsConst() bool { return len(t.parts) == 1 && t.parts[0].prog == nil }

// Render evaluates the template to a string; nil values render as "".
func (t *Template) Render(env map[string]any) (string, error) {
	return t.RenderEscaped(env, nil)
}

// RenderEscaped is Render with escape applied to every evaluated value
// (not to the literal parts), e.g. url.PathEscape for URL paths, so a key
// holding "/" or "?" cannot change the URL.
func (t *Template) RenderEscaped(env map[string]any, escape func(string) string) (string, error) {
	if t.IsConst() {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.prog.Eval(env)
		if err != nil {
			return "", err
		}
		if escape != nil {
			b.WriteString(escape(Stringify(v)))
		} else {
			b.WriteString(Stringify(v))
		}
	}
	return b.String(), nil
}

// Value evaluates the template; a template that is exactly one ${...}
// keeps the expression's type (number, bool, object), others give a string.
func (t *Template) Value(env map[string]any) (any, error) {
	if len(t.parts) == 1 && t.parts[0].prog != nil {
		return t.parts[0].prog.Eval(env)
	}
	return t.Render(env)
}

// Stringify formats a value the way templates and keys show it: numbers
// without exponent (12345678, not 1.2345678e+07), nil as "".
func Stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// Names returns the variables the template's expressions read, each once.
func (t *Template) Names() []string {
	seen := map[string]bool{}
	var names []string
	for _, p := range t.parts {
		if p.prog == nil {
			continue
		}
		for _, n := range p.prog.Names() {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}
