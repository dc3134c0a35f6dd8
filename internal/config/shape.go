package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/ferry-dev/ferry/internal/connector"
)

// position is a 1-based line and column in the config file.
type position struct{ line, col int }

// document is what the YAML syntax tree tells about a config file: where
// each option sits, the order of mapping keys, and problems of shape
// (unknown fields, wrong types). Checks that run after decoding use it to
// point at the right line.
type document struct {
	file  string
	kinds *connector.Set
	pos   map[string]position
	keys  map[string][]string // mapping keys in file order, by path
	errs  Errors
	// reported holds paths already reported, so later checks do not pile a
	// second error on the same mistake (a mistyped value is dropped before
	// decoding and would otherwise also be "missing").
	reported map[string]bool
}

func newDocument(file string, kinds *connector.Set) *document {
	return &document{file: file, kinds: kinds, pos: map[string]position{}, keys: map[string][]string{}, reported: map[string]bool{}}
}

// at returns the position of path, or of its nearest ancestor present in
// the file (a missing field points at the mapping that should hold it).
func (d *document) at(path string) position {
	for p := path; ; p = parentPath(p) {
		if pos, ok := d.pos[p]; ok {
			return pos
		}
		if p == "" {
			return position{1, 1}
		}
	}
}

// errorf records an error about path at its position.
func (d *document) errorf(path, format string, args ...any) {
	for p := path; p != ""; p = parentPath(p) {
		if d.reported[p] {
			return
		}
	}
	pos := d.at(path)
	d.errs = append(d.errs, &Error{File: d.file, Line: pos.line, Column: pos.col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// shapeErrorf records a shape error at an explicit position and marks the
// path as reported.
func (d *document) shapeErrorf(path string, tk *token.Token, format string, args ...any) {
	pos := tokenPos(tk)
	d.errs = append(d.errs, &Error{File: d.file, Line: pos.line, Column: pos.col, Path: path, Msg: fmt.Sprintf(format, args...)})
	d.reported[path] = true
}

func tokenPos(tk *token.Token) position {
	if tk == nil || tk.Position == nil {
		return position{1, 1}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

var (
	durationType        = reflect.TypeFor[Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// unwrap looks through anchors and tags to the node that holds the value.
func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
}

// isNull reports whether n is an absent value (`key:` or `key: null`).
func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// keyString is the text of a mapping key.
func keyString(k ast.MapKeyNode) string {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	n = unwrap(n)
	if n == nil || n.GetToken() == nil {
		return ""
	}
	return n.GetToken().Value
}

// describe names a node for "expected X, got Y" messages.
func describe(n ast.Node) string {
	switch x := n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return fmt.Sprintf("%q", x.Value)
	case *ast.LiteralNode:
		return "a text block"
	default:
		if tk := n.GetToken(); tk != nil {
			return tk.Value
		}
		return n.Type().YAMLName()
	}
}

// nullLike replaces a node of the wrong type, so decoding can go on and
// later checks still see the rest of the file.
func nullLike(n ast.Node) ast.Node {
	pos := token.Position{Line: 1, Column: 1}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		pos = *tk.Position
	}
	return ast.Null(token.New("null", "null", &pos))
}

// extensionPrefix marks top-level keys ferry ignores, so a file can hold
// shared YAML anchors: x-defaults: &defaults {...}.
const extensionPrefix = "x-"

// yamlFields maps the YAML names of a struct's fields to their index.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		idx[name] = i
		names = append(names, name)
	}
	return idx, names
}

// walk records positions under path and checks that n fits type t. It
// returns false when n has the wrong type; the caller then replaces n with
// null. Errors are recorded in d.
func (d *document) walk(n ast.Node, t reflect.Type, path string) bool {
	n = unwrap(n)
	if n == nil {
		return true
	}
	if _, seen := d.pos[path]; !seen || !isCollection(n) {
		d.pos[path] = nodePos(n)
	}
	if _, ok := n.(*ast.AliasNode); ok {
		return true // the anchored node is checked where it is defined
	}
	if isNull(n) {
		return true
	}
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if isCollection(n) {
			d.shapeErrorf(path, n.GetToken(), "expected a duration such as 30s, got %s", describe(n))
			return false
		}
		v := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := v.UnmarshalText([]byte(n.GetToken().Value)); err != nil {
			d.shapeErrorf(path, n.GetToken(), "%s", err.Error())
			return false
		}
		return true
	}
	if role, ok := holderRole(t); ok {
		return d.walkPart(n, role, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return d.walk(n, t.Elem(), path)
	case reflect.Struct:
		m, ok := n.(*ast.MappingNode)
		if !ok {
			d.shapeErrorf(path, n.GetToken(), "expected a mapping, got %s", describe(n))
			return false
		}
		d.walkStruct(m, t, path)
		return true
	case reflect.Map:
		m, ok := n.(*ast.MappingNode)
		if !ok {
			d.shapeErrorf(path, n.GetToken(), "expected a mapping, got %s", describe(n))
			return false
		}
		for _, mv := range m.Values {
			k := keyString(mv.Key)
			if mv.Key.IsMergeKey() {
				continue
			}
			child := joinPath(path, k)
			d.keys[path] = append(d.keys[path], k)
			d.pos[child] = tokenPos(mv.Key.GetToken())
			if !d.walk(mv.Value, t.Elem(), child) {
				mv.Value = nullLike(mv.Value)
			}
		}
		return true
	case reflect.Slice:
		s, ok := n.(*ast.SequenceNode)
		if !ok {
			d.shapeErrorf(path, n.GetToken(), "expected a list, got %s", describe(n))
			return false
		}
		for i, item := range s.Values {
			if !d.walk(item, t.Elem(), indexPath(path, i)) {
				s.Values[i] = nullLike(item)
			}
		}
		return true
	case reflect.Interface:
		d.walkAny(n, path)
		return true
	case reflect.String:
		if isCollection(n) {
			d.shapeErrorf(path, n.GetToken(), "expected a string, got %s", describe(n))
			return false
		}
		return true
	case reflect.Int, reflect.Int64, reflect.Int32:
		if _, ok := n.(*ast.IntegerNode); !ok {
			d.shapeErrorf(path, n.GetToken(), "expected an integer, got %s", describe(n))
			return false
		}
		return true
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			d.shapeErrorf(path, n.GetToken(), "expected true or false, got %s", describe(n))
			return false
		}
		return true
	}
	return true
}

// walkStruct checks the keys of a mapping against the fields of struct t.
func (d *document) walkStruct(m *ast.MappingNode, t reflect.Type, path string) {
	idx, names := yamlFields(t)
	present := map[string]bool{}
	for _, mv := range m.Values {
		present[keyString(mv.Key)] = true
	}
	kept := m.Values[:0:0]
	for _, mv := range m.Values {
		if mv.Key.IsMergeKey() {
			kept = append(kept, mv)
			continue
		}
		k := keyString(mv.Key)
		child := joinPath(path, k)
		if path == "" && strings.HasPrefix(k, extensionPrefix) {
			kept = append(kept, mv) // a home for YAML anchors, ignored
			d.walkAny(mv.Value, child)
			continue
		}
		i, ok := idx[k]
		if !ok {
			hint := didYouMean(k, names)
			if hint == "" {
				sorted := append([]string(nil), names...)
				sort.Strings(sorted)
				hint = " (expected one of: " + strings.Join(sorted, ", ") + ")"
			} else if meant := suggest(k, names); !present[meant] {
				// The field the user meant would also be reported
				// missing; one error is enough.
				d.reported[joinPath(path, meant)] = true
			}
			d.shapeErrorf(child, mv.Key.GetToken(), "unknown field %q%s", k, hint)
			continue
		}
		kept = append(kept, mv)
		d.keys[path] = append(d.keys[path], k)
		d.pos[child] = tokenPos(mv.Key.GetToken())
		if !d.walk(mv.Value, t.Field(i).Type, child) {
			mv.Value = nullLike(mv.Value)
		}
	}
	m.Values = kept
}

// walkAny records positions inside free-form values (map: and body:), so
// errors in their expressions point at the right line.
func (d *document) walkAny(n ast.Node, path string) {
	n = unwrap(n)
	if n == nil {
		return
	}
	if _, seen := d.pos[path]; !seen || !isCollection(n) {
		d.pos[path] = nodePos(n)
	}
	switch x := n.(type) {
	case *ast.MappingNode:
		for _, mv := range x.Values {
			k := keyString(mv.Key)
			child := joinPath(path, k)
			d.pos[child] = tokenPos(mv.Key.GetToken())
			d.walkAny(mv.Value, child)
		}
	case *ast.SequenceNode:
		for i, item := range x.Values {
			d.walkAny(item, indexPath(path, i))
		}
	}
}

// nodePos is where a node starts: a block mapping at its first key (its
// own token is the first colon), anything else at its token.
func nodePos(n ast.Node) position {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		return tokenPos(m.Values[0].Key.GetToken())
	}
	return tokenPos(n.GetToken())
}

func isCollection(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		return true
	}
	return false
}
