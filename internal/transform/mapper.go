package transform

import (
	"fmt"
	"sort"

	"github.com/ferry-dev/ferry/internal/expr"
)

// Mapper builds a new object from a tree of expressions: string leaves are
// expressions, other scalars are literals, nested maps and lists keep their
// shape. It is compiled once and safe for concurrent use.
type Mapper struct {
	root objectNode
}

// CompileMap compiles m (a destination's body map or a map step). Errors
// name the field: `total_cents: expression "int(total * )": ...`.
func CompileMap(m map[string]any) (*Mapper, error) {
	root, err := compileObject("", m, nil)
	if err != nil {
		return nil, err
	}
	return &Mapper{root: root}, nil
}

// Apply evaluates every field over env and returns a fresh map; nothing in
// it is shared with an earlier Apply.
func (m *Mapper) Apply(env map[string]any) (map[string]any, error) {
	return m.root.object(env)
}

// node is one compiled value of a map.
type node interface {
	eval(env map[string]any) (any, error)
}

type exprNode struct {
	path string
	prog *expr.Program
}

func (n exprNode) eval(env map[string]any) (any, error) {
	v, err := n.prog.Eval(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.path, err)
	}
	return v, nil
}

// literalNode is a scalar written as is (number, bool, null).
type literalNode struct{ v any }

func (n literalNode) eval(map[string]any) (any, error) { return n.v, nil }

type field struct {
	name string
	node node
}

// objectNode keeps its fields sorted so errors and evaluation order do not
// depend on map iteration.
type objectNode struct{ fields []field }

func (n objectNode) eval(env map[string]any) (any, error) { return n.object(env) }

func (n objectNode) object(env map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(n.fields))
	for _, f := range n.fields {
		v, err := f.node.eval(env)
		if err != nil {
			return nil, err
		}
		out[f.name] = v
	}
	return out, nil
}

type listNode struct{ items []node }

func (n listNode) eval(env map[string]any) (any, error) {
	out := make([]any, len(n.items))
	for i, it := range n.items {
		v, err := it.eval(env)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func compileObject(path string, m map[string]any, nm *names) (objectNode, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	n := objectNode{fields: make([]field, 0, len(m))}
	for _, name := range names {
		child, err := compileNode(joinField(path, name), m[name], nm)
		if err != nil {
			return objectNode{}, err
		}
		n.fields = append(n.fields, field{name: name, node: child})
	}
	return n, nil
}

func compileNode(path string, v any, nm *names) (node, error) {
	switch x := v.(type) {
	case string:
		p, err := expr.Compile(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		nm.add(x)
		return exprNode{path: path, prog: p}, nil
	case map[string]any:
		return compileObject(path, x, nm)
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[fmt.Sprint(k)] = v
		}
		return compileObject(path, m, nm)
	case []any:
		n := listNode{items: make([]node, len(x))}
		for i, it := range x {
			child, err := compileNode(fmt.Sprintf("%s[%d]", path, i), it, nm)
			if err != nil {
				return nil, err
			}
			n.items[i] = child
		}
		return n, nil
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return literalNode{v: x}, nil
	default:
		return nil, fmt.Errorf("%s: expected an expression (string), a number, a boolean, null, a map or a list, got %T", path, v)
	}
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
