package sqlconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/cputime"
)

// benchRows is the table size of the source benchmarks (FERRY_BENCH_ROWS
// to change it: 1000000 shows the peak heap does not grow with it).
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("FERRY_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

// BenchmarkSourcePostgres reads a table of benchRows orders through the
// source (keyset pages of 1000) and reports rows/s and the peak Go heap
// seen between pages: it stays at a page's worth however many rows the
// table has, since rows are streamed page by page.
//
//	go test -run '^$' -bench SourcePostgres -benchtime 1x ./internal/connector/sql/
//	FERRY_BENCH_ROWS=1000000 go test -run '^$' -bench SourcePostgres -benchtime 1x ./internal/connector/sql/
func BenchmarkSourcePostgres(b *testing.B) {
	db := newPostgres(b)
	n := benchRows()
	db.exec(b, `CREATE TABLE orders (id bigint PRIMARY KEY, number text, email text, status text, total numeric(12,2),
		currency text, country text, updated_at timestamptz NOT NULL)`)
	db.exec(b, `INSERT INTO orders SELECT i, 'SO-' || i, 'customer' || (i % 5000) || '@example.com',
		CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'paid' END, 20 + (i % 500) + (10 + i % 90) / 100.0, 'EUR', 'DE',
		timestamptz '2026-01-01 00:00:00+00' + (i / 7) * interval '1 millisecond' FROM generate_series(1, $1) i`, n)
	db.exec(b, "CREATE INDEX orders_cursor ON orders (updated_at, id)")
	db.exec(b, "ANALYZE orders")
	benchRead(b, db, n)
}

// benchRead reads the orders table of n rows by keyset pages of 1000.
func benchRead(b *testing.B, db *testDB, n int) {
	src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM orders", Key: "id", Cursor: "updated_at", PageSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		rows := 0
		err := src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
			rows += len(p.Records)
			if p.Number%20 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkDestinationPostgres upserts batches of 500 orders (half of
// them new, half updates of the batch before) and reports records/s.
//
//	go test -run '^$' -bench DestinationPostgres ./internal/connector/sql/
//
// The new sub-benchmark writes only new rows, as the end-to-end benchmark
// and an initial load do (a plain INSERT first, see writer.exec); upsert
// is that with every batch an upsert.
func BenchmarkDestinationPostgres(b *testing.B) {
	b.Run("unnest", func(b *testing.B) { benchDestination(b, false) })
	b.Run("values", func(b *testing.B) { benchDestination(b, true) })
	b.Run("new", func(b *testing.B) { benchUpsert(b, newPostgres(b), true) })
	b.Run("new-upsert", func(b *testing.B) {
		benchUpsert(b, newPostgres(b), true, func(d *Destination) { d.upsertOnly.Store(1 << 30) })
	})
}

func benchDestination(b *testing.B, values bool) {
	benchUpsert(b, newPostgres(b), false, func(d *Destination) { d.noUnnest = values })
}

// benchUpsert upserts batches of 500 orders, half of them new (all of
// them with fresh).
func benchUpsert(b *testing.B, db *testDB, fresh bool, tune ...func(*Destination)) {
	db.exec(b, `CREATE TABLE orders (external_id bigint PRIMARY KEY, number varchar(20), email varchar(40), country varchar(2),
		total_cents bigint, currency varchar(3))`)
	dest, err := NewDestination(db.DB, DestinationConfig{Table: "orders", Key: "external_id"})
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tune {
		t(dest)
	}
	const size = 500
	batch := make([]connector.Delivery, size)
	next := 0
	server := serverCPU(b, db)
	db0, cpu0 := server(), cputime.Process()
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			id := next + i
			batch[i] = connector.Delivery{Key: strconv.Itoa(id), Record: map[string]any{
				"external_id": strconv.Itoa(id), "number": "SO-" + strconv.Itoa(id),
				"email": "customer@example.com", "country": "DE", "total_cents": json.Number(strconv.Itoa(2000 + id%500)),
				"currency": "EUR"}}
		}
		next += size / 2
		if fresh {
			next += size / 2
		}
		res, err := dest.Send(context.Background(), batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if !r.OK {
				b.Fatalf("%+v", r)
			}
		}
	}
	b.StopTimer()
	records := float64(size) * float64(b.N)
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric((cputime.Process()-cpu0).Seconds()*1e6/records, "cpu-us/record")
	if db0 >= 0 {
		b.ReportMetric((server()-db0).Seconds()*1e6/records, "db-cpu-us/record")
	}
}

// serverCPU returns a function reading the CPU time of the PostgreSQL
// server process of db's only connection (-1 elsewhere, or when its
// /proc is not readable): the server runs on the same cores, so its CPU
// per record counts as much as ferry's.
func serverCPU(b *testing.B, db *testDB) func() time.Duration {
	none := func() time.Duration { return -1 }
	if db.kind != "postgres" {
		return none
	}
	db.pool.SetMaxOpenConns(1)
	var pid int
	if err := db.pool.QueryRow("SELECT pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", pid)
	return func() time.Duration {
		raw, err := os.ReadFile(stat)
		if err != nil {
			return -1
		}
		// utime and stime are fields 14 and 15, counted after the
		// command name's closing parenthesis (field 2).
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(u+st) * 10 * time.Millisecond // clock ticks of 1/100 s
	}
}

// BenchmarkSourceOthers is BenchmarkSourcePostgres on MariaDB and SQLite
// (rows/s and peak heap).
//
//	go test -run '^$' -bench SourceOthers -benchtime 1x ./internal/connector/sql/
func BenchmarkSourceOthers(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *testDB
		fill string
	}{
		{"mysql", newMySQL, `INSERT INTO orders SELECT seq, CONCAT('SO-', seq), CONCAT('customer', seq % 5000, '@example.com'),
			IF(seq % 10 = 0, 'cancelled', 'paid'), 20 + (seq % 500) + (10 + seq % 90) / 100, 'EUR', 'DE',
			TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (seq DIV 7) * 1000 MICROSECOND FROM seq_1_to_{N}`},
		{"sqlite", newSQLite, `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {N})
			INSERT INTO orders SELECT i, 'SO-' || i, 'customer' || (i % 5000) || '@example.com',
			CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'paid' END, 20 + (i % 500) + (10 + i % 90) / 100.0, 'EUR', 'DE',
			strftime('%Y-%m-%d %H:%M:%f', '2026-01-01', '+' || (i / 7) || ' seconds') FROM s`},
	} {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b)
			n := benchRows()
			db.exec(b, `CREATE TABLE orders (id bigint PRIMARY KEY, number varchar(20), email varchar(40), status varchar(10),
				total decimal(12,2), currency varchar(3), country varchar(2), updated_at datetime(6) NOT NULL)`)
			db.exec(b, strings.ReplaceAll(d.fill, "{N}", strconv.Itoa(n)))
			db.exec(b, "CREATE INDEX orders_cursor ON orders (updated_at, id)")
			benchRead(b, db, n)
		})
	}
}

// BenchmarkDestinationOthers upserts batches of 500 on MariaDB and SQLite.
//
//	go test -run '^$' -bench DestinationOthers ./internal/connector/sql/
func BenchmarkDestinationOthers(b *testing.B) {
	b.Run("mysql", func(b *testing.B) { benchUpsert(b, newMySQL(b), false) })
	b.Run("sqlite", func(b *testing.B) { benchUpsert(b, newSQLite(b), false) })
}

// BenchmarkSourcePostgresJSON reads the end-to-end benchmark's orders
// (bench/sqlbench.go: two jsonb columns, a numeric read as a number) and
// reports this process's CPU time per row, which is what the source costs
// the engine's two cores beside the queue (PostgreSQL's own CPU is not
// counted), and the allocations per row.
//
//	go test -run '^$' -bench SourcePostgresJSON -benchtime 3x -benchmem ./internal/connector/sql/
func BenchmarkSourcePostgresJSON(b *testing.B) {
	db := newPostgres(b)
	n := benchRows()
	db.exec(b, `CREATE TABLE orders (id bigint PRIMARY KEY, number text, email text, status text, total numeric(12,2),
		currency text, customer jsonb, lines jsonb, updated_at timestamptz NOT NULL)`)
	db.exec(b, `INSERT INTO orders SELECT i, 'SO-' || i, 'customer' || (i % 5000) || '@example.com',
		CASE WHEN i % 10 = 0 THEN 'cancelled' ELSE 'paid' END, 20 + (i % 500) + (10 + i % 90) / 100.0, 'EUR',
		jsonb_build_object('name', 'Customer ' || (i % 5000), 'country', 'DE'),
		jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (i % 700), 'qty', 1 + i % 5, 'price', 19.90)),
		timestamptz '2026-01-01 00:00:00+00' + (i / 7) * interval '1 millisecond' FROM generate_series(1, $1) i`, n)
	db.exec(b, "CREATE INDEX orders_cursor ON orders (updated_at, id)")
	db.exec(b, "ANALYZE orders")
	src, err := NewSource(db.DB, SourceConfig{Query: "SELECT * FROM orders", Key: "id", Cursor: "updated_at", PageSize: 1000, Decimals: "number"})
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu0, mallocs0 := cputime.Process(), ms.Mallocs
	b.ResetTimer()
	for b.Loop() {
		rows := 0
		err := src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
			rows += len(p.Records)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	rowsRead := float64(n) * float64(b.N)
	b.ReportMetric((cputime.Process()-cpu0).Seconds()*1e6/rowsRead, "cpu-us/row")
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/rowsRead, "allocs/row")
	b.ReportMetric(rowsRead/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}
