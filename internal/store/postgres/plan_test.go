package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store/pgtest"
)

// churnedQueue opens a store in a fresh schema whose entries table looks
// as the hot path leaves it before autovacuum first comes by (measured
// in a run: never analyzed, 134,000 dead rows): thousands of entries
// leased and deleted, their index entries still there, and a page leased
// now. It returns a connection in the schema, autovacuum off for the
// table so that nothing tidies up behind the test.
func churnedQueue(t *testing.T) *pgx.Conn {
	t.Helper()
	pgtest.Need(t)
	ctx := context.Background()
	schema := pgtest.FreshSchema(t)
	s, err := Open(ctx, pgtest.DSN(), Options{Schema: schema, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, pgtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	const lease = `INSERT INTO entries (route, key, payload, status, created_at, updated_at, lease_owner, lease_until)
		SELECT 'orders', g::text, convert_to(repeat('x', 240), 'UTF8'), 'L', 1, 1, 'w1', 2 FROM generate_series($1::int, $2::int) g`
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`SET search_path TO ` + pgx.Identifier{schema}.Sanitize(), nil},
		{`ALTER TABLE entries SET (autovacuum_enabled = false)`, nil},
		{lease, []any{1, 30000}},
		{`DELETE FROM entries`, nil},
		{lease, []any{30001, 31000}},
		{`SET plan_cache_mode = force_generic_plan`, nil},
	} {
		if _, err := conn.Exec(ctx, step.sql, step.args...); err != nil {
			t.Fatalf("%s: %v", step.sql, err)
		}
	}
	return conn
}

// genericPlan is the text of the plan PostgreSQL keeps for q once it has
// been run a few times (the generic plan of a prepared statement, which
// pgx's statement cache leads to), with args bound.
func genericPlan(t *testing.T, conn *pgx.Conn, q string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `DEALLOCATE ALL`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `PREPARE q AS `+q); err != nil {
		t.Fatalf("prepare %s: %v", q, err)
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE q(`+strings.Join(args, ", ")+`)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	return strings.Join(lines, "\n")
}

// The statements that pick leased entries by ID reach them through the
// primary key, never through entries_leased: on a churning queue that
// index is mostly dead entries, and a bitmap of it cost a settle more
// than all of its other statements.
func TestLeasedByIDPlansUsePrimaryKey(t *testing.T) {
	conn := churnedQueue(t)
	ids := `'{30001,30002,30003,30450}'::bigint[]`
	for name, c := range map[string]struct {
		sql  string
		args []string
	}{
		"deleteSettledSQL": {deleteSettledSQL, []string{`'w1'`, ids, ids, `'{a,b,c,d}'::text[]`, `'{1,2,3,4}'::bigint[]`}},
		"extendLeasesSQL": {extendLeasesSQL, []string{`3`, `'w1'`, ids}},
	} {
		plan := genericPlan(t, conn, c.sql, c.args...)
		if strings.Contains(plan, "entries_leased") || !strings.Contains(plan, "entries_pkey") {
			t.Errorf("%s: expected a plan through entries_pkey alone, got\n%s", name, plan)
		}
	}
}
