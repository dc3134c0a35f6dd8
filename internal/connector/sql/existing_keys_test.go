package sqlconn

import (
	"context"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Keys read by a plain (cursor) source must be found again by Existing,
// or every record is pruned before sending.
// The prune check finds the keys of every key type, as plain reads and
// capture reads spell them (found by review: unsigned and bytea keys
// were pruned or failed the check).
func TestExistingKeyTypes(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		types := map[string][]struct{ typ, a string }{
			"postgres": {{"char(10)", "'AB1'"}, {"date", "'2024-05-01'"}, {"timestamp", "'2024-05-01 10:00:00.5'"}, {"float8", "1e20"}, {"bytea", "'\\x00ff'"}},
			"mysql":    {{"CHAR(10)", "'AB1'"}, {"DATE", "'2024-05-01'"}, {"DATETIME(3)", "'2024-05-01 10:00:00.5'"}, {"BIGINT UNSIGNED", "18446744073709551610"}, {"DOUBLE", "1e20"}, {"TIME", "'10:00:00'"}},
		}[db.DB.dialect.name]
		for _, tc := range types {
			t.Run(tc.typ, func(t *testing.T) {
				table := "e_" + suffix(t)
				db.exec(t, "CREATE TABLE "+table+" (k "+tc.typ+" PRIMARY KEY, v INT NOT NULL)")
				db.exec(t, "INSERT INTO "+table+" VALUES ("+tc.a+", 1)")
				src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT k, v FROM " + table, Key: "k", PageSize: 10})
				if err != nil {
					t.Fatal(err)
				}
				recs := readAll(t, src, connector.ReadRequest{})
				ex, err := src.Existing(context.Background(), keysOf(recs))
				if err != nil || len(recs) != 1 {
					t.Fatalf("keys %q: existing %v err %v", keysOf(recs), ex, err)
				}
				for _, k := range keysOf(recs) {
					if !ex[k] {
						t.Errorf("key %q: existing %v: would be pruned", k, ex)
					}
				}
			})
		}
	})
}
