package sqlconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func stamp(d time.Duration) string { return base.Add(d).Format("2006-01-02 15:04:05.000000") }

// insertRows inserts rows (id, name, updated_at) in multi-row statements.
func insertRows(t testing.TB, db *testDB, table string, ids []int, name string, at func(id int) any) {
	t.Helper()
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var ph []string
		var args []any
		for _, id := range chunk {
			n := len(args)
			ph = append(ph, "("+db.dialect.ph(n+1)+", "+db.dialect.ph(n+2)+", "+db.dialect.ph(n+3)+")")
			args = append(args, id, fmt.Sprintf("%s-%d", name, id), at(id))
		}
		db.exec(t, "INSERT INTO "+table+" (id, name, updated_at) VALUES "+strings.Join(ph, ", "), args...)
	}
}

func ids(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func createItems(t testing.TB, db *testDB) {
	switch db.kind {
	case "postgres":
		db.exec(t, "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, updated_at timestamptz)")
	case "mysql":
		db.exec(t, "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, updated_at DATETIME(6))")
	case "sqlite":
		db.exec(t, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at DATETIME)")
	}
	db.exec(t, "CREATE INDEX items_cursor ON items (updated_at, id)")
}

// TestSourceIncremental simulates the engine over three incremental reads
// with inserts and updates in between: a group of 500 rows shares one
// updated_at (more than a page), each change is read exactly once.
func TestSourceIncremental(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		createItems(t, db)
		insertRows(t, db, "items", ids(1, 10000), "v1", func(id int) any {
			if id > 4000 && id <= 4500 {
				return stamp(4000 * time.Second) // 500 rows (and id 4000 too) share this
			}
			return stamp(time.Duration(id) * time.Second)
		})
		insertRows(t, db, "items", []int{10500}, "v1", func(int) any { return nil })
		src, err := NewSource(db.DB, SourceConfig{Query: "SELECT id, name, updated_at FROM items", Key: "id", Cursor: "updated_at", PageSize: 128})
		if err != nil {
			t.Fatal(err)
		}
		if !src.Incremental() {
			t.Fatal("a source with a cursor must be incremental")
		}

		// read is one run: every record once, cursors in order; it returns
		// the keys read and the cursor the engine would store.
		read := func(cursor string) (map[string]connector.SourceRecord, string) {
			t.Helper()
			recs := readAll(t, src, connector.ReadRequest{Cursor: cursor})
			got := map[string]connector.SourceRecord{}
			last := cursor
			for i, r := range recs {
				if _, dup := got[r.Key]; dup {
					t.Fatalf("key %s read twice in one read", r.Key)
				}
				got[r.Key] = r
				if r.Cursor == "" {
					continue // a NULL cursor (first read only)
				}
				if i > 0 && recs[i-1].Cursor != "" && cursorBefore(r.Cursor, recs[i-1].Cursor) {
					t.Fatalf("cursor went back: %s after %s", r.Cursor, recs[i-1].Cursor)
				}
				last = r.Cursor
			}
			return got, last
		}
		expect := func(got map[string]connector.SourceRecord, want []int) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for _, id := range want {
				if _, ok := got[strconv.Itoa(id)]; !ok {
					t.Fatalf("key %d was not read", id)
				}
			}
		}

		got, cursor := read("")
		expect(got, append(ids(1, 10000), 10500))
		if got["10500"].Data["updated_at"] != nil {
			t.Fatalf("NULL cursor row: %v", got["10500"].Data)
		}
		if db.kind != "sqlite" && cursor != "2024-01-01T02:46:40Z" {
			t.Fatalf("stored cursor %q, want RFC 3339 in UTC", cursor)
		}

		// Run 2: 300 new rows sharing one updated_at, 200 updates (half
		// of them in the big group).
		day := 24 * time.Hour
		insertRows(t, db, "items", ids(10001, 10300), "v1", func(int) any { return stamp(day) })
		upd := append(ids(1, 100), ids(4001, 4100)...)
		setRange := func(name string, at string, from, to int) {
			db.exec(t, "UPDATE items SET name = '"+name+"', updated_at = "+db.dialect.ph(1)+" WHERE id BETWEEN "+strconv.Itoa(from)+" AND "+strconv.Itoa(to), at)
		}
		setRange("v2", stamp(day+time.Second), 1, 50)
		setRange("v2", stamp(day+2*time.Second), 51, 100)
		setRange("v2", stamp(day+time.Second), 4001, 4100)
		got, cursor = read(cursor)
		expect(got, append(ids(10001, 10300), upd...))
		if got["4050"].Data["name"] != "v2" {
			t.Fatalf("updated row read as %v", got["4050"].Data)
		}

		// Run 3: rows updated again, more inserts at one shared value.
		upd3 := append(ids(10001, 10050), ids(4101, 4150)...)
		setRange("v3", stamp(2*day), 10001, 10050)
		setRange("v3", stamp(2*day), 4101, 4150)
		insertRows(t, db, "items", ids(10301, 10400), "v1", func(int) any { return stamp(2 * day) })
		got, cursor = read(cursor)
		expect(got, append(upd3, ids(10301, 10400)...))

		// Nothing changed: nothing read.
		got, _ = read(cursor)
		expect(got, nil)

		// A full read reads everything again.
		all := readAll(t, src, connector.ReadRequest{Cursor: cursor, Full: true})
		if len(all) != 10401 {
			t.Fatalf("full read: %d records, want 10401", len(all))
		}

		// Existing: which keys the query still returns.
		db.exec(t, "DELETE FROM items WHERE id = 2")
		ex, err := src.Existing(context.Background(), []string{"1", "2", "99999", "abc", "10400"})
		if err != nil {
			t.Fatal(err)
		}
		if !ex["1"] || ex["2"] || ex["99999"] || ex["abc"] || !ex["10400"] || len(ex) != 2 {
			t.Fatalf("existing: %v", ex)
		}
	})
}

// TestSourceWithoutCursor pages by key and stops when fn says so.
func TestSourceWithoutCursor(t *testing.T) {
	db := newSQLite(t)
	createItems(t, db)
	insertRows(t, db, "items", ids(1, 1000), "x", func(int) any { return nil })
	src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM items -- all of them\nWHERE id % 2 = 0 -- even ids only", Key: "ID", PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if src.Incremental() {
		t.Fatal("no cursor: not incremental")
	}
	recs := readAll(t, src, connector.ReadRequest{})
	if len(recs) != 500 || recs[0].Key != "2" || recs[499].Key != "1000" {
		t.Fatalf("read %d records, first %v", len(recs), recs[0])
	}
	pages := 0
	err = src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		pages++
		if p.Number != 1 || !strings.Contains(p.URL, "from the start") {
			t.Errorf("first page: %d %q", p.Number, p.URL)
		}
		return connector.ErrStop
	})
	if err != nil || pages != 1 {
		t.Fatalf("ErrStop: err %v after %d pages", err, pages)
	}
	semi, _ := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM items WHERE id <= 10 ;\n", Key: "id"})
	if n := len(readAll(t, semi, connector.ReadRequest{})); n != 10 {
		t.Fatalf("a query ending with ;: %d records", n)
	}
	boom := errors.New("boom")
	if err := src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return boom }); err != boom {
		t.Fatalf("fn's error comes back unchanged, got %v", err)
	}
}

// TestSourceUnknownColumn names the column and the query's columns.
func TestSourceUnknownColumn(t *testing.T) {
	db := newSQLite(t)
	createItems(t, db)
	src, _ := NewSource(db.DB, SourceConfig{Query: "SELECT id, name FROM items", Key: "id", Cursor: "changed"})
	err := src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `no column "changed"`) || !strings.Contains(err.Error(), "id, name") {
		t.Fatalf("got %v", err)
	}
}

// TestSourceTypes reads one row of every type and one of NULLs and
// compares the JSON exactly.
func TestSourceTypes(t *testing.T) {
	type typeCase struct {
		ddl, insert string
		json        []string
		want        string // JSON of the first row (decimals: string)
		wantNumber  string // the decimal column with decimals: number
	}
	cases := map[string]typeCase{
		"postgres": {
			ddl: `CREATE TABLE types (id int8 PRIMARY KEY, big int8, amount numeric(20,4), ts timestamptz, naive timestamp(6),
				d date, b bytea, j jsonb, js json, flag bool, f float8, t text, u uuid, nada text)`,
			insert: `INSERT INTO types VALUES (1, 4611686018427387905, 1234567890123456.1234, '2024-03-01 10:20:30.123456+02',
				'2024-03-01 10:20:30.5', '2024-02-29', '\x00ff10', '{"a":[1,2.5,"x"],"n":12345678901234567890}', '[true,null]',
				true, 1.5, 'héllo', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL),
				(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
			want: `{"amount":"1234567890123456.1234","b":"AP8Q","big":4611686018427387905,"d":"2024-02-29","f":1.5,"flag":true,"id":1,` +
				`"j":{"a":[1,2.5,"x"],"n":12345678901234567890},"js":[true,null],"nada":null,"naive":"2024-03-01T10:20:30.5Z",` +
				`"t":"héllo","ts":"2024-03-01T08:20:30.123456Z","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}`,
			wantNumber: "1234567890123456.1234",
		},
		"mysql": {
			ddl: `CREATE TABLE types (id BIGINT PRIMARY KEY, big BIGINT UNSIGNED, amount DECIMAL(20,4), ts TIMESTAMP(6) NULL,
				naive DATETIME(6), d DATE, b BLOB, j JSON, flag BOOLEAN, f DOUBLE, t VARCHAR(20), e ENUM('a','b'), nada TEXT)`,
			insert: `INSERT INTO types VALUES (1, 18446744073709551615, 1234567890123456.1234, '2024-03-01 08:20:30.123456',
				'2024-03-01 10:20:30.5', '2024-02-29', X'00ff10', '{"a":[1,2.5,"x"],"n":12345678901234567890}', TRUE, 1.5, 'héllo', 'b', NULL),
				(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
			json: []string{"j"},
			want: `{"amount":"1234567890123456.1234","b":"AP8Q","big":18446744073709551615,"d":"2024-02-29","e":"b","f":1.5,"flag":1,"id":1,` +
				`"j":{"a":[1,2.5,"x"],"n":12345678901234567890},"nada":null,"naive":"2024-03-01T10:20:30.5Z",` +
				`"t":"héllo","ts":"2024-03-01T08:20:30.123456Z"}`,
			wantNumber: "1234567890123456.1234",
		},
		"sqlite": {
			ddl:    `CREATE TABLE types (id INTEGER PRIMARY KEY, big INTEGER, amount DECIMAL(20,4), ts DATETIME, d DATE, b BLOB, j JSON, f REAL, t TEXT, nada TEXT)`,
			insert: `INSERT INTO types VALUES (1, 9007199254740993, '12345.6789', '2024-03-01 10:20:30.123456+02:00', '2024-02-29', X'00ff10', '{"a":[1,2.5,"x"]}', 1.5, 'héllo', NULL), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
			want: `{"amount":"12345.6789","b":"AP8Q","big":9007199254740993,"d":"2024-02-29","f":1.5,"id":1,` +
				`"j":{"a":[1,2.5,"x"]},"nada":null,"t":"héllo","ts":"2024-03-01T08:20:30.123456Z"}`,
			wantNumber: "12345.6789",
		},
	}
	eachDB(t, func(t *testing.T, db *testDB) {
		c := cases[db.kind]
		db.exec(t, c.ddl)
		db.exec(t, c.insert)
		for _, decimals := range []string{"string", "number"} {
			src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM types", Key: "id", Decimals: decimals, JSON: c.json})
			if err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, src, connector.ReadRequest{})
			if len(recs) != 2 {
				t.Fatalf("%d records", len(recs))
			}
			got, err := jsonx.Marshal(recs[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if decimals == "number" {
				want = strings.Replace(want, `"`+c.wantNumber+`"`, c.wantNumber, 1)
				if _, ok := recs[0].Data["amount"].(string); ok {
					t.Fatal("decimals: number gave a string")
				}
			}
			if string(got) != want {
				t.Fatalf("decimals %s:\n got %s\nwant %s", decimals, got, want)
			}
			// The row of NULLs: every column null except the key.
			for k, v := range recs[1].Data {
				if k != "id" && v != nil {
					t.Fatalf("NULL column %s read as %#v", k, v)
				}
			}
		}
	})
}

// TestCursorRoundTrip: a cursor stored as text selects the same rows as
// the value it came from, for integer, timestamp and text cursors.
func TestCursorRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, db *testDB) {
		createItems(t, db)
		insertRows(t, db, "items", ids(1, 30), "n", func(id int) any { return stamp(time.Duration(id) * 1500 * time.Microsecond) })
		if db.kind != "sqlite" { // a date cursor: six rows on one day
			src, _ := NewSource(db.DB, SourceConfig{Query: "SELECT id, CAST(updated_at AS DATE) AS day FROM items WHERE id <= 3 OR id > 27", Key: "id", Cursor: "day", PageSize: 2})
			all := readAll(t, src, connector.ReadRequest{})
			if len(all) != 6 || all[0].Cursor != "2024-01-01" {
				t.Fatalf("date cursor: %+v", all)
			}
			if rest := readAll(t, src, connector.ReadRequest{Cursor: "2024-01-01"}); len(rest) != 0 {
				t.Fatalf("after the only day: %+v", rest)
			}
			if rest := readAll(t, src, connector.ReadRequest{Cursor: "2023-12-31"}); len(rest) != 6 {
				t.Fatalf("after the day before: %+v", rest)
			}
		}
		cursors := []string{"updated_at", "id"}
		if db.kind == "sqlite" { // text cursors: SQLite only (see TestTextCursorRefused)
			cursors = append(cursors, "name")
		}
		for _, cursor := range cursors {
			key := "id"
			if cursor == "id" {
				key = "name"
			}
			src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM items", Key: key, Cursor: cursor, PageSize: 7})
			if err != nil {
				t.Fatal(err)
			}
			all := readAll(t, src, connector.ReadRequest{})
			mid := all[11].Cursor
			rest := readAll(t, src, connector.ReadRequest{Cursor: mid})
			if len(rest) != 18 || rest[0].Key != all[12].Key {
				t.Fatalf("cursor %s after %q: %d records (first %v), want 18 from %s", cursor, mid, len(rest), rest, all[12].Key)
			}
		}
	})
}

// cursorBefore compares RFC 3339 cursors as times, others as text.
func cursorBefore(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	if errA == nil && errB == nil {
		return ta.Before(tb)
	}
	return a < b
}

// TestDecimalNumbers: decimals: number gives a float64 only when it is
// exactly the decimal (expressions compute with it), else json.Number.
func TestDecimalNumbers(t *testing.T) {
	col := column{name: "amount", kind: kDecimal}
	for _, c := range []struct {
		in   string
		want any
	}{
		{"21.10", 21.1}, {"-0.50", -0.5}, {"0", 0.0}, {"100", 100.0}, {"1234567890123456.1234", json.Number("1234567890123456.1234")},
		{"0.1", 0.1}, {"12345678901234567890", json.Number("12345678901234567890")}, {"NaN", "NaN"},
	} {
		got, err := decode(&col, []byte(c.in), true)
		if err != nil || got != c.want {
			t.Fatalf("%s: got %#v (%v), want %#v", c.in, got, err, c.want)
		}
		if s, _ := decode(&col, c.in, false); s != c.in {
			t.Fatalf("%s as string: %#v", c.in, s)
		}
	}
}

// TestSourceEmptyKey refuses a row with an empty key, naming the column: an
// empty key would make every such row one queue entry.
func TestSourceEmptyKey(t *testing.T) {
	db := newSQLite(t)
	createItems(t, db)
	src, _ := NewSource(db.DB, SourceConfig{Query: "SELECT '' AS ref, name FROM items", Key: "ref"})
	insertRows(t, db, "items", ids(1, 3), "x", func(int) any { return nil })
	err := src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `an empty key in column "ref"`) {
		t.Fatalf("got %v", err)
	}
}
