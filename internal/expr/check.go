package expr

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
)

// Compile-time checks and rewrites that expr-lang leaves to run time
// because a route's environment is an untyped map: a call to a function
// that does not exist (a typo such as uppper(name)) would only fail on the
// first record, and % would fail on every JSON number (they are float64).

// modName is the function % is rewritten to; not a name a user would write.
const modName = "ferry_mod__"

// modFunc is % on whole numbers of any representation a record holds:
// int, float64 with no fraction (JSON numbers), json.Number (beyond 2^53).
var modFunc = expr.Function(modName, func(params ...any) (any, error) {
	return mod(params[0], params[1])
})

// knownFunctions are the functions an expression may call.
var knownFunctions = func() map[string]bool {
	m := map[string]bool{"string": true, modName: true}
	for _, n := range builtin.Names {
		m[n] = true
	}
	return m
}()

// checker is an expr-lang visitor run at compile time: it rewrites a % b
// into modName(a, b) and records the first call of an unknown function
// and the first % over a literal that is not a whole number.
type checker struct {
	err error
}

func (c *checker) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if ok && !knownFunctions[id.Value] && c.err == nil {
			c.err = unknownFunction(id.Value, n.Location().From)
		}
	case *ast.BinaryNode:
		if n.Operator != "%" {
			return
		}
		for _, side := range []ast.Node{n.Left, n.Right} {
			if f, ok := side.(*ast.FloatNode); ok && f.Value != math.Trunc(f.Value) && c.err == nil {
				c.err = fmt.Errorf("%% works on whole numbers only, and %v is not one (at column %d)", f.Value, n.Location().From+1)
			}
		}
		ast.Patch(node, &ast.CallNode{
			Callee:    &ast.IdentifierNode{Value: modName},
			Arguments: []ast.Node{n.Left, n.Right},
		})
	}
}

func unknownFunction(name string, at int) error {
	msg := fmt.Sprintf("unknown function %s() (at column %d)", name, at+1)
	if s := closest(name); s != "" {
		msg += fmt.Sprintf("; did you mean %s()?", s)
	}
	return fmt.Errorf("%s", msg)
}

// closest returns the known function nearest to name (at most two edits
// away), or "".
func closest(name string) string {
	best, bestD := "", 3
	names := make([]string, 0, len(knownFunctions))
	for n := range knownFunctions {
		names = append(names, n)
	}
	sort.Strings(names) // ties resolve the same way every time
	for _, n := range names {
		if n == modName {
			continue
		}
		if d := editDistance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// mod computes a % b over whole numbers. The result is an int (a
// json.Number when it does not fit, which cannot happen for a divisor
// that fits).
func mod(a, b any) (any, error) {
	x, err := wholeNumber(a)
	if err != nil {
		return nil, err
	}
	y, err := wholeNumber(b)
	if err != nil {
		return nil, err
	}
	if y.Sign() == 0 {
		return nil, fmt.Errorf("%% by zero")
	}
	// Go's % (truncated, sign of the dividend), as expr-lang does on ints.
	r := new(big.Int).Rem(x, y)
	if r.IsInt64() && r.Int64() >= math.MinInt && r.Int64() <= math.MaxInt {
		return int(r.Int64()), nil
	}
	return json.Number(r.String()), nil
}

// wholeNumber converts a number to a big.Int, refusing fractions and
// non-numbers with a message that names the value.
func wholeNumber(v any) (*big.Int, error) {
	switch n := v.(type) {
	case int:
		return big.NewInt(int64(n)), nil
	case int8:
		return big.NewInt(int64(n)), nil
	case int16:
		return big.NewInt(int64(n)), nil
	case int32:
		return big.NewInt(int64(n)), nil
	case int64:
		return big.NewInt(n), nil
	case uint:
		return new(big.Int).SetUint64(uint64(n)), nil
	case uint8:
		return big.NewInt(int64(n)), nil
	case uint16:
		return big.NewInt(int64(n)), nil
	case uint32:
		return big.NewInt(int64(n)), nil
	case uint64:
		return new(big.Int).SetUint64(n), nil
	case float32:
		return wholeFloat(float64(n))
	case float64:
		return wholeFloat(n)
	case json.Number:
		if i, ok := new(big.Int).SetString(string(n), 10); ok {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, fmt.Errorf("%% works on whole numbers only, got %s", n)
		}
		return wholeFloat(f)
	case nil:
		return nil, fmt.Errorf("%% works on whole numbers only, got nil (a missing field?)")
	}
	return nil, fmt.Errorf("%% works on whole numbers only, got %T (%v)", v, v)
}

func wholeFloat(f float64) (*big.Int, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
		return nil, fmt.Errorf("%% works on whole numbers only, got %v", f)
	}
	i, _ := big.NewFloat(f).Int(nil)
	return i, nil
}
