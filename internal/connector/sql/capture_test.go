package sqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ferry-dev/ferry/internal/connector"
)

// captureDBs runs fn on PostgreSQL and MariaDB (capture's two databases),
// each in its own schema or database.
func captureDBs(t *testing.T, fn func(t *testing.T, db *testDB)) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *testDB
	}{{"postgres", newPostgres}, {"mysql", newMySQL}} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d.open(t))
		})
	}
}

// captureFixture is a watched orders table and a capturing source on it.
type captureFixture struct {
	db     *testDB
	orders string // the watched table
	integ  string // the integration table
	src    *Source
}

func newCaptureFixture(t *testing.T, db *testDB, pageSize int, when, view string) *captureFixture {
	t.Helper()
	f := &captureFixture{db: db, orders: "orders_" + suffix(t), integ: "changes_" + suffix(t)}
	db.exec(t, "CREATE TABLE "+f.orders+" (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, total INT NOT NULL)")
	if view == "" {
		view = "SELECT id, status, total FROM " + f.orders
	}
	view = strings.ReplaceAll(view, "{orders}", f.orders)
	cp := (&CaptureConfig{Table: f.orders, IntegrationTable: f.integ, When: when}).forRoute("orders", "id")
	src, err := NewSource(db.DB, SourceConfig{System: "test", Query: view, Key: "id", PageSize: pageSize, Capture: cp})
	if err != nil {
		t.Fatal(err)
	}
	f.src = src
	return f
}

func (f *captureFixture) install(t *testing.T) string {
	t.Helper()
	out, err := f.src.InstallCapture(context.Background())
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	return out
}

// changes lists the integration table as "key op" in id order.
func (f *captureFixture) changes(t *testing.T) []string {
	t.Helper()
	rows, err := f.db.pool.Query("SELECT " + f.db.DB.dialect.quote("key") + ", op FROM " + f.integ + " ORDER BY id")
	if err != nil {
		t.Fatalf("%s: list changes: %v", f.db.DB.dialect.name, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, op string
		if err := rows.Scan(&k, &op); err != nil {
			t.Fatal(err)
		}
		out = append(out, k+" "+op)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readPages reads every page without acknowledging any.
func readPages(t *testing.T, src *Source) []connector.Page {
	t.Helper()
	var pages []connector.Page
	err := src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		pages = append(pages, p)
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return pages
}

// summary is a page's records as "key:status:total" or "key:deleted".
func summary(recs []connector.SourceRecord) string {
	var parts []string
	for _, r := range recs {
		if r.Deleted {
			parts = append(parts, fmt.Sprintf("%s:deleted(%v)", r.Key, r.Data["id"]))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s:%v:%v", r.Key, r.Data["status"], r.Data["total"]))
	}
	return strings.Join(parts, " ")
}

// Install twice and uninstall twice are clean on both databases, each
// saying what it did; after uninstalling, writes are no longer captured.
func TestCaptureInstallUninstallTwice(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 100, "", "")
		ctx := context.Background()
		first := f.install(t)
		t.Logf("install:\n%s", first)
		if !strings.Contains(first, "created integration table") || !strings.Contains(first, "created trigger") {
			t.Errorf("first install says:\n%s", first)
		}
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (1, 'paid', 10)")
		status, installed, err := f.src.CaptureStatus(ctx)
		if err != nil || !installed || !strings.Contains(status, "1 change waiting, captured 20") || strings.Count(status, ": installed") < 3 {
			t.Errorf("status after install (installed %v, %v):\n%s", installed, err, status)
		}
		second := f.install(t)
		// PostgreSQL replaces function and trigger in one transaction;
		// MariaDB leaves triggers that are already right alone.
		again := map[string]string{"postgres": "replaced trigger", "mysql": "is up to date"}[db.DB.dialect.name]
		if !strings.Contains(second, "exists, kept") || !strings.Contains(second, again) || strings.Contains(second, "created") {
			t.Errorf("second install says:\n%s", second)
		}
		// A changed when: is applied by installing again.
		f.src.cfg.Capture.When = "NEW.total < 100"
		if third := f.install(t); !strings.Contains(third, "replaced trigger") {
			t.Errorf("install with a new when: says:\n%s", third)
		}
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (100, 'paid', 1000)") // not captured now
		f.src.cfg.Capture.When = ""
		f.install(t)
		if got := f.changes(t); fmt.Sprint(got) != "[1 I]" {
			t.Errorf("changes after a second install %v, want [1 I] (kept, one trigger only)", got)
		}
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (2, 'paid', 20)")
		if got := f.changes(t); fmt.Sprint(got) != "[1 I 2 I]" {
			t.Errorf("changes %v, want each insert once", got)
		}

		out, err := f.src.UninstallCapture(ctx, false)
		if err != nil {
			t.Fatalf("uninstall: %v\n%s", err, out)
		}
		t.Logf("uninstall:\n%s", out)
		if !strings.Contains(out, "removed trigger") || !strings.Contains(out, "kept integration table") || !strings.Contains(out, "2 changes waiting") {
			t.Errorf("first uninstall says:\n%s", out)
		}
		status, installed, err = f.src.CaptureStatus(ctx)
		if err != nil || installed || strings.Contains(status, ": installed") || !strings.Contains(status, "2 changes waiting") {
			t.Errorf("status after uninstall (installed %v, %v):\n%s", installed, err, status)
		}
		out, err = f.src.UninstallCapture(ctx, false)
		if err != nil {
			t.Fatalf("second uninstall: %v\n%s", err, out)
		}
		if strings.Contains(out, "removed") || !strings.Contains(out, "nothing to remove") {
			t.Errorf("second uninstall says:\n%s", out)
		}
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (3, 'paid', 30)")
		if got := f.changes(t); fmt.Sprint(got) != "[1 I 2 I]" {
			t.Errorf("changes after uninstall %v: the trigger still writes", got)
		}

		out, err = f.src.UninstallCapture(ctx, true)
		if err != nil || !strings.Contains(out, "dropped integration table") {
			t.Fatalf("uninstall --drop-table: %v\n%s", err, out)
		}
		out, err = f.src.UninstallCapture(ctx, true)
		if err != nil || !strings.Contains(out, "no integration table") {
			t.Fatalf("second uninstall --drop-table: %v\n%s", err, out)
		}
		// Reading without the table says how to create it.
		err = f.src.Read(ctx, connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "ferry capture install orders") {
			t.Errorf("read without an integration table: %v", err)
		}
	})
}

// Inserts, updates and deletes become entries; a read gives the current
// rows for inserts and updates and Deleted records for deletes, one per
// key (the last change wins); a key changed by an update is a delete of
// the old key.
func TestCaptureChanges(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 100, "", "")
		f.install(t)
		o := f.orders
		for _, q := range []string{
			"INSERT INTO " + o + " VALUES (1, 'paid', 10), (2, 'paid', 20), (3, 'paid', 30)",
			"UPDATE " + o + " SET total = 21 WHERE id = 2",
			"DELETE FROM " + o + " WHERE id = 3",
			"INSERT INTO " + o + " VALUES (4, 'paid', 40)",
			"UPDATE " + o + " SET total = 41 WHERE id = 4",
			"DELETE FROM " + o + " WHERE id = 4", // deleted after an update
			"INSERT INTO " + o + " VALUES (5, 'paid', 50)",
			"UPDATE " + o + " SET id = 6 WHERE id = 5", // the key itself changes
		} {
			db.exec(t, q)
		}
		want := "[1 I 2 I 3 I 2 U 3 D 4 I 4 U 4 D 5 I 5 D 6 U]"
		if got := f.changes(t); fmt.Sprint(got) != want {
			t.Fatalf("integration table %v, want %v", got, want)
		}
		pages := readPages(t, f.src)
		if len(pages) != 1 {
			t.Fatalf("%d pages, want 1", len(pages))
		}
		// In the order of each key's last change.
		if got, want := summary(pages[0].Records), "1:paid:10 2:paid:21 3:deleted(3) 4:deleted(4) 5:deleted(5) 6:paid:50"; got != want {
			t.Errorf("records\n got %s\nwant %s", got, want)
		}
		if pages[0].Ack == nil {
			t.Fatal("a capture page must carry an Ack")
		}
	})
}

// A key whose row left the view after its change is skipped while its
// delete is on a later page, and is a delete there; a row the view does
// not select is pruned; the when: condition keeps changes out at capture.
func TestCapturePruneAndWhen(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 2, "NEW.status <> 'draft'",
			"SELECT id, status, total FROM {orders} WHERE total < 1000")
		f.install(t)
		o := f.orders
		for _, q := range []string{
			"INSERT INTO " + o + " VALUES (1, 'paid', 10)",
			"UPDATE " + o + " SET total = 11 WHERE id = 1",
			"DELETE FROM " + o + " WHERE id = 1",             // page 2: the row is gone by page 1's fetch
			"INSERT INTO " + o + " VALUES (2, 'draft', 20)",  // not captured
			"INSERT INTO " + o + " VALUES (3, 'paid', 5000)", // captured, outside the view: pruned
		} {
			db.exec(t, q)
		}
		if got, want := fmt.Sprint(f.changes(t)), "[1 I 1 U 1 D 3 I]"; got != want {
			t.Fatalf("integration table %s, want %s (the draft row is not captured)", got, want)
		}
		pages := readPages(t, f.src)
		var got []string
		for _, p := range pages {
			got = append(got, "["+summary(p.Records)+"]")
		}
		if want := "[] [1:deleted(1)]"; strings.Join(got, " ") != want {
			t.Errorf("pages %s, want %s", strings.Join(got, " "), want)
		}
	})
}

// Ack deletes exactly the page's changes: one captured while the read is
// in progress stays. Without an Ack (ferry killed between queuing and
// clearing) the next read gives the same changes again.
func TestCaptureAckAndCrash(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 3, "", "")
		f.install(t)
		o := f.orders
		db.exec(t, "INSERT INTO "+o+" VALUES (1, 'paid', 10), (2, 'paid', 20), (3, 'paid', 30), (4, 'paid', 40)")

		// A read that dies before acknowledging anything.
		first := readPages(t, f.src)
		again := readPages(t, f.src)
		if len(first) != 2 || summary(first[0].Records) != summary(again[0].Records) ||
			summary(first[1].Records) != summary(again[1].Records) {
			t.Fatalf("a read after an unacknowledged one differs:\n%v\n%v", first, again)
		}
		if got := f.changes(t); len(got) != 4 {
			t.Fatalf("changes %v: an unacknowledged read must leave all 4", got)
		}

		// A change arrives between reading page 1 and acknowledging it.
		ctx := context.Background()
		pages := 0
		err := f.src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
			pages++
			if pages == 1 {
				db.exec(t, "UPDATE "+o+" SET total = 11 WHERE id = 1")
				db.exec(t, "INSERT INTO "+o+" VALUES (5, 'paid', 50)")
				return p.Ack(ctx)
			}
			return nil // page 2 not acknowledged
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(f.changes(t)), "[4 I 1 U 5 I]"; got != want {
			t.Fatalf("after acknowledging page 1: %s, want %s", got, want)
		}
		var recs []string
		err = f.src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
			recs = append(recs, summary(p.Records))
			return p.Ack(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(recs, " | "), "4:paid:40 1:paid:11 5:paid:50"; got != want {
			t.Errorf("second read %q, want %q", got, want)
		}
		if got := f.changes(t); len(got) != 0 {
			t.Errorf("changes left after acknowledging every page: %v", got)
		}
	})
}

// A when: condition that does not fit the table fails the install before
// any trigger could fail the application's writes.
func TestCaptureInstallChecks(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 100, "NEW.no_such_column = 1", "")
		_, err := f.src.InstallCapture(context.Background())
		if err == nil || !strings.Contains(err.Error(), "when") || !strings.Contains(err.Error(), "not a valid condition") {
			t.Fatalf("install with a bad when: %v", err)
		}
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (1, 'paid', 10)") // no trigger in the way

		missing := newCaptureFixture(t, db, 100, "", "")
		missing.src.cfg.Capture.Table = "no_such_table_" + suffix(t)
		if _, err := missing.src.InstallCapture(context.Background()); err == nil || !strings.Contains(err.Error(), "watched table") {
			t.Fatalf("install on a missing table: %v", err)
		}

		// A view takes no such trigger: found only when creating it. On
		// PostgreSQL the whole install rolls back and says so; MariaDB's
		// DDL is not transactional, so the report keeps what was done.
		view := newCaptureFixture(t, db, 100, "", "")
		db.exec(t, "CREATE VIEW v_"+view.orders+" AS SELECT * FROM "+view.orders)
		view.src.cfg.Capture.Table = "v_" + view.orders
		out, err := view.src.InstallCapture(context.Background())
		if err == nil || !strings.Contains(err.Error(), "create trigger") {
			t.Fatalf("install on a view: %v\n%s", err, out)
		}
		exists, xerr := view.src.integrationExists(context.Background(), view.src.cfg.Capture)
		switch {
		case xerr != nil:
			t.Fatal(xerr)
		case db.DB.dialect.name == "postgres" && (exists || out != "nothing was changed (the transaction was rolled back)\n"):
			t.Errorf("a failed install on PostgreSQL left the integration table (%v) or reports %q", exists, out)
		case db.DB.dialect.name == "mysql" && (!exists || !strings.Contains(out, "created integration table")):
			t.Errorf("a failed install on MariaDB: table exists %v, report %q", exists, out)
		}
	})
}

// SQLite is refused with a clear message.
func TestCaptureSQLiteRefused(t *testing.T) {
	db := newSQLite(t)
	db.exec(t, "CREATE TABLE orders (id INTEGER PRIMARY KEY)")
	cp := (&CaptureConfig{Table: "orders"}).forRoute("orders", "id")
	src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT id FROM orders", Key: "id", PageSize: 10, Capture: cp})
	if err != nil {
		t.Fatal(err)
	}
	for name, do := range map[string]func() (string, error){
		"install":   func() (string, error) { return src.InstallCapture(context.Background()) },
		"uninstall": func() (string, error) { return src.UninstallCapture(context.Background(), false) },
	} {
		if _, err := do(); err == nil || !strings.Contains(err.Error(), "needs PostgreSQL or MariaDB/MySQL") {
			t.Errorf("%s on sqlite: %v", name, err)
		}
	}
}

func TestCaptureNames(t *testing.T) {
	for _, tc := range []struct{ route, table, fn string }{
		{"orders", "ferry_changes_orders", "ferry_changes_orders_fn"},
		{"Shop-Orders 2", "ferry_changes_shop_orders_2", "ferry_changes_shop_orders_2_fn"},
	} {
		c := (&CaptureConfig{Table: "orders"}).forRoute(tc.route, "id")
		n := namesOf(c)
		if c.IntegrationTable != tc.table || n.function != tc.fn || c.KeyColumn != "id" {
			t.Errorf("route %q: table %q, function %q, key %q", tc.route, c.IntegrationTable, n.function, c.KeyColumn)
		}
	}
	long := namesOf((&CaptureConfig{Table: "t"}).forRoute(strings.Repeat("x", 80), "id"))
	other := namesOf((&CaptureConfig{Table: "t"}).forRoute(strings.Repeat("x", 79)+"y", "id"))
	if len(long.function) > maxIdent || len(long.channel) > maxIdent || long.function == other.function {
		t.Errorf("long names: %q (%d) vs %q", long.function, len(long.function), other.function)
	}
}

// waitWake receives from a wake channel; the long limit only keeps a
// broken LISTEN from hanging the suite (it is not a timing assertion).
func waitWake(t *testing.T, ch <-chan struct{}, what string) bool {
	t.Helper()
	select {
	case _, ok := <-ch:
		return ok
	case <-time.After(30 * time.Second):
		t.Fatalf("no wake %s", what)
	}
	return false
}

// On PostgreSQL a captured write wakes the route (LISTEN/NOTIFY), also
// after the listening connection was cut; on MariaDB the channel never
// fires and closes when the context ends.
func TestCaptureWake(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 100, "", "")
		// A channel of its own: other tests' triggers notify ferry_orders.
		route := "wake_" + suffix(t)
		f.src.cfg.Capture = f.src.cfg.Capture.forRoute(route, "id")
		f.install(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch := f.src.Wake(ctx)
		if db.DB.dialect.name == "postgres" {
			if !waitWake(t, ch, "once listening") {
				t.Fatal("the wake channel closed")
			}
			db.exec(t, "INSERT INTO "+f.orders+" VALUES (1, 'paid', 10)")
			if !waitWake(t, ch, "after a captured insert") {
				t.Fatal("the wake channel closed")
			}
			// The database ends the listening session (a restart, a
			// failover): the source listens again and wakes once for
			// what it may have missed, then for new changes.
			var killed bool
			err := db.pool.QueryRow("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
				`LISTEN "ferry_`+route+`"`).Scan(&killed)
			if err != nil || !killed {
				t.Fatalf("terminate the listening session: %v (%v)", killed, err)
			}
			if !waitWake(t, ch, "after listening again") {
				t.Fatal("the wake channel closed")
			}
			db.exec(t, "INSERT INTO "+f.orders+" VALUES (2, 'paid', 20)")
			if !waitWake(t, ch, "after a captured insert on the new connection") {
				t.Fatal("the wake channel closed")
			}
		}
		cancel()
		for waitWake(t, ch, "closing the channel when the context ends") {
			if db.DB.dialect.name != "postgres" {
				t.Fatal("a MariaDB source woke")
			}
		}
	})
}

// A full read (ferry run --full) is the initial load: the whole view, by
// key, whatever the integration table holds, which it leaves alone.
func TestCaptureFullRead(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 2, "", "")
		db.exec(t, "INSERT INTO "+f.orders+" VALUES (1, 'paid', 10), (2, 'paid', 20), (3, 'paid', 30)") // before capture
		f.install(t)
		db.exec(t, "UPDATE "+f.orders+" SET total = 31 WHERE id = 3")
		var got []string
		err := f.src.Read(context.Background(), connector.ReadRequest{Full: true}, func(_ context.Context, p connector.Page) error {
			if p.Ack != nil {
				t.Error("a page of a full read carries an Ack: it would clear changes it did not read")
			}
			got = append(got, summary(p.Records))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := "1:paid:10 2:paid:20 | 3:paid:31"; strings.Join(got, " | ") != want {
			t.Errorf("full read %q, want %q", strings.Join(got, " | "), want)
		}
		if got := fmt.Sprint(f.changes(t)); got != "[3 U]" {
			t.Errorf("integration table after a full read %s, want [3 U]", got)
		}
	})
}

// Keys of the common types travel as text through the integration table
// and find their rows again (and their deletes).
func TestCaptureKeyTypes(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		types := map[string][]struct{ typ, a, b string }{
			"postgres": {
				{"bigint", "9007199254740993", "-7"},
				{"text", "'SKU/1 ä'", "'sku-2'"},
				{"uuid", "'6f1c8a4e-0d6b-4d7e-9b1a-2f3c4d5e6f70'", "'00000000-0000-0000-0000-000000000001'"},
				{"numeric(10,2)", "10.50", "3"},
			},
			"mysql": {
				{"BIGINT", "9007199254740993", "-7"},
				{"VARCHAR(40)", "'SKU/1 ä'", "'sku-2'"},
				{"DECIMAL(10,2)", "10.50", "3"},
			},
		}[db.DB.dialect.name]
		for _, tc := range types {
			t.Run(tc.typ, func(t *testing.T) {
				table, integ := "k_"+suffix(t), "kc_"+suffix(t)
				db.exec(t, "CREATE TABLE "+table+" (k "+tc.typ+" PRIMARY KEY, v INT NOT NULL)")
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
					t.Fatalf("records %+v: want the row of %s and a delete of %s", recs, tc.a, tc.b)
				}
			})
		}
	})
}

// The application's database user may write the watched table without
// any right on the integration table: its writes are still captured (the
// PostgreSQL function runs with its owner's rights, MariaDB's triggers
// with their definer's).
func TestCaptureWritesOfAnotherUser(t *testing.T) {
	captureDBs(t, func(t *testing.T, db *testDB) {
		f := newCaptureFixture(t, db, 100, "NEW.total > 0", "")
		f.install(t)
		user := "ferry_app_" + suffix(t)
		var app *sql.DB
		var err error
		switch db.DB.dialect.name {
		case "postgres":
			var schema string
			if err := db.pool.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
				t.Fatal(err)
			}
			db.exec(t, "CREATE ROLE "+user+" LOGIN")
			t.Cleanup(func() {
				db.pool.Exec("DROP OWNED BY " + user)
				db.pool.Exec("DROP ROLE " + user)
			})
			db.exec(t, "GRANT USAGE ON SCHEMA "+schema+" TO "+user)
			db.exec(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+f.orders+" TO "+user)
			u, _ := url.Parse(pgAdminDSN())
			u.User = url.User(user)
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			app, err = sql.Open("pgx", u.String())
		case "mysql":
			var database string
			if err := db.pool.QueryRow("SELECT DATABASE()").Scan(&database); err != nil {
				t.Fatal(err)
			}
			db.exec(t, "CREATE USER '"+user+"'@'%'")
			t.Cleanup(func() { db.pool.Exec("DROP USER '" + user + "'@'%'") })
			db.exec(t, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+database+"."+f.orders+" TO '"+user+"'@'%'")
			cfg, perr := mysql.ParseDSN(mysqlServer() + database)
			if perr != nil {
				t.Fatal(perr)
			}
			cfg.User, cfg.Passwd = user, ""
			app, err = sql.Open("mysql", cfg.FormatDSN())
		}
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		for _, q := range []string{
			"INSERT INTO " + f.orders + " VALUES (1, 'paid', 10)",
			"UPDATE " + f.orders + " SET total = 11 WHERE id = 1",
			"DELETE FROM " + f.orders + " WHERE id = 1",
		} {
			if _, err := app.Exec(q); err != nil {
				t.Fatalf("the application's %s: %v", q, err)
			}
		}
		if _, err := app.Exec("SELECT COUNT(*) FROM " + f.integ); err == nil {
			t.Fatal("the application user can read the integration table: the test proves nothing")
		}
		if got := fmt.Sprint(f.changes(t)); got != "[1 I 1 U 1 D]" {
			t.Errorf("changes %s, want [1 I 1 U 1 D]", got)
		}
	})
}
