package transform

import (
	"fmt"
	"sort"
	"strings"
)

// setStep changes or adds fields; a dotted name (customer.email) sets a
// field of a nested object, creating the objects on the way.
type setStep struct {
	path   string
	fields []setField
}

type setField struct {
	name string
	segs []string
	node node
}

func compileSet(path string, m map[string]any, nm *names) (step, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	st := setStep{path: path, fields: make([]setField, 0, len(m))}
	for _, name := range names {
		segs, err := splitField(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n, err := compileNode(name, m[name], nm)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", path, err)
		}
		st.fields = append(st.fields, setField{name: name, segs: segs, node: n})
	}
	return st, nil
}

// apply evaluates every field over the record as it was before the step,
// then writes them, so the result does not depend on the fields' order.
func (st setStep) apply(s *state, out *Outcome) bool {
	env := s.environment()
	values := make([]any, len(st.fields))
	for i, f := range st.fields {
		v, err := f.node.eval(env)
		if err != nil {
			out.Err = fmt.Errorf("%s.%w", st.path, err)
			return false
		}
		values[i] = v
	}
	rec := s.mutable()
	for i, f := range st.fields {
		if err := setPath(rec, f.segs, values[i]); err != nil {
			out.Err = fmt.Errorf("%s.%s: %w", st.path, f.name, err)
			return false
		}
	}
	return true
}

// setPath sets rec[segs...] = v. Nested objects on the way are copied
// before they change: they may be shared with the input record.
func setPath(rec map[string]any, segs []string, v any) error {
	m := rec
	for i, seg := range segs[:len(segs)-1] {
		var child map[string]any
		switch c := m[seg].(type) {
		case map[string]any:
			child = copyMap(c, 1)
		case nil:
			child = map[string]any{}
		default:
			return fmt.Errorf("cannot set a field inside %q: it is %s, not an object", strings.Join(segs[:i+1], "."), describe(c))
		}
		m[seg] = child
		m = child
	}
	m[segs[len(segs)-1]] = v
	return nil
}

// dropStep removes fields; dotted names remove fields of nested objects.
// A field that is not there is no error.
type dropStep struct {
	fields [][]string
}

func compileDrop(path string, names []string) (step, error) {
	st := dropStep{fields: make([][]string, 0, len(names))}
	for i, name := range names {
		segs, err := splitField(name)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		st.fields = append(st.fields, segs)
	}
	return st, nil
}

func (st dropStep) apply(s *state, _ *Outcome) bool {
	for _, segs := range st.fields {
		if !hasPath(s.rec, segs) {
			continue
		}
		m := s.mutable()
		for _, seg := range segs[:len(segs)-1] {
			child := copyMap(m[seg].(map[string]any), 0)
			m[seg] = child
			m = child
		}
		delete(m, segs[len(segs)-1])
	}
	return true
}

// hasPath reports whether rec holds a field at segs, through objects.
func hasPath(rec map[string]any, segs []string) bool {
	m := rec
	for _, seg := range segs[:len(segs)-1] {
		child, ok := m[seg].(map[string]any)
		if !ok {
			return false
		}
		m = child
	}
	_, ok := m[segs[len(segs)-1]]
	return ok
}

func splitField(name string) ([]string, error) {
	segs := strings.Split(name, ".")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("field name %q: expected names separated by single dots, like customer.email", name)
		}
	}
	return segs, nil
}

func copyMap(m map[string]any, extra int) map[string]any {
	c := make(map[string]any, len(m)+extra)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case float64, float32, int, int64, int32, uint64, uint32, uint:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
