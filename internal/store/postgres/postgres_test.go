package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/postgres"
	"github.com/ferry-dev/ferry/internal/store/storetest"
)

func openT(t testing.TB, schema string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), pgtest.DSN(), postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open(schema %s): %v", schema, err)
	}
	return s
}

// notYet lists the conformance cases the PostgreSQL store does not pass
// yet, each with why. It must shrink to nothing.
var notYet = map[string]string{}

func TestConformance(t *testing.T) {
	pgtest.Need(t)
	storetest.RunSkipping(t, func(t *testing.T) store.Store {
		return openT(t, pgtest.FreshSchema(t))
	}, notYet)
}

// Two processes starting at once on an empty schema: both open, the
// migrations ran once, and both see the one store identity.
func TestOpenConcurrentMigratesOnce(t *testing.T) {
	pgtest.Need(t)
	schema := pgtest.FreshSchema(t)
	const n = 4
	var (
		wg     sync.WaitGroup
		stores [n]*postgres.Store
		errs   [n]error
	)
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(context.Background(), pgtest.DSN(), postgres.Options{Schema: schema, MaxConns: 2})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	for i := 1; i < n; i++ {
		if stores[i].ID() != stores[0].ID() {
			t.Errorf("store %d has ID %q, store 0 %q: the identity was created twice", i, stores[i].ID(), stores[0].ID())
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var applied, metas int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+schema+`.schema_migrations), (SELECT count(*) FROM `+schema+`.meta)`).Scan(&applied, &metas); err != nil {
		t.Fatal(err)
	}
	if want := 1; applied != want || metas != 1 {
		t.Errorf("schema_migrations has %d rows, meta %d; want %d and 1", applied, metas, want)
	}
}

// The schema keeps stores apart in one database, and data outlives a
// reopen.
func TestSchemasAreSeparate(t *testing.T) {
	pgtest.Need(t)
	ctx := context.Background()
	a, b := pgtest.FreshSchema(t), pgtest.FreshSchema(t)
	sa, sb := openT(t, a), openT(t, b)
	defer sb.Close()
	if sa.ID() == sb.ID() {
		t.Fatalf("two schemas share the identity %q", sa.ID())
	}
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	cur := "c1"
	if _, err := sa.EnqueuePage(ctx, "orders", []store.NewEntry{{Key: "1", Payload: []byte(`{}`)}}, &cur, now); err != nil {
		t.Fatal(err)
	}
	if c, err := sb.Counts(ctx, "orders"); err != nil || c.Pending != 0 {
		t.Errorf("other schema counts = %+v, %v; want nothing", c, err)
	}
	id := sa.ID()
	sa.Close()
	sa = openT(t, a)
	defer sa.Close()
	if sa.ID() != id {
		t.Errorf("ID after reopen = %q, want %q", sa.ID(), id)
	}
	if c, err := sa.Counts(ctx, "orders"); err != nil || c.Pending != 1 {
		t.Errorf("counts after reopen = %+v, %v; want 1 pending", c, err)
	}
	if v, _ := sa.Cursor(ctx, "orders"); v != "c1" {
		t.Errorf("cursor after reopen = %q, want c1", v)
	}
}

// Bad options and unreachable databases fail with a clear error that
// never shows the password.
func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name, dsn, schema, want string
	}{
		{"bad schema", "postgres://u:s3cret@127.0.0.1:1/db", "Ferry-1", `schema "Ferry-1"`},
		{"bad dsn", "postgres://u:s3cret@127.0.0.1:notaport/db", "", "open postgres store"},
		{"unreachable", "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2", "", "u@127.0.0.1:1/db"},
		{"bad key=value dsn", "host=127.0.0.1 user=u password=s3cret port=notaport", "", "open postgres store"},
		{"unreachable key=value", "host=127.0.0.1 port=1 user=u password=s3cret dbname=db connect_timeout=2", "", "u@127.0.0.1:1/db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.Open(ctx, tc.dsn, postgres.Options{Schema: tc.schema})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
