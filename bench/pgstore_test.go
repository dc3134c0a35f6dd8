package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestMain lets the test binary stand in for the bench binary in the
// child processes that -procs starts (child runs os.Executable).
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_BENCH_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// -procs 2: two processes at once on one schema, each its own route,
// source and sink; every record arrives, the sums are printed, and the
// schema is dropped.
func TestHarnessPostgresProcs(t *testing.T) {
	pgtest.Need(t)
	t.Setenv("FERRY_BENCH_CHILD", "1")
	var b [4]byte
	rand.Read(b[:])
	schema := fmt.Sprintf("ferry_bench_qtest_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	args := []string{"-store=postgres", "-pg=" + pgtest.DSN(), "-page=100", "-batch=50"}

	out, err := captureStdout(t, func() error { return parallelRunsIn(2, 2_000, pgtest.DSN(), schema, args) })
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"route orders1\n", "route orders2\n",
		"records        4000 (source, 2000 per process)\n",
		"throughput     ", "per_process    ", "cpu_us         ", "db_cpu_us      ", "machine_cpu_us ",
		"check          ok: every sink got all its records\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "check          ok: the sink got all 1800 records\n"); n != 2 {
		t.Errorf("%d of 2 processes say their sink got all 1800 records:\n%s", n, out)
	}
	if benchSchemas(t)[schema] {
		t.Errorf("schema %s left behind", schema)
	}

	// A child that fails fails the whole, and the schema still goes.
	failing := append(args, "-source=nowhere")
	if out, err := captureStdout(t, func() error { return parallelRunsIn(2, 2_000, pgtest.DSN(), schema, failing) }); err == nil {
		t.Errorf("a failing child passed:\n%s", out)
	}
	if benchSchemas(t)[schema] {
		t.Errorf("schema %s left behind after a failure", schema)
	}
}

// captureStdout runs fn with os.Stdout going to a file and returns what
// it printed.
func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdout := os.Stdout
	os.Stdout = f
	err = fn()
	os.Stdout = stdout
	b, rerr := os.ReadFile(f.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return string(b), err
}
