package sqlconn

import (
	"fmt"
	"strconv"
	"strings"
)

// named is a statement with named parameters (:field, :customer.email)
// split around them.
type named struct {
	text  []string // len(names)+1 pieces of SQL around the parameters
	names []string
}

// parseNamed finds the :name parameters of a statement, skipping quoted
// strings and identifiers, comments, PostgreSQL casts (::type), dollar
// quotes and MySQL's := assignment.
func parseNamed(stmt string) (*named, error) {
	n := &named{}
	var cur strings.Builder
	i := 0
	for i < len(stmt) {
		c := stmt[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for {
				k := strings.IndexByte(stmt[j:], c)
				if k < 0 {
					return nil, fmt.Errorf("statement: unterminated %c quote at offset %d", c, i)
				}
				j += k + 1
				if j < len(stmt) && stmt[j] == c { // a doubled quote stands for itself
					j++
					continue
				}
				break
			}
			cur.WriteString(stmt[i:j])
			i = j
		case c == '-' && strings.HasPrefix(stmt[i:], "--"):
			end := strings.IndexByte(stmt[i:], '\n')
			if end < 0 {
				end = len(stmt) - i
			}
			cur.WriteString(stmt[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(stmt[i:], "/*"):
			end := strings.Index(stmt[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("statement: unterminated /* comment at offset %d", i)
			}
			cur.WriteString(stmt[i : i+end+4])
			i += end + 4
		case c == '$' && dollarTag(stmt[i:]) != "":
			tag := dollarTag(stmt[i:])
			end := strings.Index(stmt[i+len(tag):], tag)
			if end < 0 {
				return nil, fmt.Errorf("statement: unterminated %s quote at offset %d", tag, i)
			}
			cur.WriteString(stmt[i : i+len(tag)+end+len(tag)])
			i += len(tag) + end + len(tag)
		case c == ':' && i+1 < len(stmt) && (stmt[i+1] == ':' || stmt[i+1] == '='):
			cur.WriteString(stmt[i : i+2])
			i += 2
		case c == ':' && i+1 < len(stmt) && isIdentStart(stmt[i+1]) && (i == 0 || !isIdentChar(stmt[i-1])):
			j := i + 1
			for j < len(stmt) && (isIdentChar(stmt[j]) || stmt[j] == '.' && j+1 < len(stmt) && isIdentStart(stmt[j+1])) {
				j++
			}
			n.text = append(n.text, cur.String())
			cur.Reset()
			n.names = append(n.names, stmt[i+1:j])
			i = j
		default:
			cur.WriteByte(c)
			i++
		}
	}
	n.text = append(n.text, cur.String())
	return n, nil
}

// dollarTag returns the $tag$ opening a PostgreSQL dollar quote at the
// start of s, or "" ($1 is a placeholder, not a quote).
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '$':
			return s[:j+1]
		case !isIdentChar(s[j]) || j == 1 && s[j] >= '0' && s[j] <= '9':
			return ""
		}
	}
	return ""
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// render writes the statement with d's placeholders and returns, for each
// placeholder in order, the index into n.names of its value. PostgreSQL
// reuses $n for a repeated name; ? placeholders repeat the value.
func (n *named) render(d dialect) (string, []int) {
	var b strings.Builder
	var order []int
	first := map[string]int{} // name -> its $n
	for i, t := range n.text {
		b.WriteString(t)
		if i == len(n.names) {
			break
		}
		name := n.names[i]
		if d.dollar {
			if p, ok := first[name]; ok {
				b.WriteString("$" + strconv.Itoa(p))
				continue
			}
			order = append(order, i)
			first[name] = len(order)
			b.WriteString("$" + strconv.Itoa(len(order)))
			continue
		}
		order = append(order, i)
		b.WriteString("?")
	}
	return b.String(), order
}

// lookup finds a named parameter's value: :key is the record key, then
// the record's fields (dotted names go into nested objects), then vars
// (:error on on_error:).
func lookup(name, key string, rec map[string]any, vars map[string]any) (any, error) {
	if name == "key" {
		return key, nil
	}
	if v, ok := dig(rec, name); ok {
		return v, nil
	}
	if v, ok := dig(vars, name); ok {
		return v, nil
	}
	return nil, fmt.Errorf("parameter :%s: the record has no field %q", name, name)
}

func dig(m map[string]any, name string) (any, bool) {
	if m == nil {
		return nil, false
	}
	if v, ok := m[name]; ok {
		return v, true
	}
	head, rest, ok := strings.Cut(name, ".")
	if !ok {
		return nil, false
	}
	sub, ok := m[head].(map[string]any)
	if !ok {
		return nil, false
	}
	return dig(sub, rest)
}
