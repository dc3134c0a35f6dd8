package sqlconn

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

const (
	benchChanges = 20000
	benchSingle  = 1000 // single-row inserts per iteration
)

// captureBenchDBs runs fn on PostgreSQL and MariaDB.
func captureBenchDBs(b *testing.B, fn func(b *testing.B, db *testDB)) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *testDB
	}{{"postgres", newPostgres}, {"mysql", newMySQL}} {
		b.Run(d.name, func(b *testing.B) { fn(b, d.open(b)) })
	}
}

// BenchmarkCaptureRead reads and clears 20,000 captured changes (pages of
// 1,000: read the integration table, fetch the current rows, delete the
// page's changes), as a run does. Reports changes/s.
func BenchmarkCaptureRead(b *testing.B) {
	captureBenchDBs(b, func(b *testing.B, db *testDB) {
		f := &captureFixture{db: db, orders: "orders_" + suffix(b), integ: "changes_" + suffix(b)}
		db.exec(b, "CREATE TABLE "+f.orders+" (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, total INT NOT NULL)")
		cp := (&CaptureConfig{Table: f.orders, IntegrationTable: f.integ}).forRoute("bench", "id")
		src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT id, status, total FROM " + f.orders, Key: "id", PageSize: 1000, Capture: cp})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := src.InstallCapture(context.Background()); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		var elapsed time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			db.exec(b, "DELETE FROM "+f.orders)
			db.exec(b, "DELETE FROM "+f.integ)
			insertSeries(b, db, f.orders, benchChanges)
			b.StartTimer()
			start := time.Now()
			n := 0
			err := src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
				n += len(p.Records)
				return p.Ack(ctx)
			})
			elapsed += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if n != benchChanges {
				b.Fatalf("read %d records, want %d", n, benchChanges)
			}
		}
		b.ReportMetric(float64(benchChanges*b.N)/elapsed.Seconds(), "changes/s")
	})
}

// BenchmarkCaptureTriggerCost inserts 20,000 rows in one statement, then
// 1,000 rows one statement each, into a table without and with the
// capture triggers: the cost capture adds to the application's writes.
func BenchmarkCaptureTriggerCost(b *testing.B) {
	captureBenchDBs(b, func(b *testing.B, db *testDB) {
		for _, captured := range []bool{false, true} {
			b.Run(fmt.Sprintf("captured=%v", captured), func(b *testing.B) {
				orders := "orders_" + suffix(b)
				db.exec(b, "CREATE TABLE "+orders+" (id INT PRIMARY KEY, status VARCHAR(20) NOT NULL, total INT NOT NULL)")
				if captured {
					cp := (&CaptureConfig{Table: orders, IntegrationTable: "changes_" + suffix(b)}).forRoute("bench", "id")
					src, err := NewSource(db.DB, SourceConfig{System: "test", Query: "SELECT * FROM " + orders, Key: "id", PageSize: 1000, Capture: cp})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := src.InstallCapture(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				var bulk, single time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					db.exec(b, "DELETE FROM "+orders)
					b.StartTimer()
					start := time.Now()
					insertSeries(b, db, orders, benchChanges)
					bulk += time.Since(start)
					// One row per statement (autocommit), as an
					// application typically writes.
					start = time.Now()
					for id := benchChanges + 1; id <= benchChanges+benchSingle; id++ {
						db.exec(b, fmt.Sprintf("INSERT INTO %s (id, status, total) VALUES (%d, 'paid', 1)", orders, id))
					}
					single += time.Since(start)
				}
				b.ReportMetric(float64(benchChanges*b.N)/bulk.Seconds(), "bulk-rows/s")
				b.ReportMetric(single.Seconds()*1e6/float64(benchSingle*b.N), "µs/single-row-insert")
			})
		}
	})
}

// insertSeries inserts rows 1..n in one statement.
func insertSeries(b *testing.B, db *testDB, table string, n int) {
	b.Helper()
	q := fmt.Sprintf("INSERT INTO %s (id, status, total) SELECT i, 'paid', i FROM generate_series(1, %d) i", table, n)
	if db.DB.dialect.name == "mysql" {
		// MariaDB's sequence engine: seq_1_to_N.
		q = fmt.Sprintf("INSERT INTO %s (id, status, total) SELECT seq, 'paid', seq FROM seq_1_to_%d", table, n)
	}
	db.exec(b, q)
}
