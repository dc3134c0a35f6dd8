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
	st, err = storeopen.Open(ctx, dsn+sep+"schema="+schema)
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
