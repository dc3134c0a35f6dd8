package sqlconn_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver, for the test's own statements
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the test's own statements

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	sqlconn "github.com/ferry-dev/ferry/internal/connector/sql"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// kindsWithSQL is every kind of the build, with the sql kinds added when
// internal/connector/all does not list them yet.
func kindsWithSQL(t *testing.T) *connector.Set {
	t.Helper()
	set, err := sqlKindSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// sqlKindSet is every kind with the sql kinds (added when all does not
// list them yet); wrap, when set, wraps every sql source built.
func sqlKindSet(wrap func(connector.Source) connector.Source) (*connector.Set, error) {
	var kinds []connector.Kind
	sqlKinds := map[string]connector.Kind{}
	for _, k := range sqlconn.Kinds() {
		sqlKinds[k.Name] = k
	}
	for _, k := range all.Kinds() {
		if _, ok := sqlKinds[k.Name]; !ok {
			kinds = append(kinds, k)
		}
	}
	for _, k := range sqlconn.Kinds() {
		if k.Source != nil && wrap != nil {
			part := *k.Source
			build := part.Build
			part.Build = func(ctx context.Context, env connector.Env, cfg any) (connector.Source, error) {
				src, err := build(ctx, env, cfg)
				if err != nil {
					return nil, err
				}
				return wrap(src), nil
			}
			k.Source = &part
		}
		kinds = append(kinds, k)
	}
	return connector.NewSet(kinds...)
}

// pgSchema creates a schema of its own on the test PostgreSQL and returns
// a DSN whose search_path is it.
func pgSchema(t testing.TB) (*sql.DB, string) {
	t.Helper()
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
	schema := "ferry_cap_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "search_path=" + schema
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// sink is an HTTP destination that records each delivery's key and total.
type sink struct {
	mu  sync.Mutex
	got map[string][]any
	// hook, when set, runs once at the next request (before answering).
	hook func()
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/orders/")
	s.mu.Lock()
	s.got[key] = append(s.got[key], rec["total"])
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	w.WriteHeader(http.StatusOK)
}

func (s *sink) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.got))
	for k := range s.got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v ", k, s.got[k])
	}
	s.got = map[string][]any{}
	return strings.TrimSpace(b.String())
}

// Change capture through the engine: a capturing sql source on PostgreSQL
// to an HTTP sink. Every inserted or updated key is delivered once per
// change (an update that changes nothing the view shows is found
// unchanged), pages are acknowledged only once queued, and the
// integration table is empty after each run.
func TestCaptureThroughTheEngine(t *testing.T) {
	db, dsn := pgSchema(t)
	if _, err := db.Exec("CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total int NOT NULL, note text)"); err != nil {
		t.Fatal(err)
	}
	out := &sink{got: map[string][]any{}}
	srv := httptest.NewServer(out)
	defer srv.Close()

	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
systems:
  erp: {postgres: {dsn: "`+dsn+`"}}
  shop: {url: "`+srv.URL+`"}
routes:
  orders:
    source:
      sql:
        system: erp
        query: SELECT id, status, total FROM orders
        key: id
        page_size: 3
        capture: {table: orders, when: "NEW.status <> 'draft'"}
    batch: 2
    destinations:
      default: {http: {system: shop, path: "/orders/${key}", method: PUT}}
`), filepath.Join(dir, "ferry.yaml"), kindsWithSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	// What `ferry capture install orders` does.
	src, err := reg.Source(cfg.Routes["orders"])
	if err != nil {
		t.Fatal(err)
	}
	inst, ok := src.(sqlconn.CaptureInstaller)
	if !ok || !inst.Capturing() {
		t.Fatalf("the sql source (%T) does not install capture", src)
	}
	if rep, err := inst.InstallCapture(ctx); err != nil {
		t.Fatalf("install: %v\n%s", err, rep)
	}

	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pending := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM ferry_changes_orders").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(want string, wantDone, wantPruned, wantLeft int) {
		t.Helper()
		res, err := eng.Run(ctx, "orders", engine.RunOptions{})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if got := out.take(); got != want {
			t.Errorf("delivered\n got %s\nwant %s", got, want)
		}
		if res.Done != wantDone || res.Pruned != wantPruned {
			t.Errorf("done %d, pruned %d; want %d and %d", res.Done, res.Pruned, wantDone, wantPruned)
		}
		if n := pending(); n != wantLeft {
			t.Errorf("%d changes left in the integration table after the run, want %d", n, wantLeft)
		}
	}

	exec("INSERT INTO orders SELECT i, 'paid', i * 10 FROM generate_series(1, 7) i")
	exec("INSERT INTO orders VALUES (8, 'draft', 80)") // not captured (when:)
	// A dry run reads the changes and clears nothing.
	var dry []string
	if err := eng.DryRun(ctx, "orders", false, 0, func(r engine.DryRecord) error {
		dry = append(dry, r.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(dry) != "[1 2 3 4 5 6 7]" || pending() != 7 {
		t.Fatalf("dry run read %v and left %d changes, want 1..7 and all 7", dry, pending())
	}
	run("1=[10] 2=[20] 3=[30] 4=[40] 5=[50] 6=[60] 7=[70]", 7, 0, 0)

	exec("UPDATE orders SET total = 21 WHERE id = 2")
	exec("UPDATE orders SET total = 51 WHERE id = 5")
	exec("UPDATE orders SET total = 52 WHERE id = 5")      // two changes, one delivery of the last state
	exec("UPDATE orders SET note = 'called' WHERE id = 3") // not in the view: unchanged
	exec("UPDATE orders SET status = 'paid' WHERE id = 8") // now captured
	exec("INSERT INTO orders VALUES (9, 'paid', 90)")
	run("2=[21] 5=[52] 8=[80] 9=[90]", 4, 0, 0)

	run("", 0, 0, 0) // nothing changed: nothing read, nothing sent

	// A row deleted after it was queued, before it is sent, is pruned:
	// the first request of the run deletes order 12, which is in the
	// next batch. Its delete is read by the next run and, as the route
	// ignores deletes, counted pruned there.
	for _, id := range []string{"10", "11", "12"} { // one statement each: 12 is the last change
		exec("INSERT INTO orders VALUES (" + id + ", 'paid', " + id + "0)")
	}
	out.mu.Lock()
	out.hook = func() { exec("DELETE FROM orders WHERE id = 12") }
	out.mu.Unlock()
	run("10=[100] 11=[110]", 2, 1, 1) // the delete of 12 waits for the next run
	run("", 0, 1, 0)
}

// mysqlDatabase creates a database of its own on the test MariaDB and
// returns a DSN for it.
func mysqlDatabase(t *testing.T) (*sql.DB, string) {
	t.Helper()
	server := os.Getenv("FERRY_TEST_MYSQL_DSN")
	if server == "" {
		server = "root@tcp(127.0.0.1:3306)/"
	}
	admin, err := sql.Open("mysql", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MariaDB does not answer (CI must have it): %v", err)
		}
		t.Skipf("MariaDB does not answer, skipping: %v", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "ferry_cap_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE " + name) })
	db, err := sql.Open("mysql", server+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, server + name
}

// Replication with deletes: a MariaDB table captured into a PostgreSQL
// replica through the engine with deletes: send. Inserts, updates, deletes
// and a row inserted and deleted between two runs all end with the
// replica equal to the source.
func TestCaptureReplicatesDeletes(t *testing.T) {
	src, srcDSN := mysqlDatabase(t)
	dst, dstDSN := pgSchema(t)
	for _, q := range []struct {
		db *sql.DB
		q  string
	}{
		{src, "CREATE TABLE items (sku VARCHAR(20) PRIMARY KEY, qty INT NOT NULL)"},
		{dst, "CREATE TABLE items (sku text PRIMARY KEY, qty int NOT NULL)"},
	} {
		if _, err := q.db.Exec(q.q); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
systems:
  shop: {mysql: {dsn: "`+srcDSN+`"}}
  erp: {postgres: {dsn: "`+dstDSN+`"}}
routes:
  stock:
    source:
      sql:
        system: shop
        query: SELECT sku, qty FROM items
        key: sku
        page_size: 4
        capture: {table: items, integration_table: stock_changes}
    deletes: send
    batch: 3
    destinations:
      default: {sql: {system: erp, table: items, key: sku}}
`), filepath.Join(dir, "ferry.yaml"), kindsWithSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	source, err := reg.Source(cfg.Routes["stock"])
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := source.(sqlconn.CaptureInstaller).InstallCapture(ctx); err != nil {
		t.Fatalf("install: %v\n%s", err, rep)
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	table := func(db *sql.DB) string {
		t.Helper()
		rows, err := db.Query("SELECT sku, qty FROM items ORDER BY sku")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var sku string
			var qty int
			if err := rows.Scan(&sku, &qty); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s=%d ", sku, qty)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b.String())
	}
	step := func(want string, stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if _, err := src.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		res, err := eng.Run(ctx, "stock", engine.RunOptions{})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if res.Failed != 0 {
			t.Errorf("%d records failed", res.Failed)
		}
		if got := table(dst); got != want {
			t.Errorf("replica\n got %s\nwant %s", got, want)
		}
		if got := table(src); got != want {
			t.Errorf("source %s, want %s", got, want)
		}
		var n int
		if err := src.QueryRow("SELECT COUNT(*) FROM stock_changes").Scan(&n); err != nil || n != 0 {
			t.Errorf("integration table holds %d changes after the run (%v)", n, err)
		}
	}
	step("a=1 b=2 c=3 d=4 e=5",
		"INSERT INTO items VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5)")
	step("a=1 b=20 d=4 f=6",
		"UPDATE items SET qty = 20 WHERE sku = 'b'",
		"DELETE FROM items WHERE sku IN ('c', 'e')",
		"INSERT INTO items VALUES ('f', 6), ('g', 7)",
		"DELETE FROM items WHERE sku = 'g'", // never seen by ferry: a delete of a row the replica lacks
	)
	step("b=20 d=4 f=6 h=8",
		"DELETE FROM items WHERE sku = 'a'",
		"INSERT INTO items VALUES ('h', 8)",
	)
}

// A capture block is checked at load, each problem with its place.
func TestCaptureConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, system, capture, extra string
		want                         []string
	}{
		{"sqlite", "local", "{table: orders}", "", []string{`ferry.yaml:10:9: routes.orders.source.sql.capture: change capture needs a postgres or mysql system`}},
		{"no table", "erp", "{key_column: id}", "", []string{"capture needs the watched table"}},
		{"cursor", "erp", "{table: orders}", "cursor: updated_at", []string{"a source with capture reads the integration table, not by cursor: remove cursor"}},
		{"when", "erp", `{table: orders, when: "NEW.a = 1; DROP TABLE x"}`, "", []string{"capture.when: the condition must be one SQL expression"}},
		{"table name", "erp", "{table: a.b.c, integration_table: x.}", "", []string{`capture.table: "a.b.c" is not a table name`, `capture.integration_table: "x." is not a table name`}},
		{"unknown field", "erp", "{table: orders, tabel: x}", "", []string{"tabel"}},
		{"same table", "erp", "{table: orders, integration_table: orders}", "", []string{"capture.integration_table: the integration table must differ from the watched table"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.extra != "" {
				extra = "\n        " + tc.extra
			}
			_, err := config.Parse([]byte(`systems:
  erp: {postgres: {dsn: "postgres://127.0.0.1:9/x"}}
  local: {sqlite: {path: local.db}}
  api: {url: "http://127.0.0.1:9"}
routes:
  orders:
    source:
      sql:
        system: `+tc.system+`
        capture: `+tc.capture+`
        query: SELECT id, updated_at FROM orders
        key: id`+extra+`
    destinations:
      default: {http: {system: api}}
`), "ferry.yaml", kindsWithSQL(t))
			if err == nil {
				t.Fatal("the config loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// captureChildEnv makes the test binary a ferry run that is killed after
// queuing a page of changes and before clearing them.
const captureChildEnv = "FERRY_CAPTURE_KILL_CHILD_CONFIG"

// SIGKILL between queuing and clearing the integration table loses
// nothing: a child process runs the route and is killed at the first
// acknowledgement (its page durably queued, the integration table not
// yet cleared); the next run delivers every key exactly once and clears
// the table.
func TestCaptureKillBetweenQueuingAndClearing(t *testing.T) {
	if file := os.Getenv(captureChildEnv); file != "" {
		captureChild(file)
		return
	}
	db, dsn := pgSchema(t)
	if _, err := db.Exec("CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	out := &sink{got: map[string][]any{}}
	srv := httptest.NewServer(out)
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "ferry.yaml")
	yaml := `store: ferry.db
systems:
  erp: {postgres: {dsn: "` + dsn + `"}}
  shop: {url: "` + srv.URL + `"}
routes:
  orders:
    source:
      sql: {system: erp, query: "SELECT id, total FROM orders", key: id, page_size: 4, capture: {table: orders}}
    batch: 3
    destinations:
      default: {http: {system: shop, path: "/orders/${key}", method: PUT}}
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, kindsWithSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	src, err := reg.Source(cfg.Routes["orders"])
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := src.(sqlconn.CaptureInstaller).InstallCapture(ctx); err != nil {
		t.Fatalf("install: %v\n%s", err, rep)
	}
	if _, err := db.Exec("INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 10) i"); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCaptureKillBetweenQueuingAndClearing$", "-test.count=1")
	cmd.Env = append(os.Environ(), captureChildEnv+"="+file)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	queued := false
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "QUEUED") {
			queued = true
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !queued {
		t.Fatalf("the child never reached the acknowledgement (scan error %v)", lines.Err())
	}
	var left int
	if err := db.QueryRow("SELECT COUNT(*) FROM ferry_changes_orders").Scan(&left); err != nil || left != 10 {
		t.Fatalf("after the kill the integration table holds %d changes (%v), want all 10", left, err)
	}
	if got := out.take(); got != "" {
		t.Fatalf("the child sent %s before its acknowledgement", got)
	}

	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(ctx, "orders", engine.RunOptions{})
	if err != nil {
		t.Fatalf("run after the kill: %v", err)
	}
	want := "1=[10] 10=[100] 2=[20] 3=[30] 4=[40] 5=[50] 6=[60] 7=[70] 8=[80] 9=[90]"
	if got := out.take(); got != want {
		t.Errorf("delivered after the kill\n got %s\nwant %s (each key once)", got, want)
	}
	if res.Done != 10 {
		t.Errorf("done %d, want 10", res.Done)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM ferry_changes_orders").Scan(&left); err != nil || left != 0 {
		t.Errorf("integration table holds %d changes after the run (%v)", left, err)
	}
}

// holdAtAck is the child's source: its pages are queued by the engine,
// which then calls Ack: the child says so and waits for its SIGKILL.
type holdAtAck struct{ connector.Source }

func (h holdAtAck) Read(ctx context.Context, req connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	return h.Source.Read(ctx, req, func(ctx context.Context, p connector.Page) error {
		p.Ack = func(context.Context) error {
			fmt.Println("QUEUED", p.Number)
			time.Sleep(time.Hour)
			return nil
		}
		return fn(ctx, p)
	})
}

// captureChild is the child side of TestCaptureKillBetweenQueuingAndClearing.
func captureChild(file string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	set, err := sqlKindSet(func(s connector.Source) connector.Source { return holdAtAck{s} })
	if err != nil {
		fail(err)
	}
	cfg, err := config.Load(file, set)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		fail(err)
	}
	reg, err := registry.New(cfg)
	if err != nil {
		fail(err)
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		fail(err)
	}
	_, err = eng.Run(ctx, "orders", engine.RunOptions{})
	fmt.Fprintln(os.Stderr, "child run ended without being killed:", err)
	os.Exit(3)
}

// examples/sql-capture.yaml works as its comments say, against the real
// databases: the replica follows inserts, updates and deletes of
// confirmed orders (drafts stay out), and every status change reaches the
// shop.
func TestCaptureExample(t *testing.T) {
	erp, erpDSN := pgSchema(t)
	wh, whDSN := mysqlDatabase(t)
	for _, q := range []struct {
		db *sql.DB
		q  string
	}{
		{erp, "CREATE TABLE orders (id bigint PRIMARY KEY, number text NOT NULL, customer text, status text NOT NULL, total numeric(12,2), updated_at timestamptz NOT NULL DEFAULT now())"},
		{wh, "CREATE TABLE orders (id BIGINT PRIMARY KEY, number VARCHAR(20) NOT NULL, customer VARCHAR(100), status VARCHAR(20) NOT NULL, total DECIMAL(12,2), updated_at DATETIME(6) NOT NULL)"},
	} {
		if _, err := q.db.Exec(q.q); err != nil {
			t.Fatal(err)
		}
	}
	type put struct{ key, status string }
	var mu sync.Mutex
	var puts []put
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPut || r.Header.Get("Authorization") != "Bearer shop-token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		key := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/orders/"), "/status")
		mu.Lock()
		puts = append(puts, put{key, fmt.Sprint(body["status"])})
		mu.Unlock()
	}))
	defer shop.Close()
	t.Setenv("ERP_DSN", erpDSN)
	t.Setenv("WAREHOUSE_DSN", whDSN)
	t.Setenv("SHOP_URL", shop.URL+"/api")
	t.Setenv("SHOP_TOKEN", "shop-token")

	// A copy beside its own store, so the test writes nothing into examples/.
	text, err := os.ReadFile("../../../examples/sql-capture.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sql-capture.yaml")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, kindsWithSQL(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, route := range []string{"replica", "status"} {
		src, err := reg.Source(cfg.Routes[route])
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := src.(sqlconn.CaptureInstaller).InstallCapture(ctx); err != nil {
			t.Fatalf("install %s: %v\n%s", route, err, rep)
		}
	}
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	replica := func() string {
		t.Helper()
		rows, err := wh.Query("SELECT id, status, total FROM orders ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var id int
			var status, total string
			if err := rows.Scan(&id, &status, &total); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%d:%s:%s ", id, status, total)
		}
		return strings.TrimSpace(b.String())
	}
	step := func(wantReplica, wantPuts string, stmts ...string) {
		t.Helper()
		for _, q := range stmts {
			if _, err := erp.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, route := range []string{"replica", "status"} {
			res, err := eng.Run(ctx, route, engine.RunOptions{})
			if err != nil {
				t.Fatalf("run %s: %v", route, err)
			}
			if res.Failed != 0 {
				t.Errorf("run %s: %d records failed", route, res.Failed)
			}
		}
		if got := replica(); got != wantReplica {
			t.Errorf("replica\n got %s\nwant %s", got, wantReplica)
		}
		mu.Lock()
		sort.Slice(puts, func(i, j int) bool { return puts[i].key < puts[j].key })
		got := fmt.Sprint(puts)
		puts = nil
		mu.Unlock()
		if got != wantPuts {
			t.Errorf("shop got %s, want %s", got, wantPuts)
		}
	}
	step("1:paid:12.50 3:shipped:30.00", "[{1 paid} {2 draft} {3 shipped}]",
		"INSERT INTO orders (id, number, customer, status, total) VALUES (1, 'SO-1', 'ann', 'paid', 12.5), (2, 'SO-2', 'bob', 'draft', 20), (3, 'SO-3', 'cy', 'shipped', 30)")
	step("1:paid:13.00 2:paid:20.00", "[{2 paid}]",
		"UPDATE orders SET total = 13 WHERE id = 1",      // the replica's total; the shop's status is unchanged
		"UPDATE orders SET status = 'paid' WHERE id = 2", // no longer a draft
		"DELETE FROM orders WHERE id = 3")                // deleted in the replica; the status route ignores deletes
}

// BenchmarkCaptureEngine measures change capture end to end: 20,000
// captured inserts on PostgreSQL read from the integration table, queued,
// sent to an HTTP sink in batches of 500 (one request each) and cleared.
// Reports records/s of the run (the inserts are not timed).
func BenchmarkCaptureEngine(b *testing.B) {
	const n = 20000
	db, dsn := pgSchema(b)
	if _, err := db.Exec("CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total int NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	received := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		received += len(batch)
		mu.Unlock()
	}))
	defer srv.Close()
	set, err := sqlKindSet(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		cfg, err := config.Parse([]byte(`
systems:
  erp: {postgres: {dsn: "`+dsn+`"}}
  shop: {url: "`+srv.URL+`"}
routes:
  orders:
    source:
      sql: {system: erp, query: "SELECT id, status, total FROM orders", key: id, capture: {table: orders}}
    batch: 500
    destinations:
      default: {http: {system: shop, path: /orders, body: array}}
`), filepath.Join(dir, "ferry.yaml"), set)
		if err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(ctx, cfg.Store)
		if err != nil {
			b.Fatal(err)
		}
		reg, err := registry.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		src, err := reg.Source(cfg.Routes["orders"])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := src.(sqlconn.CaptureInstaller).InstallCapture(ctx); err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{"DELETE FROM ferry_changes_orders", "DELETE FROM orders",
			fmt.Sprintf("INSERT INTO orders SELECT i, 'paid', i FROM generate_series(1, %d) i", n)} {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		received = 0
		mu.Unlock()
		b.StartTimer()
		start := time.Now()
		res, err := eng.Run(ctx, "orders", engine.RunOptions{})
		elapsed += time.Since(start)
		b.StopTimer()
		if err != nil || res.Done != n {
			b.Fatalf("run: done %d of %d (%v)", res.Done, n, err)
		}
		var left int
		if err := db.QueryRow("SELECT COUNT(*) FROM ferry_changes_orders").Scan(&left); err != nil || left != 0 {
			b.Fatalf("%d changes left (%v)", left, err)
		}
		reg.Close()
		st.Close()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "records/s")
}
