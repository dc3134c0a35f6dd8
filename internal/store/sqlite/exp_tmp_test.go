package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func BenchmarkTmpDeliveredRandom(b *testing.B) {
	for _, v := range []struct{ name, ddl, ins string }{
		{"worowid", `CREATE TABLE d (route TEXT NOT NULL, key TEXT NOT NULL, entry_id INTEGER NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, payload BLOB NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (route, key)) WITHOUT ROWID`,
			`INSERT INTO d SELECT 'orders', printf('order-%09d', (value*2654435761)%1000000007), value, 1, '', zeroblob(300), 5 FROM (WITH RECURSIVE g(value) AS (SELECT ?1 UNION ALL SELECT value+1 FROM g WHERE value < ?2) SELECT value FROM g) WHERE 1 ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, payload = excluded.payload WHERE excluded.entry_id >= d.entry_id`},
		{"rowid", `CREATE TABLE d (route TEXT NOT NULL, key TEXT NOT NULL, entry_id INTEGER NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, payload BLOB NOT NULL, at INTEGER NOT NULL); CREATE UNIQUE INDEX d_key ON d (route, key)`,
			`INSERT INTO d SELECT 'orders', printf('order-%09d', (value*2654435761)%1000000007), value, 1, '', zeroblob(300), 5 FROM (WITH RECURSIVE g(value) AS (SELECT ?1 UNION ALL SELECT value+1 FROM g WHERE value < ?2) SELECT value FROM g) WHERE 1 ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, payload = excluded.payload WHERE excluded.entry_id >= d.entry_id`},
		{"smallkeyed", `CREATE TABLE d (route TEXT NOT NULL, key TEXT NOT NULL, entry_id INTEGER NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (route, key)) WITHOUT ROWID; CREATE TABLE p (entry_id INTEGER PRIMARY KEY, payload BLOB NOT NULL)`,
			`INSERT INTO d SELECT 'orders', printf('order-%09d', (value*2654435761)%1000000007), value, 1, '', 5 FROM (WITH RECURSIVE g(value) AS (SELECT ?1 UNION ALL SELECT value+1 FROM g WHERE value < ?2) SELECT value FROM g) WHERE 1 ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id WHERE excluded.entry_id >= d.entry_id`},
	} {
		b.Run(v.name, func(b *testing.B) {
			s, err := Open(context.Background(), filepath.Join(b.TempDir(), "f.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if _, err := s.write.Exec(v.ddl); err != nil {
				b.Fatal(err)
			}
			n := 0
			start := time.Now()
			for b.Loop() {
				tx, _ := s.write.Begin()
				if _, err := tx.Exec(v.ins, n, n+499); err != nil {
					b.Fatal(err)
				}
				if v.name == "smallkeyed" {
					if _, err := tx.Exec(`INSERT INTO p SELECT value, zeroblob(300) FROM (WITH RECURSIVE g(value) AS (SELECT ?1 UNION ALL SELECT value+1 FROM g WHERE value < ?2) SELECT value FROM g)`, n, n+499); err != nil {
						b.Fatal(err)
					}
				}
				tx.Commit()
				n += 500
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
		})
	}
}
