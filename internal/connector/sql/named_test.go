package sqlconn

import (
	"reflect"
	"testing"
)

func TestNamed(t *testing.T) {
	cases := []struct {
		stmt     string
		names    []string
		postgres string
		mysql    string
	}{
		{"UPDATE t SET a = :a WHERE id = :key", []string{"a", "key"}, "UPDATE t SET a = $1 WHERE id = $2", "UPDATE t SET a = ? WHERE id = ?"},
		{"SELECT :a, :a::int, ':b', \":c\", `:d` -- :e\n/* :f */ :g", []string{"a", "a", "g"},
			"SELECT $1, $1::int, ':b', \":c\", `:d` -- :e\n/* :f */ $2", "SELECT ?, ?::int, ':b', \":c\", `:d` -- :e\n/* :f */ ?"},
		{"SELECT 'it''s :x', $tag$ :y $tag$, :customer.email, @v := 1, x:y", []string{"customer.email"},
			"SELECT 'it''s :x', $tag$ :y $tag$, $1, @v := 1, x:y", "SELECT 'it''s :x', $tag$ :y $tag$, ?, @v := 1, x:y"},
	}
	for _, c := range cases {
		n, err := parseNamed(c.stmt)
		if err != nil {
			t.Fatalf("%q: %v", c.stmt, err)
		}
		if !reflect.DeepEqual(n.names, c.names) {
			t.Fatalf("%q: names %q, want %q", c.stmt, n.names, c.names)
		}
		if got, _ := n.render(postgresDialect); got != c.postgres {
			t.Fatalf("postgres: %q, want %q", got, c.postgres)
		}
		if got, order := n.render(mysqlDialect); got != c.mysql || len(order) != len(c.names) {
			t.Fatalf("mysql: %q %v, want %q", got, order, c.mysql)
		}
	}
	for _, bad := range []string{"SELECT 'x", "SELECT /* x", "SELECT $a$ x"} {
		if _, err := parseNamed(bad); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}
