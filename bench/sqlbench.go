package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to set up and check the tables

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// runSQL is the benchmark with PostgreSQL at one end, through the real
// engine: -source postgres reads a table of o.records orders (keyset
// pages on updated_at, id) into the counting HTTP sink; -dest postgres
// upserts the synthetic HTTP orders into a table. Each run works in its
// own schema, dropped at the end; filling the table is not measured.
func runSQL(o options) error {
	ctx := context.Background()
	if o.source == "" {
		o.source = "http"
	}
	if o.dest == "" {
		o.dest = "http"
	}
	if o.source != "http" && o.source != "postgres" || o.dest != "http" && o.dest != "postgres" {
		return fmt.Errorf("-source and -dest take http or postgres")
	}
	if o.source == "postgres" && o.dest == "postgres" {
		return fmt.Errorf("give -source postgres or -dest postgres, not both")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "ferry-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	admin, err := sql.Open("pgx", o.pgDSN)
	if err != nil {
		return err
	}
	defer admin.Close()
	var b [4]byte
	rand.Read(b[:])
	schema := "ferry_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("PostgreSQL (-pg): %w", err)
	}
	defer admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	sep := "?"
	if strings.Contains(o.pgDSN, "?") {
		sep = "&"
	}
	// The application name marks the sql connector's connections, so
	// that backendCPU can count their server processes' CPU: PostgreSQL
	// runs on the same cores, and its share per record is part of what
	// an sql source or destination costs.
	dsn := o.pgDSN + sep + "search_path=" + schema + "&application_name=" + schema

	sk := &sink{}
	sinkURL, stopSink, err := serve(sk)
	if err != nil {
		return err
	}
	defer stopSink()
	var yaml string
	if o.source == "postgres" {
		start := time.Now()
		if err := fillOrders(ctx, admin, schema, o.records); err != nil {
			return err
		}
		fmt.Printf("setup          %d rows in %s.orders in %s (not measured)\n", o.records, schema, time.Since(start).Round(time.Millisecond))
		yaml = fmt.Sprintf(pgSourceYAML, dsn, sinkURL, o.page, o.batch)
	} else {
		srcURL, stopSrc, err := serve(sourceHandler(o.records, o.scatter))
		if err != nil {
			return err
		}
		defer stopSrc()
		if _, err := admin.ExecContext(ctx, "CREATE TABLE "+schema+`.orders_out (external_id bigint PRIMARY KEY, number text,
			email text, country text, total_cents bigint, currency text)`); err != nil {
			return err
		}
		yaml = fmt.Sprintf(pgDestYAML, dsn, srcURL, o.page, o.batch)
	}
	cfg, err := config.Parse([]byte(yaml), filepath.Join(o.dir, "ferry.yaml"), all.Set())
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	reg, err := registry.New(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		return err
	}

	want := o.records - o.records/10
	var wantSum int64
	for id := 1; id <= o.records; id++ {
		if id%10 != 0 {
			wantSum += int64(id)
		}
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	res, err := eng.Run(ctx, "orders", engine.RunOptions{})
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0
	dbCPU := backendCPU(ctx, o.pgDSN, schema) // before reg.Close ends the connections
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	fmt.Printf("mode           %s -> %s\n", o.source, o.dest)
	fmt.Printf("records        %d (source), %d delivered, %d filtered out\n", o.records, res.Done, res.Skipped)
	fmt.Printf("elapsed        %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput     %.0f records/s end to end (source records / elapsed)\n", float64(o.records)/elapsed.Seconds())
	fmt.Printf("delivered      %.0f records/s\n", float64(res.Done)/elapsed.Seconds())
	printCPU(cpu, o.records)
	if dbCPU > 0 {
		fmt.Printf("db_cpu_us      %.1f CPU microseconds per source record in the PostgreSQL server processes of the sql connector's connections (%.2f s; with cpu_us, 2 cores would allow %.0f records/s)\n",
			dbCPU*1e6/float64(o.records), dbCPU, 2*float64(o.records)/(cpu+dbCPU))
	}
	var got, gotSum int64
	if o.dest == "postgres" {
		err := admin.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(external_id), 0) FROM "+schema+".orders_out").Scan(&got, &gotSum)
		if err != nil {
			return err
		}
	} else {
		got, gotSum = sk.records.Load(), sk.idSum.Load()
		fmt.Printf("batches        %d requests to the sink\n", sk.requests.Load())
	}
	if got != int64(want) || res.Done != want || gotSum != wantSum {
		return fmt.Errorf("%s got %d records with id sum %d (run says %d delivered), want %d with sum %d", o.dest, got, gotSum, res.Done, want, wantSum)
	}
	fmt.Printf("check          ok: %s got all %d records\n", o.dest, want)
	fmt.Printf("peak_rss_mb    %.1f\n", peakRSSMB())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("go_heap_mb     %.1f in use, %.1f from the OS\n", float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20))
	return nil
}

// fillOrders writes n orders shaped like the HTTP source's (every tenth
// cancelled), 7 sharing each updated_at, with the (cursor, key) index
// the source's keyset pages use.
func fillOrders(ctx context.Context, db *sql.DB, schema string, n int) error {
	for _, q := range []string{
		`CREATE TABLE ` + schema + `.orders (id bigint PRIMARY KEY, number text, email text, status text, total numeric(12,2),
			currency text, customer jsonb, lines jsonb, updated_at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO %s.orders SELECT i, 'SO-' || i, 'customer' || (i %% 5000) || '@example.com',
			CASE WHEN i %% 10 = 0 THEN 'cancelled' ELSE 'paid' END, 20 + (i %% 500) + (10 + i %% 90) / 100.0, 'EUR',
			jsonb_build_object('name', 'Customer ' || (i %% 5000), 'country', 'DE'),
			jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (i %% 700), 'qty', 1 + i %% 5, 'price', 19.90)),
			timestamptz '2026-01-01 00:00:00+00' + (i / 7) * interval '1 millisecond'
			FROM generate_series(1, %d) i`, schema, n),
		`CREATE INDEX orders_cursor ON ` + schema + `.orders (updated_at, id)`,
		`ANALYZE ` + schema + `.orders`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("fill the orders table: %w", err)
		}
	}
	return nil
}

const pgSourceYAML = `
store: ferry.db
systems:
  erp: { postgres: { dsn: "%s" } }
  sink: { url: "%s" }
routes:
  orders:
    # With a cursor the engine reads collect_limit records per iteration
    # (default 10,000, at most max_iterations per run): read it all in one,
    # as the HTTP source without a cursor is.
    collect_limit: 1000000
    max_iterations: 1000
    source:
      sql:
        system: erp
        query: SELECT * FROM orders
        key: id
        cursor: updated_at
        decimals: number
        page_size: %d
` + benchSteps + `    batch: %d
    destinations:
      default:
        http: { system: sink, path: /orders/batch, body: array, wrap: orders }
`

const pgDestYAML = `
store: ferry.db
systems:
  erp: { postgres: { dsn: "%s" } }
  shop: { url: "%s" }
routes:
  orders:
    source:
      http:
        system: shop
        path: /orders
        records: data
        key: id
        paginate: { page: { size: %d } }
` + benchSteps + `    batch: %d
    destinations:
      default:
        sql: { system: erp, table: orders_out, key: external_id }
`
