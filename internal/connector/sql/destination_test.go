package sqlconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"
)

func createOrders(t testing.TB, db *testDB) {
	switch db.kind {
	case "postgres":
		db.exec(t, `CREATE TABLE orders (id bigint PRIMARY KEY, name varchar(20) NOT NULL, qty int NOT NULL CHECK (qty >= 0),
			amount numeric(12,2), placed_at timestamptz, meta jsonb, status text)`)
	case "mysql":
		db.exec(t, `CREATE TABLE orders (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT NOT NULL CHECK (qty >= 0),
			amount DECIMAL(12,2), placed_at DATETIME(6), meta JSON, status VARCHAR(20))`)
	case "sqlite":
		db.exec(t, `CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (length(name) <= 20), qty INTEGER NOT NULL CHECK (qty >= 0),
			amount DECIMAL(12,2), placed_at DATETIME, meta JSON, status TEXT)`)
	}
}

func order(i int, name string) connector.Delivery {
	return connector.Delivery{
		EntryID: int64(i),
		Key:     strconv.Itoa(i),
		Record: map[string]any{
			"id":        float64(i),
			"name":      name,
			"qty":       float64(i % 7),
			"amount":    json.Number(fmt.Sprintf("%d.25", i)),
			"placed_at": "2024-05-01T10:00:00.123456Z",
			"meta":      map[string]any{"tags": []any{"a", float64(i)}},
		},
	}
}

func send(t testing.TB, d *Destination, batch []connector.Delivery) []connector.Result {
	t.Helper()
	res, err := d.Send(context.Background(), batch)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d deliveries", len(res), len(batch))
	}
	return res
}

// TestDestinationBadRow: one row the database refuses in a batch of 500
// fails alone with the database's message; a replay changes nothing;
// updates and deletes in a later batch.
func TestDestinationBadRow(t *testing.T) {
	refusal := map[string]string{
		"postgres": "value too long for type character varying(20)",
		"mysql":    "Data too long for column 'name'",
		"sqlite":   "CHECK constraint failed",
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		createOrders(t, db)
		dest, err := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "id"})
		if err != nil {
			t.Fatal(err)
		}
		if !dest.OneRequestPerBatch() {
			t.Fatal("a batch is one transaction")
		}
		var batch []connector.Delivery
		for i := 1; i <= 500; i++ {
			batch = append(batch, order(i, fmt.Sprintf("order-%d", i)))
		}
		batch[249].Record["name"] = strings.Repeat("x", 30)
		delete(batch[10].Record, "id") // the record key fills the key column
		check := func(res []connector.Result) {
			t.Helper()
			for i, r := range res {
				if i == 249 {
					if r.OK || r.Retryable || !strings.Contains(r.Error, refusal[db.kind]) {
						t.Fatalf("bad row: %+v", r)
					}
					continue
				}
				if !r.OK {
					t.Fatalf("row %d: %+v", i+1, r)
				}
			}
		}
		check(send(t, dest, batch))
		const q = "SELECT id, name, qty, amount, placed_at, meta, status FROM orders ORDER BY id"
		before := dump(t, db, q)
		if n := strings.Count(before, "\n"); n != 499 {
			t.Fatalf("%d rows, want 499", n)
		}
		for _, want := range []string{"1|order-1|1|1.25|", "11|order-11|4|11.25|"} {
			if !strings.Contains(before, want) {
				t.Fatalf("table lacks %q:\n%s", want, before[:300])
			}
		}
		check(send(t, dest, batch))
		if after := dump(t, db, q); after != before {
			t.Fatal("replaying the batch changed the table")
		}

		// Updates, a delete, a field without a column, one key twice.
		up := []connector.Delivery{order(1, "renamed"), {Key: "3", Record: map[string]any{"id": float64(3)}, Deleted: true},
			order(4, "four"), order(5, "five"), order(4, "four again")}
		up[3].Record["colour"] = "red"
		res := send(t, dest, up)
		if !res[0].OK || !res[1].OK || !res[2].OK || !res[4].OK {
			t.Fatalf("results %+v", res)
		}
		if res[3].OK || res[3].Retryable || !strings.Contains(res[3].Error, `field "colour" has no column in table orders`) {
			t.Fatalf("unknown column: %+v", res[3])
		}
		now := dump(t, db, q)
		if !strings.Contains(now, "1|renamed|") || strings.Contains(now, "\n3|") || !strings.Contains(now, "4|four again|") {
			t.Fatalf("after updates:\n%s", now[:400])
		}
	})
}

// TestDestinationStatement runs a user's statement per record; a refused
// record fails alone, the ones before and after it are written.
func TestDestinationStatement(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		db.exec(t, "CREATE TABLE notes (order_id VARCHAR(20) NOT NULL, note VARCHAR(50) NOT NULL, n INT)")
		dest, err := NewDestination(db.DB, DestinationConfig{
			Statement: "INSERT INTO notes (order_id, note, n) VALUES (:key, :info.note, :n) -- :not_a_param",
		})
		if err != nil {
			t.Fatal(err)
		}
		var batch []connector.Delivery
		for i := 1; i <= 40; i++ {
			batch = append(batch, connector.Delivery{Key: "o" + strconv.Itoa(i), Record: map[string]any{
				"info": map[string]any{"note": "note " + strconv.Itoa(i)}, "n": float64(i)}})
		}
		batch[6].Record["info"] = map[string]any{"note": nil}
		delete(batch[20].Record, "n")
		batch[30].Deleted = true
		res := send(t, dest, batch)
		for i, r := range res {
			switch i {
			case 6:
				if r.OK || r.Retryable || r.Error == "" {
					t.Fatalf("NULL note: %+v", r)
				}
			case 20:
				if r.OK || !strings.Contains(r.Error, `parameter :n: the record has no field "n"`) {
					t.Fatalf("missing field: %+v", r)
				}
			case 30:
				if r.OK || r.Retryable || !strings.Contains(r.Error, "does not apply deletes") {
					t.Fatalf("delete: %+v", r)
				}
			default:
				if !r.OK {
					t.Fatalf("record %d: %+v", i, r)
				}
			}
		}
		if got := dump(t, db, "SELECT COUNT(*), SUM(n) FROM notes"); got != "37|761|\n" {
			t.Fatalf("notes: %q", got)
		}
	})
}

// TestPreview renders without writing.
func TestPreview(t *testing.T) {
	db := newSQLite(t)
	createOrders(t, db)
	dest, _ := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "id", Columns: []string{"id", "name", "status"}})
	p, err := dest.Preview(context.Background(), order(7, "seven"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != "UPSERT" || p.URL != "sqlite table orders" || string(p.Body) != `{"id":7,"name":"seven","status":null}` {
		t.Fatalf("%+v %s", p, p.Body)
	}
	st, _ := NewDestination(db.DB, DestinationConfig{Statement: "UPDATE orders SET status = :s WHERE id = :key"})
	p, err = st.Preview(context.Background(), connector.Delivery{Key: "7", Record: map[string]any{"s": "x"}})
	if err != nil || p.Method != "EXEC" || string(p.Body) != `{"key":"7","s":"x"}` {
		t.Fatalf("%+v %s %v", p, p.Body, err)
	}
	if got := dump(t, db, "SELECT COUNT(*) FROM orders"); got != "0|\n" {
		t.Fatalf("preview wrote: %s", got)
	}
}

// TestOperation runs its statement with the record's fields and vars.
func TestOperation(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		createOrders(t, db)
		db.exec(t, "INSERT INTO orders (id, name, qty) VALUES (7, 'seven', 1)")
		op, err := NewOperation(db.DB, OperationConfig{Statement: "UPDATE orders SET status = :status, name = :error WHERE id = :key"})
		if err != nil {
			t.Fatal(err)
		}
		d := connector.Delivery{Key: "7", Record: map[string]any{"status": "Delivered"}}
		r := op.Do(context.Background(), d, map[string]any{"error": "was late"})
		if !r.OK || r.Response != "1 rows affected" {
			t.Fatalf("%+v", r)
		}
		if got := dump(t, db, "SELECT name, status FROM orders"); got != "was late|Delivered|\n" {
			t.Fatalf("row: %q", got)
		}
		r = op.Do(context.Background(), connector.Delivery{Key: "7", Record: map[string]any{}}, nil)
		if r.OK || !strings.Contains(r.Error, "no field \"status\"") {
			t.Fatalf("missing field: %+v", r)
		}
		bad, _ := NewOperation(db.DB, OperationConfig{Statement: "UPDATE orders SET qty = -1 WHERE id = :key"})
		if r = bad.Do(context.Background(), d, nil); r.OK || r.Retryable || r.Error == "" {
			t.Fatalf("refused: %+v", r)
		}
	})
}

// TestDestinationPostgresTypes: an enum column (a type pgx knows only by
// number) falls back from unnest to a VALUES list; bytes round-trip.
func TestDestinationPostgresTypes(t *testing.T) {
	db := newPostgres(t)
	db.exec(t, "CREATE TYPE mood AS ENUM ('ok', 'sad')")
	db.exec(t, "CREATE TABLE moods (id int PRIMARY KEY, m mood, b bytea)")
	dest, err := NewDestination(db.DB, DestinationConfig{Table: "moods"})
	if err != nil {
		t.Fatal(err)
	}
	res := send(t, dest, []connector.Delivery{
		{Key: "1", Record: map[string]any{"id": float64(1), "m": "sad", "b": "AP8Q"}},
		{Key: "2", Record: map[string]any{"id": float64(2), "m": "angry"}},
	})
	if !res[0].OK || res[1].OK || !strings.Contains(res[1].Error, "invalid input value for enum mood") {
		t.Fatalf("%+v", res)
	}
	if got := dump(t, db, "SELECT id, m, encode(b, 'hex') FROM moods"); got != "1|sad|00ff10|\n" {
		t.Fatalf("%q", got)
	}
	noEnum, _ := NewDestination(db.DB, DestinationConfig{Table: "orders2"})
	db.exec(t, "CREATE TABLE orders2 (id int PRIMARY KEY, b bytea)")
	if res := send(t, noEnum, []connector.Delivery{{Key: "3", Record: map[string]any{"b": "AP8Q"}}}); !res[0].OK {
		t.Fatalf("%+v", res)
	}
	if got := dump(t, db, "SELECT id, encode(b, 'hex') FROM orders2"); got != "3|00ff10|\n" {
		t.Fatalf("%q", got)
	}
}

// TestDestinationConstraintDetail: PostgreSQL's detail (which key exists,
// the failing row) is part of the record's error.
func TestDestinationConstraintDetail(t *testing.T) {
	db := newPostgres(t)
	db.exec(t, "CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE)")
	db.exec(t, "INSERT INTO people VALUES (1, 'ann@example.com')")
	dest, _ := NewDestination(db.DB, DestinationConfig{Table: "people"})
	res := send(t, dest, []connector.Delivery{{Key: "2", Record: map[string]any{"email": "ann@example.com"}}})
	if res[0].OK || res[0].Retryable || !strings.Contains(res[0].Error, "Key (email)=(ann@example.com) already exists") {
		t.Fatalf("%+v", res[0])
	}
}

// TestDestinationCompositeKey upserts and deletes by a two-column key.
func TestDestinationCompositeKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		db.exec(t, "CREATE TABLE order_lines (order_id INT NOT NULL, line_no INT NOT NULL, qty INT NOT NULL, PRIMARY KEY (order_id, line_no))")
		dest, err := NewDestination(db.DB, DestinationConfig{Table: "order_lines", Key: "order_id, line_no"})
		if err != nil {
			t.Fatal(err)
		}
		line := func(o, l, q int) connector.Delivery {
			return connector.Delivery{Key: fmt.Sprintf("%d/%d", o, l), Record: map[string]any{"order_id": float64(o), "line_no": float64(l), "qty": float64(q)}}
		}
		batch := []connector.Delivery{line(1, 1, 5), line(1, 2, 6), line(2, 1, 7)}
		for range 2 { // the replay changes nothing
			for _, r := range send(t, dest, batch) {
				if !r.OK {
					t.Fatalf("%+v", r)
				}
			}
		}
		del := connector.Delivery{Key: "1/2", Record: map[string]any{"order_id": float64(1), "line_no": float64(2)}, Deleted: true}
		noKey := connector.Delivery{Key: "2/1", Record: map[string]any{"order_id": float64(2)}, Deleted: true}
		res := send(t, dest, []connector.Delivery{line(1, 1, 9), del, noKey})
		if !res[0].OK || !res[1].OK || res[2].OK || !strings.Contains(res[2].Error, "lacks a key column") {
			t.Fatalf("%+v", res)
		}
		if got := dump(t, db, "SELECT order_id, line_no, qty FROM order_lines ORDER BY order_id, line_no"); got != "1|1|9|\n2|1|7|\n" {
			t.Fatalf("%q", got)
		}
	})
}

// TestDestinationCancelled: a cancelled context ends the batch; nothing
// is written and every record may be retried.
func TestDestinationCancelled(t *testing.T) {
	db := newSQLite(t)
	createOrders(t, db)
	dest, _ := NewDestination(db.DB, DestinationConfig{Table: "orders"})
	send(t, dest, []connector.Delivery{order(1, "one")}) // learns the columns
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := dest.Send(ctx, []connector.Delivery{order(2, "two"), order(3, "three")})
	if !errors.Is(err, context.Canceled) || len(res) != 2 || res[0].OK || !res[0].Retryable || res[1].OK {
		t.Fatalf("%v %+v", err, res)
	}
	if got := dump(t, db, "SELECT COUNT(*) FROM orders"); got != "1|\n" {
		t.Fatalf("%q", got)
	}
}

// TestSchemaChange: a column added while ferry runs is read by the next
// read and written once the destination's column list is stale.
func TestSchemaChange(t *testing.T) {
	db := newSQLite(t)
	createOrders(t, db)
	dest, _ := NewDestination(db.DB, DestinationConfig{Table: "orders"})
	src, _ := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM orders", Key: "id"})
	send(t, dest, []connector.Delivery{order(1, "one")})
	readAll(t, src, connector.ReadRequest{})
	db.exec(t, "ALTER TABLE orders ADD COLUMN colour TEXT")
	rec := order(2, "two")
	rec.Record["colour"] = "red"
	if res := send(t, dest, []connector.Delivery{rec}); res[0].OK {
		t.Fatal("the column list is trusted for a minute")
	}
	dest.mu.Lock()
	dest.loaded = time.Time{}
	dest.mu.Unlock()
	if res := send(t, dest, []connector.Delivery{rec}); !res[0].OK {
		t.Fatalf("%+v", res[0])
	}
	recs := readAll(t, src, connector.ReadRequest{})
	if len(recs) != 2 || recs[1].Data["colour"] != "red" || recs[0].Data["colour"] != nil {
		t.Fatalf("%+v", recs)
	}
	if _, ok := recs[0].Data["colour"]; !ok {
		t.Fatal("the new column is not read")
	}
}

// TestDestinationInsertFirst: on PostgreSQL a batch of new rows is
// written by a plain INSERT; a batch that meets existing rows falls back
// to the upsert within the batch (every row written, the existing ones
// updated) and the next batches go straight to the upsert; a bad row
// among new ones still fails alone.
func TestDestinationInsertFirst(t *testing.T) {
	db := newPostgres(t)
	createOrders(t, db)
	d, err := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(from, to int, name string) []connector.Delivery {
		var out []connector.Delivery
		for i := from; i <= to; i++ {
			out = append(out, order(i, fmt.Sprintf("%s %d", name, i)))
		}
		return out
	}
	allOK := func(res []connector.Result) {
		t.Helper()
		for i, r := range res {
			if !r.OK {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.pool.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	allOK(send(t, d, batch(1, 1, "new"))) // the first batch is an upsert: it proves the key unique
	allOK(send(t, d, batch(2, 100, "new")))
	if n := d.upsertOnly.Load(); n != 0 {
		t.Fatalf("new rows: %d batches set to upsert only", n)
	}
	// Rows 51-100 exist: the INSERT fails on its key and the upsert runs.
	allOK(send(t, d, batch(51, 150, "second")))
	if n := d.upsertOnly.Load(); n != upsertSkip {
		t.Fatalf("after existing rows: %d batches set to upsert only, want %d", n, upsertSkip)
	}
	if n := count(`SELECT count(*) FROM orders`); n != 150 {
		t.Fatalf("%d rows, want 150", n)
	}
	if n := count(`SELECT count(*) FROM orders WHERE name LIKE 'second %'`); n != 100 {
		t.Fatalf("%d rows updated or inserted by the second batch, want 100", n)
	}
	allOK(send(t, d, batch(1, 10, "third")))
	if n := d.upsertOnly.Load(); n != upsertSkip-1 {
		t.Fatalf("the next batch: %d batches left upsert only, want %d", n, upsertSkip-1)
	}
	if n := count(`SELECT count(*) FROM orders WHERE name LIKE 'third %'`); n != 10 {
		t.Fatalf("%d rows updated by the third batch, want 10", n)
	}
	// A bad row among new rows, tried as a plain INSERT first.
	d.upsertOnly.Store(0)
	bad := batch(201, 260, "new")
	bad[30].Record["qty"] = float64(-1)
	res := send(t, d, bad)
	for i, r := range res {
		if r.OK == (i == 30) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if !strings.Contains(res[30].Error, "check") {
		t.Fatalf("the bad row's error: %q", res[30].Error)
	}
	if n := count(`SELECT count(*) FROM orders WHERE id > 200`); n != 59 {
		t.Fatalf("%d of the batch's rows written, want 59", n)
	}
}

// sqlLog records the statements a pgx connection runs.
type sqlLog struct {
	mu  sync.Mutex
	sql []string
}

func (l *sqlLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sql = append(l.sql, strings.Fields(data.SQL)[0])
	return ctx
}

func (l *sqlLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements' first words since the last take.
func (l *sqlLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.sql, " ")
	l.sql = nil
	return s
}

// TestDestinationOneStatement: on PostgreSQL a batch written by one
// statement is sent alone, without a transaction and savepoint around it
// (one round trip instead of five); a batch with a refused row goes on
// to the transaction that isolates it, and the others are written.
func TestDestinationOneStatement(t *testing.T) {
	tdb := newPostgres(t)
	createOrders(t, tdb)
	var schema string
	if err := tdb.pool.QueryRow("SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	pc, err := pgx.ParseConfig(pgAdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	pc.RuntimeParams["search_path"] = schema
	log := &sqlLog{}
	pc.Tracer = log
	db := &DB{name: "traced", dialect: postgresDialect, pool: stdlib.OpenDB(*pc), red: redact.New(), where: "postgres system traced"}
	defer db.Close()
	d, err := NewDestination(db, DestinationConfig{Table: "orders", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	var batch []connector.Delivery
	for i := 1; i <= 50; i++ {
		batch = append(batch, order(i, "new"))
	}
	send(t, d, batch[:1]) // learns the columns
	log.take()
	for _, r := range send(t, d, batch[1:]) {
		if !r.OK {
			t.Fatalf("%+v", r)
		}
	}
	if got := log.take(); got != "INSERT" {
		t.Fatalf("a batch of new rows ran %q, want one INSERT", got)
	}
	for i := range batch {
		batch[i].Record["name"] = "again"
	}
	batch[7].Record["qty"] = float64(-1)
	res := send(t, d, batch)
	for i, r := range res {
		if r.OK == (i == 7) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if got := log.take(); !strings.HasPrefix(got, "INSERT INSERT begin SAVEPOINT INSERT ROLLBACK") {
		t.Fatalf("a batch with a refused row ran %q: want the statement (INSERT, then the upsert) and then the transaction isolating the row", got)
	}
	if got := dump(t, tdb, "SELECT COUNT(*) FROM orders WHERE name = 'again'"); got != "49|\n" {
		t.Fatalf("%q rows updated, want 49", got)
	}
}

// TestDestinationUnnestText: the text[] parameters of PostgreSQL's
// unnest keep NULL apart from the empty string and from the text "NULL",
// and carry quotes, backslashes, braces and non-ASCII as they are.
func TestDestinationUnnestText(t *testing.T) {
	db := newPostgres(t)
	createOrders(t, db)
	d, err := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id int, name string, status any) connector.Delivery {
		return connector.Delivery{Key: strconv.Itoa(id), Record: map[string]any{"id": float64(id), "name": name, "qty": float64(1), "status": status}}
	}
	res := send(t, d, []connector.Delivery{
		rec(1, "", nil), rec(2, `héllo "q" \ {a,b}`, "NULL"), rec(3, "x", ""), rec(4, "{}", `\N`),
	})
	for i, r := range res {
		if !r.OK {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	got := dump(t, db, "SELECT id, name, COALESCE(status, '<null>') FROM orders ORDER BY id")
	want := "1||<null>|\n" + `2|héllo "q" \ {a,b}|NULL|` + "\n3|x||\n" + `4|{}|\N|` + "\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// A plain INSERT is tried first only once an upsert proved the key
// unique: on a table without a unique index on the key, every send is
// refused as before (the upsert's ON CONFLICT needs one), instead of a
// replay adding another row.
func TestDestinationInsertFirstNeedsAUniqueKey(t *testing.T) {
	db := newPostgres(t)
	if _, err := db.pool.Exec(`CREATE TABLE plain (id bigint NOT NULL, name text)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.pool.Exec(`DROP TABLE plain`) })
	d, err := NewDestination(db.DB, DestinationConfig{Table: "plain", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		res := send(t, d, []connector.Delivery{{Key: "1", Record: map[string]any{"id": float64(1), "name": "a"}}})
		if res[0].OK || !strings.Contains(res[0].Error, "ON CONFLICT") {
			t.Fatalf("round %d: %+v; want the upsert's refusal (no unique index on the key)", round, res[0])
		}
	}
	var n int
	if err := db.pool.QueryRow(`SELECT count(*) FROM plain`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows written for key 1 without a unique index, want none", n)
	}
}

// A batch the server refused (a lock timeout) did not commit: it is a
// plain retry, not an unknown outcome pinned to its batch.
func TestDestinationServerRefusalIsNotUnknown(t *testing.T) {
	db := newPostgres(t)
	createOrders(t, db)
	var schema string
	if err := db.pool.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(pgAdminDSN(), "?") {
		sep = "&"
	}
	impatient := mustOpen(t, "postgres", &PostgresConfig{DSN: pgAdminDSN() + sep + "search_path=" + schema + "&lock_timeout=300"})
	d, err := NewDestination(impatient, DestinationConfig{Table: "orders", Key: "id"})
	if err != nil {
		t.Fatal(err)
	}
	holder, err := db.pool.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`INSERT INTO orders (id, name, qty) VALUES (5, 'held', 1)`); err != nil {
		t.Fatal(err)
	}
	res := send(t, d, []connector.Delivery{order(5, "mine")})
	if res[0].OK || !res[0].Retryable || res[0].Unknown {
		t.Fatalf("%+v; want a retryable failure with a known outcome (the server refused it)", res[0])
	}
}

func TestServerRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&dbError{msg: "insert: lock timeout", inner: &pgconn.PgError{Code: "55P03"}}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&dbError{msg: "insert: unexpected EOF", inner: io.ErrUnexpectedEOF}, false},
		{context.Canceled, false},
	} {
		if got := serverRefused(tc.err); got != tc.want {
			t.Errorf("serverRefused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
