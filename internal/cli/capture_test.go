package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the test's own statements

	"github.com/ferry-dev/ferry/internal/connector/all"
)

// captureSchema is a schema of its own on the test PostgreSQL with an
// orders table, and a DSN whose search_path is it.
func captureSchema(t *testing.T) (*sql.DB, string) {
	t.Helper()
	if _, ok := all.Set().Kind("sql"); !ok {
		t.Skip("the sql kind is not registered in internal/connector/all yet")
	}
	dsn := os.Getenv("FERRY_TEST_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL does not answer (CI must have it): %v", err)
		}
		t.Skipf("PostgreSQL does not answer, skipping: %v", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "ferry_cli_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	if _, err := admin.Exec("CREATE TABLE " + schema + ".orders (id int PRIMARY KEY, total int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return admin, dsn + "&search_path=" + schema + "&application_name=" + schema
}

// ferry capture install/uninstall ROUTE: idempotent, each run saying what
// it did; clear errors for routes that do not capture.
func TestCaptureCommand(t *testing.T) {
	admin, dsn := captureSchema(t)
	schema := dsn[strings.LastIndex(dsn, "=")+1:]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ferry.yaml")
	yaml := `systems:
  erp: {postgres: {dsn: "` + dsn + `"}}
  api: {url: "http://127.0.0.1:9"}
routes:
  orders:
    source:
      sql: {system: erp, query: "SELECT id, total FROM orders", key: id, capture: {table: orders}}
    destinations:
      default: {http: {system: api}}
  plain:
    source: {sql: {system: erp, query: "SELECT id FROM orders", key: id}}
    destinations:
      default: {http: {system: api}}
  web:
    source: {http: {system: api, key: id}}
    destinations:
      default: {http: {system: api}}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		args []string
		want []string
	}{
		{[]string{"install", "orders"}, []string{"route orders:", "created integration table " + schema + ".ferry_changes_orders", "created trigger ferry_changes_orders_ins on " + schema + ".orders (after insert)", "created trigger ferry_changes_orders_del"}},
		{[]string{"install", "orders"}, []string{"integration table " + schema + ".ferry_changes_orders exists, kept", "replaced function", "replaced trigger"}},
		{[]string{"status", "orders"}, []string{"integration table " + schema + ".ferry_changes_orders: 2 changes waiting, the oldest captured 20", "trigger ferry_changes_orders_upd on " + schema + ".orders (after update): installed", "function " + schema + ".ferry_changes_orders_fn(): installed"}},
		{[]string{"uninstall", "orders"}, []string{"removed trigger", "removed function", "kept integration table " + schema + ".ferry_changes_orders, 2 changes waiting"}},
		{[]string{"uninstall", "orders"}, []string{"no trigger ferry_changes_orders_upd", "nothing to remove", "2 changes waiting"}},
		{[]string{"uninstall", "orders", "--drop-table"}, []string{"dropped integration table " + schema + ".ferry_changes_orders"}},
		{[]string{"uninstall", "orders", "--drop-table"}, []string{"no integration table"}},
	} {
		code, out, errOut := ferry(t, append([]string{"-c", cfg, "capture"}, step.args...)...)
		if code != ExitOK {
			t.Fatalf("capture %v: exit %d\n%s%s", step.args, code, out, errOut)
		}
		for _, w := range step.want {
			if !strings.Contains(out, w) {
				t.Errorf("capture %v: output lacks %q:\n%s", step.args, w, out)
			}
		}
		if step.args[0] == "install" {
			// One change per write, however often install ran (two
			// writes: two changes waiting at uninstall).
			if _, err := admin.Exec("INSERT INTO " + schema + ".orders VALUES (1, 10) ON CONFLICT (id) DO UPDATE SET total = 10"); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "orders"}, ExitFailed, `route "orders": capture is not fully installed`},
		{[]string{"install", "plain"}, ExitUsage, `route "plain": its sql source has no capture: block`},
		{[]string{"install", "web"}, ExitUsage, `route "web": its source is a http source`},
		{[]string{"install", "nope"}, ExitUsage, `unknown route "nope"`},
		{[]string{"install"}, ExitUsage, "accepts 1 arg"},
	} {
		code, out, errOut := ferry(t, append([]string{"-c", cfg, "capture"}, bad.args...)...)
		if code != bad.code || !strings.Contains(errOut, bad.want) {
			t.Errorf("capture %v: exit %d, want %d with %q\n%s%s", bad.args, code, bad.code, bad.want, out, errOut)
		}
	}

	// A database that does not answer fails the command (exit 1) with a
	// message that names the system, never its DSN or password.
	t.Setenv("FERRY_CAPTURE_TEST_DSN", "postgres://ferry:s3cret-capture-pw@127.0.0.1:1/erp?sslmode=disable")
	down := filepath.Join(dir, "down.yaml")
	if err := os.WriteFile(down, []byte(`systems:
  erp: {postgres: {dsn: "${env:FERRY_CAPTURE_TEST_DSN}", connect_timeout: 2s}}
  api: {url: "http://127.0.0.1:9"}
routes:
  orders:
    source:
      sql: {system: erp, query: "SELECT id FROM orders", key: id, capture: {table: orders}}
    destinations:
      default: {http: {system: api}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferry(t, "-c", down, "capture", "install", "orders")
	if code != ExitFailed || !strings.Contains(errOut, `postgres system "erp"`) || strings.Contains(out+errOut, "s3cret-capture-pw") {
		t.Errorf("install on a database that does not answer: exit %d\n%s%s", code, out, errOut)
	}

	code, out, _ = ferry(t, "capture", "install", "--help")
	if code != ExitOK || !strings.Contains(out, "ferry capture install orders") {
		t.Errorf("capture install --help: exit %d\n%s", code, out)
	}
}
