package sqlconn

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Keys whose text the trigger writes differently from how the driver
// reads them back (found by review) are still matched to their rows.
func TestCaptureKeyTextForms(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		types := map[string][]struct{ typ, a, b string }{
			"postgres": {
				{"char(10)", "'AB1'", "'AB2'"},
				{"date", "'2024-05-01'", "'2024-05-02'"},
				{"timestamp", "'2024-05-01 10:00:00'", "'2024-05-02 10:00:00'"},
				{"float8", "1e20", "2.5"},
				{"citext_like_varchar", "'Abc'", "'abd'"},
			},
			"mysql": {
				{"CHAR(10)", "'AB1'", "'AB2'"},
				{"DATE", "'2024-05-01'", "'2024-05-02'"},
				{"DATETIME", "'2024-05-01 10:00:00'", "'2024-05-02 10:00:00'"},
				{"BIGINT UNSIGNED", "18446744073709551610", "3"},
				{"DOUBLE", "1e20", "2.5"},
			},
		}[db.DB.dialect.name]
		for _, tc := range types {
			t.Run(tc.typ, func(t *testing.T) {
				typ := tc.typ
				if typ == "citext_like_varchar" {
					typ = "varchar(10)"
				}
				table, integ := "k_"+suffix(t), "kc_"+suffix(t)
				db.exec(t, "CREATE TABLE "+table+" (k "+typ+" PRIMARY KEY, v INT NOT NULL)")
				cp := (&CaptureConfig{Table: table, IntegrationTable: integ}).forRoute("keys", "k")
				src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT k, v FROM " + table, Key: "k", PageSize: 10, Capture: cp})
				if err != nil {
					t.Fatal(err)
				}
				if out, err := src.InstallCapture(context.Background()); err != nil {
					t.Fatalf("install: %v\n%s", err, out)
				}
				db.exec(t, "INSERT INTO "+table+" VALUES ("+tc.a+", 1), ("+tc.b+", 2)")
				db.exec(t, "DELETE FROM "+table+" WHERE v = 2")
				var recs []connector.SourceRecord
				err = src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
					recs = append(recs, p.Records...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != 2 || recs[0].Deleted || fmt.Sprint(recs[0].Data["v"]) != "1" || !recs[1].Deleted {
					t.Errorf("records %+v: want the row of %s and a delete of %s", recs, tc.a, tc.b)
				}
				// and the prune check of the non-capture path
				ex, err := src.Existing(context.Background(), keysOf(recs))
				t.Logf("keys %q existing %v err %v", keysOf(recs), ex, err)
			})
		}
	})
}

func keysOf(r []connector.SourceRecord) []string {
	var out []string
	for _, x := range r {
		out = append(out, x.Key)
	}
	return out
}
