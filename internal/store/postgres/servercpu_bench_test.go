package postgres_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/postgres"
)

// BenchmarkServerCPU is the engine's hot path as `go run ./bench -store
// postgres` drives it (a page of 1,000 fresh records with content hashes
// queued leased, then settled in batches of 450: done, one in ten
// skipped, every attempt recorded) with the PostgreSQL server's CPU per
// record beside the wall clock. The store has one connection, so one
// server process does all of its work; its CPU is read from /proc (0 when
// the database is not on this machine). Unlike wall time and the bench
// process's CPU, it hardly moves with the machine's load.
//
// go test -run '^$' -bench ServerCPU -benchtime 200x ./internal/store/postgres
func BenchmarkServerCPU(b *testing.B) {
	pgtest.Need(b)
	schema := pgtest.FreshSchema(b)
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.DSN()+"&application_name="+schema, postgres.Options{Schema: schema, MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pid := serverPID(b, s, schema)
	const page, batch = 1000, 450
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	var enqueueCPU, settleCPU float64
	n := 0
	for b.Loop() {
		b.StopTimer()
		entries := make([]store.NewEntry, page)
		for i := range entries {
			k := n + i
			p := []byte(fmt.Sprintf(`{"currency":"EUR","customer":{"country":"DE","name":"Customer %d"},"email":"customer%d@example.com","id":%d,`+
				`"lines":[{"price":19.9,"qty":2,"sku":"SKU-%d"}],"number":"SO-%d","status":"paid","total":21.11,"updated_at":"2025-03-04T05:06:07Z"}`, k, k, k, k, k))
			sum := md5.Sum(p)
			entries[i] = store.NewEntry{Key: strconv.Itoa(k), Payload: p, Hash: hex.EncodeToString(sum[:])}
		}
		b.StartTimer()
		c0 := backendCPU(b, pid)
		got, _, err := s.EnqueueLeased(ctx, "orders", entries, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != page {
			b.Fatalf("enqueue leased: %d entries, %v", len(got), err)
		}
		c1 := backendCPU(b, pid)
		for chunk := range slices.Chunk(got, batch) {
			if err := s.Settle(ctx, "bench", hotSettlements(chunk, t0)); err != nil {
				b.Fatal(err)
			}
		}
		c2 := backendCPU(b, pid)
		enqueueCPU += c1 - c0
		settleCPU += c2 - c1
		n += page
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric((enqueueCPU+settleCPU)*1e6/float64(n), "db_cpu_us/record")
	b.ReportMetric(enqueueCPU*1e6/float64(n), "enqueue_db_us/record")
	b.ReportMetric(settleCPU*1e6/float64(n), "settle_db_us/record")
}

// hotSettlements settles entries as the engine does after a sink's 200:
// done with the content hash, one in ten skipped (a filter), each with
// its attempt.
func hotSettlements(entries []store.Entry, at time.Time) []store.Settlement {
	ss := make([]store.Settlement, len(entries))
	for i, e := range entries {
		outcome := store.OutcomeDone
		if e.ID%10 == 0 {
			outcome = store.OutcomeSkipped
		}
		sum := md5.Sum([]byte(e.Key))
		ss[i] = store.Settlement{EntryID: e.ID, Outcome: outcome, Hash: e.Hash, CountAttempt: outcome == store.OutcomeDone, Attempt: store.Attempt{
			EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, RunID: 1, At: at, Outcome: outcome, StatusCode: 200,
			Response: `{"ok":true}`, IdempotencyKey: hex.EncodeToString(sum[:])}}
	}
	return ss
}

// serverPID is the process ID of the one server process of s's pool.
func serverPID(b *testing.B, s *postgres.Store, schema string) int {
	b.Helper()
	// The pool connects lazily: a call makes it open its connection.
	if _, err := s.Cursor(context.Background(), "orders"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&pid); err != nil {
		b.Fatalf("server process of the store: %v", err)
	}
	return pid
}

// backendCPU is the CPU time in seconds process pid has used (0 when it
// cannot be read: the database is elsewhere).
func backendCPU(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields count from after the command name's closing parenthesis.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}
