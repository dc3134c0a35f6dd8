package transform

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// names records which top-level names a pipeline's expressions read, so
// Apply can hand the record itself to expressions (no copy) when none of
// them reads a var such as key or entry.
type names struct {
	used map[string]bool
	all  bool // an expression reads $env or could not be analysed
}

// add notes the identifiers of src (already compiled, so it parses).
func (n *names) add(src string) {
	if n == nil || n.all {
		return
	}
	tree, err := parser.Parse(src)
	if err != nil {
		n.all = true
		return
	}
	ast.Walk(&tree.Node, n)
}

// Visit implements ast.Visitor.
func (n *names) Visit(node *ast.Node) {
	id, ok := (*node).(*ast.IdentifierNode)
	if !ok {
		return
	}
	if id.Value == "$env" {
		n.all = true
		return
	}
	if n.used == nil {
		n.used = map[string]bool{}
	}
	n.used[id.Value] = true
}

// env builds the env for a record when expressions read vars: only the
// names they read, so its size does not grow with the record.
func (n *names) env(rec, vars map[string]any) map[string]any {
	if n.all {
		return mergedEnv(rec, vars)
	}
	env := make(map[string]any, len(n.used))
	for k := range n.used {
		if v, ok := rec[k]; ok {
			env[k] = v
		}
	}
	for k, v := range vars {
		if n.used[k] {
			env[k] = v
		}
	}
	return env
}

// readsAny reports whether an expression may read one of vars' names.
func (n *names) readsAny(vars map[string]any) bool {
	if n.all {
		return len(vars) > 0
	}
	for k := range vars {
		if n.used[k] {
			return true
		}
	}
	return false
}
