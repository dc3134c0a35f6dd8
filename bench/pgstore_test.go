package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store/pgtest"
)

// The harness's checks with the queue in PostgreSQL (-store postgres) on
// a small source, and that the run leaves no schema behind.
func TestHarnessPostgresStore(t *testing.T) {
	pgtest.Need(t)
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"plain", options{}},
		{"reread unchanged", options{reread: true}},
		{"reread with resend_unchanged", options{reread: true, resend: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.records, o.page, o.batch, o.dir = 2_345, 100, 50, t.TempDir()
			o.store, o.pgDSN, o.source, o.dest = "postgres", pgtest.DSN(), "http", "http"
			before := benchSchemas(t)
			if err := run(o); err != nil {
				t.Fatal(err)
			}
			for s := range benchSchemas(t) {
				if !before[s] {
					t.Errorf("schema %s left behind", s)
				}
			}
		})
	}
}

// benchSchemas are the queue schemas -store postgres makes (others'
// runs may hold some at the same time).
func benchSchemas(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ferry\_bench\_q%'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}
