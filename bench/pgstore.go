package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", nil, err
	}
	schema = "ferry_bench_q" + hex.EncodeToString(b[:])
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// The application name marks the store's connections, so that
	// backendCPU can find their server processes.
	st, err = storeopen.Open(ctx, dsn+sep+"schema="+schema+"&application_name="+schema)
	if err != nil {
		return nil, "", nil, fmt.Errorf("-store postgres (-pg): %w", err)
	}
	drop = func() {
		st.Close()
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
	return st, schema, drop, nil
}

// backendCPU is the CPU time the database server's processes serving
// the store's connections (application_name = schema) have used since they
// started, read from /proc: only when the database runs on this machine
// and its processes are readable (0 otherwise). The pool opens its
// connections for the run, so this is the server's share of the run (and
// of the migrations at Open). Call it before the store closes.
func backendCPU(ctx context.Context, dsn, schema string) float64 {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, schema)
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
