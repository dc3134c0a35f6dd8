package postgres

import (
	"context"
	"strconv"
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

// prepareQ makes q the connection's only prepared statement, named q.
func prepareQ(t *testing.T, conn *pgx.Conn, q string) {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `DEALLOCATE ALL`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `PREPARE q AS `+q); err != nil {
		t.Fatalf("prepare %s: %v", q, err)
	}
}

// genericPlan is the text of the plan PostgreSQL keeps for q once it has
// been run a few times (the generic plan of a prepared statement, which
// pgx's statement cache leads to), with args bound.
func genericPlan(t *testing.T, conn *pgx.Conn, q string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	prepareQ(t, conn, q)
	return planLines(t, ctx, conn, q, `EXPLAIN EXECUTE q(`+strings.Join(args, ", ")+`)`)
}

// planLines runs explain (an EXPLAIN of the prepared q) on db and returns
// the plan's text.
func planLines(t *testing.T, ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, q, explain string) string {
	t.Helper()
	rows, err := db.Query(ctx, explain, pgx.QueryExecModeSimpleProtocol)
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
		"deleteSettledSQL": {deleteSettledSQL, []string{`'w1'`, ids, ids, `'{a,b,c,d}'::text[]`, `'{1,2,3,4}'::bigint[]`, `2`}},
		"extendLeasesSQL":  {extendLeasesSQL, []string{`3`, `'w1'`, ids}},
	} {
		plan := genericPlan(t, conn, c.sql, c.args...)
		if strings.Contains(plan, "entries_leased") || !strings.Contains(plan, "entries_pkey") {
			t.Errorf("%s: expected a plan through entries_pkey alone, got\n%s", name, plan)
		}
	}

	// A settle of three merged batches, planned for its own arguments (a
	// connection's first five runs of a statement): an earlier version
	// joined the settled versions to the entries, and the planner scanned
	// all 1,500 of them once per entry.
	if _, err := conn.Exec(context.Background(), `SET plan_cache_mode = force_custom_plan`); err != nil {
		t.Fatal(err)
	}
	var idList, hashList []string
	for id := 30001; id <= 31500; id++ {
		idList, hashList = append(idList, strconv.Itoa(id)), append(hashList, "h"+strconv.Itoa(id))
	}
	many := `'{` + strings.Join(idList, ",") + `}'::bigint[]`
	hashes := `'{` + strings.Join(hashList, ",") + `}'::text[]`
	plan := genericPlan(t, conn, deleteSettledSQL, `'w1'`, many, many, hashes, many, `1`)
	if strings.Contains(plan, "Nested Loop") || !strings.Contains(plan, "entries_pkey") {
		t.Errorf("deleteSettledSQL of 1,500 entries: expected no nested loop and entries reached through entries_pkey, got\n%s", plan)
	}
}

// explainAnalyze runs q with args (SQL literals) under EXPLAIN ANALYZE in
// a transaction rolled back after, and returns the plan's text.
func explainAnalyze(t *testing.T, conn *pgx.Conn, q string, args ...string) string {
	t.Helper()
	ctx := context.Background()
	prepareQ(t, conn, q)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // nothing to keep
	return planLines(t, ctx, tx, q, `EXPLAIN ANALYZE EXECUTE q(`+strings.Join(args, ", ")+`)`)
}

// probes returns the plan's lines that scan index.
func probes(plan, index string) []string {
	var out []string
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Scan using "+index+" ") {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// A page's look-up probes for queued entries and dead letters only when
// the route has any: a sync whose pages go in leased has none, and the
// probes were a quarter of an enqueue's server time.
func TestContentSkipsKindsTheRouteLacks(t *testing.T) {
	conn := churnedQueue(t)
	keys := `'orders', '{30001,30002,5}'::text[]`
	plan := explainAnalyze(t, conn, contentSQL, keys)
	// The one-time check goes through an index too: a scan of the table
	// would read every dead row of a churned queue.
	if strings.Contains(plan, "Seq Scan on entries") {
		t.Errorf("the look-up scans entries:\n%s", plan)
	}
	for _, index := range []string{"entries_queued_key", "dead_letters_route_key"} {
		for _, line := range probes(plan, index) {
			// The one-time check (an index-only scan) runs; the probes by key do not.
			if !strings.Contains(line, "Index Only Scan") && !strings.Contains(line, "never executed") {
				t.Errorf("with nothing queued and no dead letter, %s is probed:\n%s", index, plan)
			}
		}
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO dead_letters (entry_id, route, key, version, payload, created_at, died_at)
		VALUES (5, 'orders', '5', 1, '\x7b7d', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	plan = explainAnalyze(t, conn, contentSQL, keys)
	ran := false
	for _, line := range probes(plan, "dead_letters_route_key") {
		ran = ran || strings.Contains(line, "loops=3")
	}
	if !ran {
		t.Errorf("with a dead letter in the route, the keys are not probed for theirs:\n%s", plan)
	}
	// Each key's leased entries and dead letters come back all, unsorted:
	// a sort per key cost a quarter of the probe.
	if strings.Contains(plan, "Sort") {
		t.Errorf("the look-up sorts:\n%s", plan)
	}
}
