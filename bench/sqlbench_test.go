package main

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

// The PostgreSQL modes' checks (every record in the sink or the table
// exactly once) on a small table, against the real PostgreSQL.
func TestHarnessPostgresModes(t *testing.T) {
	const dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL does not answer (CI must have it): %v", err)
		}
		t.Skipf("PostgreSQL does not answer, skipping: %v", err)
	}
	db.Close()
	for _, o := range []options{{source: "postgres"}, {dest: "postgres"}} {
		t.Run(o.source+o.dest, func(t *testing.T) {
			o.records, o.page, o.batch, o.dir, o.pgDSN = 2_345, 100, 50, t.TempDir(), dsn
			if err := run(o); err != nil {
				t.Fatal(err)
			}
		})
	}
}
