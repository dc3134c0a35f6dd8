package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storeopen"
)

// openPostgresStore opens the queue in a fresh schema of the database at
// dsn through storeopen, as `store: postgres://...&schema=NAME` does in a
// config. drop closes the store and drops the schema with its tables.
func openPostgresStore(ctx context.Context, dsn string) (st store.Store, schema string, drop func(), err error) {
	if schema, err = newSchemaName(); err != nil {
		return nil, "", nil, err
	}
	// The application name marks the store's connections, so that
	// backendCPU can find their server processes.
	if st, err = openStoreIn(ctx, dsn, schema, schema); err != nil {
		return nil, "", nil, err
	}
	drop = func() {
		st.Close()
		dropSchema(dsn, schema)
	}
	return st, schema, drop, nil
}

// newSchemaName is a fresh name for a bench's queue schema.
func newSchemaName() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "ferry_bench_q" + hex.EncodeToString(b[:]), nil
}

// openStoreIn opens the queue in schema (made with its tables if it does
// not exist) through storeopen, as `store: postgres://...&schema=NAME`
// does in a config; app is the application_name of its connections.
func openStoreIn(ctx context.Context, dsn, schema, app string) (store.Store, error) {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	st, err := storeopen.Open(ctx, dsn+sep+"schema="+url.QueryEscape(schema)+"&application_name="+url.QueryEscape(app))
	if err != nil {
		return nil, fmt.Errorf("-store postgres (-pg): %w", err)
	}
	return st, nil
}

// dropSchema drops schema with its tables, saying on stderr when it
// cannot.
func dropSchema(dsn, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: drop schema %s: %v\n", schema, err)
	}
}

// backendCPU is the CPU time the database server's processes serving
// the store's connections (application_name = app) have used since they
// started, read from /proc: only when the database runs on this machine
// and its processes are readable (0 otherwise). The pool opens its
// connections for the run, so this is the server's share of the run (and
// of the migrations at Open). Call it before the store closes.
func backendCPU(ctx context.Context, dsn, app string) float64 {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		return 0
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0
	}
	var total float64
	for _, pid := range pids {
		cpu := processCPU(fmt.Sprintf("/proc/%d/stat", pid))
		if cpu < 0 {
			return 0 // not on this machine, or not readable
		}
		total += cpu
	}
	return total
}

// printServerCPU prints the CPU per source record of the PostgreSQL
// server processes serving the store (db seconds; none when 0) and of the
// whole machine (busy seconds), beside the bench processes' own (cpu).
func printServerCPU(db, cpu, busy float64, records int) {
	if db > 0 {
		fmt.Printf("db_cpu_us      %.1f CPU microseconds per source record in the PostgreSQL server processes of the store's connections (%.2f s; with cpu_us, 2 cores would allow %.0f records/s)\n",
			db*1e6/float64(records), db, 2*float64(records)/(cpu+db))
	}
	if busy > 0 {
		// The database's work is in its own processes: count the machine.
		fmt.Printf("machine_cpu_us %.1f CPU microseconds per source record, all processes of the machine (PostgreSQL's too, and anything else running)\n", busy*1e6/float64(records))
	}
}

// machineBusy is the CPU time all processes of the machine have used
// (user, nice, system, irq, softirq, steal), from /proc/stat on Linux (0
// elsewhere). With the PostgreSQL store much of the work is done by the
// database's processes, which this process's CPU time does not count.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // not idle (4), iowait (5)
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100
}
