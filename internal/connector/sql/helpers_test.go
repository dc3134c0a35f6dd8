package sqlconn

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// The real databases of issue 7; FERRY_TEST_PG_DSN / FERRY_TEST_MYSQL_DSN
// point elsewhere (a DSN without a database for MySQL's).
func pgAdminDSN() string {
	if s := os.Getenv("FERRY_TEST_PG_DSN"); s != "" {
		return s
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func mysqlServer() string {
	if s := os.Getenv("FERRY_TEST_MYSQL_DSN"); s != "" {
		return s
	}
	return "root@tcp(127.0.0.1:3306)/"
}

func suffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// unavailable skips (or, in CI, fails) a test whose database does not
// answer.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s does not answer (CI must have it): %v", what, err)
	}
	t.Skipf("%s does not answer, skipping: %v", what, err)
}

// testDB is one database of one dialect, in its own schema, database or
// file, removed when the test ends.
type testDB struct {
	*DB
	kind string
}

func (tb *testDB) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := tb.pool.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func mustOpen(t testing.TB, kind string, cfg any) *DB {
	t.Helper()
	db, err := openSystem(connector.Env{}, kind, "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ping(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func newPostgres(t testing.TB) *testDB {
	t.Helper()
	admin := mustOpen(t, "postgres", &PostgresConfig{DSN: pgAdminDSN(), ConnectTimeout: "3s"})
	if err := ping(admin.pool); err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	schema := "ferry_t_" + suffix(t)
	if _, err := admin.pool.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.pool.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(pgAdminDSN(), "?") {
		sep = "&"
	}
	db := mustOpen(t, "postgres", &PostgresConfig{DSN: pgAdminDSN() + sep + "search_path=" + schema, MaxConnections: 4})
	return &testDB{DB: db, kind: "postgres"}
}

func newMySQL(t testing.TB) *testDB {
	t.Helper()
	admin := mustOpen(t, "mysql", &MySQLConfig{DSN: mysqlServer(), ConnectTimeout: "3s"})
	if err := ping(admin.pool); err != nil {
		unavailable(t, "MariaDB", err)
	}
	name := "ferry_t_" + suffix(t)
	if _, err := admin.pool.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.pool.Exec("DROP DATABASE " + name) })
	db := mustOpen(t, "mysql", &MySQLConfig{DSN: mysqlServer() + name, MaxConnections: 4})
	return &testDB{DB: db, kind: "mysql"}
}

func newSQLite(t testing.TB) *testDB {
	t.Helper()
	dir := t.TempDir()
	db, err := openSystem(connector.Env{Dir: dir}, "sqlite", "test", &SQLiteConfig{Path: "test.db"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := os.Stat(filepath.Join(dir, "test.db")); err == nil {
		t.Fatal("the sqlite file exists before the first query: the pool is not lazy")
	}
	return &testDB{DB: db, kind: "sqlite"}
}

// eachDB runs fn once per dialect, as subtests.
func eachDB(t *testing.T, fn func(t *testing.T, db *testDB)) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *testDB
	}{{"postgres", newPostgres}, {"mysql", newMySQL}, {"sqlite", newSQLite}} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d.open(t))
		})
	}
}

// readAll reads every page of a source.
func readAll(t testing.TB, src *Source, req connector.ReadRequest) []connector.SourceRecord {
	t.Helper()
	var out []connector.SourceRecord
	err := src.Read(context.Background(), req, func(_ context.Context, p connector.Page) error {
		out = append(out, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return out
}

// dump is a table's content in key order, to compare before and after.
func dump(t testing.TB, db *testDB, q string) string {
	t.Helper()
	rows, err := db.pool.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%v|", v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
