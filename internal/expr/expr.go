// Package expr compiles the expressions and ${...} templates of route files
// once, at load, and evaluates them per record. It wraps expr-lang/expr.
//
// Inside an expression the record's fields are in scope by name, beside
// key, cursor, error and entry (see Env).
package expr

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm"
)

// Program is one compiled expression.
type Program struct {
	src  string
	prog *vm.Program
	// path is set when the expression only names a field ("email",
	// "customer.country"): Eval then reads it from env directly, which
	// is most of a typical map step, and runs the program only when the
	// field is missing (the program says what that means).
	path []string
}

// Compile compiles src. The error names what is wrong and where in src.
func Compile(src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	// A map env type makes names load with a plain map index instead of
	// reflection (half the cost of a typical pipeline); undefined names
	// stay allowed (nil), so Env must come before AllowUndefinedVariables.
	c := &checker{}
	p, err := expr.Compile(src, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), stringFunc, modFunc, expr.Patch(c))
	if err == nil {
		err = c.err // see check.go: unknown functions, % on fractions
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", src, oneLine(err.Error()))
	}
	return &Program{src: src, prog: p, path: fieldPath(p.Node())}, nil
}

// fieldPath returns the names of a field reference ("a", "a.b",
// `a["b"]`), nil for any other expression or a builtin's name.
func fieldPath(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if _, builtin := builtin.Index[x.Value]; builtin || strings.HasPrefix(x.Value, "$") {
			return nil
		}
		return []string{x.Value}
	case *ast.MemberNode:
		prop, ok := x.Property.(*ast.StringNode)
		if !ok || x.Optional || x.Method {
			return nil
		}
		if base := fieldPath(x.Node); base != nil {
			return append(base, prop.Value)
		}
	}
	return nil
}

// lookup reads path from env when every step is there.
func lookup(env map[string]any, path []string) (any, bool) {
	m := env
	for i, name := range path {
		v, ok := m[name]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// stringFunc replaces expr-lang's string(): JSON numbers are float64, and
// the builtin formats 1042000 as "1.042e+06", which breaks keys and IDs.
var stringFunc = expr.Function("string", func(params ...any) (any, error) {
	return Stringify(params[0]), nil
}, new(func(any) string))

// String returns the source of the expression.
func (p *Program) String() string { return p.src }

// Eval runs the program over env.
func (p *Program) Eval(env map[string]any) (any, error) {
	if p.path != nil {
		if v, ok := lookup(env, p.path); ok {
			return v, nil
		}
	}
	v, err := expr.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("evaluate %q: %s", p.src, oneLine(err.Error()))
	}
	return v, nil
}

// Bool runs the program and requires a boolean result.
func (p *Program) Bool(env map[string]any) (bool, error) {
	v, err := p.Eval(env)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: expected true or false, got %T (%v)", p.src, v, v)
	}
	return b, nil
}

// oneLine keeps the first line of expr-lang's multi-line error (the
// following lines draw a caret under the source).
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Names returns the variables the expression reads (top-level names such
// as "key" in key or "customer" in customer.email), each once.
func (p *Program) Names() []string {
	c := &nameCollector{seen: map[string]bool{}}
	node := p.prog.Node()
	ast.Walk(&node, c)
	return c.names
}

type nameCollector struct {
	seen  map[string]bool
	names []string
}

func (c *nameCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && !c.seen[id.Value] {
		c.seen[id.Value] = true
		c.names = append(c.names, id.Value)
	}
}
