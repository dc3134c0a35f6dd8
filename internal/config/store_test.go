package config_test

import (
	"strings"
	"testing"
)

// TestStoreForms accepts a SQLite path or a PostgreSQL URL whose password
// comes from a secret, and refuses other forms without quoting the value.
func TestStoreForms(t *testing.T) {
	t.Setenv("FERRY_TEST_DB_PASSWORD", "db-secret-password")
	routes := "routes:\n  orders:\n" + okRoute
	cases := []struct {
		name, store, want string
	}{
		{"sqlite path", "store: queue/ferry.db\n", ""},
		{"postgres without password", "store: postgres://ferry@db.example:5432/ferry?sslmode=require\n", ""},
		{"postgres password from env", "store: \"postgres://ferry:${env:FERRY_TEST_DB_PASSWORD}@db:5432/ferry\"\n", ""},
		{"postgresql scheme", "store: postgresql://ferry@db/ferry\n", ""},
		{"password in the file", "store: postgres://ferry:hunter22@db:5432/ferry\n", "ferry.yaml:1:8: store: the PostgreSQL password is written in the file"},
		{"no database", "store: postgres://ferry@db:5432\n", "names no database"},
		{"no host", "store: postgres:///ferry\n", "has no host"},
		{"unknown scheme", "store: mysql://root@db/ferry\n", `unknown store scheme "mysql"`},
		{"schema", "store: postgres://ferry@db/ferry?schema=ferry_prod\n", ""},
		{"bad schema", "store: postgres://ferry@db/ferry?schema=Prod-1\n", `schema="Prod-1": expected a lower-case name`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parse([]byte(c.store+sys+routes), "ferry.yaml")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want %q", err, c.want)
			case err != nil && (strings.Contains(err.Error(), "hunter22") || strings.Contains(err.Error(), "db-secret-password")):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
