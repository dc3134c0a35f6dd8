package sqlconn_test

import (
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
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
)

// countingSink counts, per id, the records it gets in array bodies.
type countingSink struct {
	mu  sync.Mutex
	got map[string]int
}

func (s *countingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var recs []map[string]any
	if err := json.Unmarshal(body, &recs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rec := range recs {
		s.got[fmt.Sprint(rec["id"])]++
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// take returns what arrived since the last take.
func (s *countingSink) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = map[string]int{}
	return got
}

// engineDB is a fresh schema (PostgreSQL) or database (MariaDB) and the
// DSN that points into it; skipped (failed in CI) when the server does
// not answer.
func engineDB(t *testing.T, kind string) (*sql.DB, string) {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "ferry_e_" + hex.EncodeToString(b[:])
	driver, admin, dsn := "pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path="+name
	create, drop := "CREATE SCHEMA "+name, "DROP SCHEMA "+name+" CASCADE"
	if kind == "mysql" {
		driver, admin, dsn = "mysql", "root@tcp(127.0.0.1:3306)/", "root@tcp(127.0.0.1:3306)/"+name
		create, drop = "CREATE DATABASE "+name, "DROP DATABASE "+name
	}
	db, err := sql.Open(driver, admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s does not answer (CI must have it): %v", kind, err)
		}
		t.Skipf("%s does not answer, skipping: %v", kind, err)
	}
	if _, err := db.Exec(create); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(drop); db.Close() })
	own, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { own.Close() })
	return own, dsn
}

// An incremental sql source through config, registry and engine: a group
// of 200 rows shares one updated_at, more than the route's collect_limit,
// so the engine reads the group to its end and the next read starts after
// it; each run delivers exactly the rows changed since the one before,
// and the after: operation runs once per delivered record.
func TestIncrementalThroughTheEngine(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db, dsn := engineDB(t, kind)
			ts, ph := "timestamptz", func(i int) string { return fmt.Sprintf("$%d", i) }
			if kind == "mysql" {
				ts, ph = "DATETIME(6)", func(int) string { return "?" }
			}
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec("CREATE TABLE orders (id int PRIMARY KEY, total decimal(10,2) NOT NULL, updated_at " + ts + " NOT NULL, exported int NOT NULL DEFAULT 0)")
			base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
			insert := func(from, to int, at func(id int) time.Time) {
				for id := from; id <= to; id++ {
					exec("INSERT INTO orders (id, total, updated_at) VALUES ("+ph(1)+", "+ph(2)+", "+ph(3)+")", id, fmt.Sprintf("%d.50", id), at(id))
				}
			}
			insert(1, 500, func(id int) time.Time {
				if id > 100 && id <= 300 {
					return base.Add(100 * time.Second)
				}
				return base.Add(time.Duration(id) * time.Second)
			})

			out := &countingSink{got: map[string]int{}}
			srv := httptest.NewServer(out)
			defer srv.Close()
			cfg, err := config.Parse([]byte(`
systems:
  erp: {`+kind+`: {dsn: "`+dsn+`"}}
  shop: {url: "`+srv.URL+`"}
routes:
  orders:
    source:
      sql:
        system: erp
        query: SELECT id, total, updated_at FROM orders
        key: id
        cursor: updated_at
        page_size: 50
    collect_limit: 120
    batch: 40
    destinations:
      default: {http: {system: shop, path: /orders, body: array}}
    after:
      - sql: {system: erp, statement: "UPDATE orders SET exported = exported + 1 WHERE id = :id"}
`), filepath.Join(t.TempDir(), "ferry.yaml"), all.Set())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			eng, _ := enginetest.New(t, cfg, "", engine.Options{RetryWait: -1})
			// run runs the route until it has no more to do (a run stops
			// after max_iterations) and checks that want ids arrived once.
			run := func(want []int) {
				t.Helper()
				for i := 0; i < 5; i++ {
					res, err := eng.Run(ctx, "orders", engine.RunOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if !res.Capped {
						break
					}
				}
				got := out.take()
				if len(got) != len(want) {
					t.Fatalf("%d keys delivered, want %d", len(got), len(want))
				}
				for _, id := range want {
					if n := got[fmt.Sprint(id)]; n != 1 {
						t.Fatalf("id %d delivered %d times", id, n)
					}
				}
			}
			ids := func(from, to int) []int {
				var out []int
				for i := from; i <= to; i++ {
					out = append(out, i)
				}
				return out
			}
			run(ids(1, 500))
			exec("UPDATE orders SET total = total + 1, updated_at = "+ph(1)+" WHERE id BETWEEN 150 AND 169 OR id BETWEEN 480 AND 489", base.Add(time.Hour))
			insert(501, 510, func(int) time.Time { return base.Add(time.Hour) })
			run(append(append(ids(150, 169), ids(480, 489)...), ids(501, 510)...))
			run(nil)

			var sum, changed int
			if err := db.QueryRow("SELECT SUM(exported), SUM(CASE WHEN exported = 2 THEN 1 ELSE 0 END) FROM orders").Scan(&sum, &changed); err != nil {
				t.Fatal(err)
			}
			if sum != 540 || changed != 30 {
				t.Fatalf("after: ran %d times (%d rows twice), want 540 (30)", sum, changed)
			}
		})
	}
}
