package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
	"github.com/ferry-dev/ferry/internal/store/storetest"
)

func openT(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openT(t, filepath.Join(t.TempDir(), "ferry.db"))
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

	s := openT(t, path)
	cur := "c1"
	if _, err := s.EnqueuePage(ctx, "orders", []store.NewEntry{
		{Key: "a", Payload: json.RawMessage(`{"a":1}`)}, {Key: "b", Payload: json.RawMessage(`{"b":1}`)},
	}, &cur, now); err != nil {
		t.Fatal(err)
	}
	leased, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "w", Limit: 1, Now: now, Until: now.Add(time.Minute)})
	if err != nil || len(leased) != 1 {
		t.Fatalf("lease: %v, %v", leased, err)
	}
	if err := s.Settle(ctx, "w", []store.Settlement{{EntryID: leased[0].ID, Outcome: store.OutcomeDone, CountAttempt: true,
		Attempt: store.Attempt{At: now, Outcome: store.OutcomeDone, StatusCode: 200}}}); err != nil {
		t.Fatal(err)
	}
	runID, err := s.CreateRun(ctx, store.Run{Route: "orders", Status: store.RunSucceeded, StartedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path)
	defer s.Close()
	if c, err := s.Counts(ctx, "orders"); err != nil || c != (store.Counts{Pending: 1}) {
		t.Errorf("counts after reopen = %+v, %v; want 1 pending", c, err)
	}
	if v, _ := s.Cursor(ctx, "orders"); v != "c1" {
		t.Errorf("cursor after reopen = %q, want c1", v)
	}
	if at, _ := s.Attempts(ctx, leased[0].ID); len(at) != 1 {
		t.Errorf("attempts after reopen = %+v", at)
	}
	if r, err := s.GetRun(ctx, runID); err != nil || r.Status != store.RunSucceeded {
		t.Errorf("run after reopen = %+v, %v", r, err)
	}
	// IDs are never reused, even after the newest entry left the queue.
	res, _ := s.EnqueuePage(ctx, "orders", []store.NewEntry{{Key: "c", Payload: json.RawMessage(`{}`)}}, nil, now)
	es, _ := s.Entries(ctx, store.EntryFilter{Route: "orders", Key: "c"})
	if res.Inserted != 1 || len(es) != 1 || es[0].ID <= leased[0].ID {
		t.Errorf("new entry %+v: want an ID above every earlier one", es)
	}
}

// The store's identity is created once: a reopened store keeps it, another
// store has its own.
func TestIDKeptAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	a := openT(t, filepath.Join(dir, "a.db"))
	id := a.ID()
	a.Close()
	a = openT(t, filepath.Join(dir, "a.db"))
	defer a.Close()
	b := openT(t, filepath.Join(dir, "b.db"))
	defer b.Close()
	if a.ID() != id || id == "" {
		t.Errorf("ID after reopen = %q, want %q", a.ID(), id)
	}
	if b.ID() == id {
		t.Errorf("two stores share the ID %q", id)
	}
}

// Two *Store on one file are what two processes (ferry run, ferry serve)
// see: both write concurrently without "database is locked" errors, and
// each sees the other's commits.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	a, b := openT(t, path), openT(t, path)
	defer a.Close()
	defer b.Close()
	now := time.Now()

	const pages, perPage = 20, 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*pages)
	for _, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			for p := range pages {
				page := make([]store.NewEntry, perPage)
				for i := range page {
					page[i] = store.NewEntry{Key: fmt.Sprintf("%p-%d-%d", s, p, i), Payload: json.RawMessage(`{}`)}
				}
				if _, err := s.EnqueuePage(ctx, "orders", page, nil, now); err != nil {
					errs <- err
				}
				if _, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: fmt.Sprintf("%p", s), Limit: 10, Now: now, Until: now.Add(time.Minute)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ca, err := a.Counts(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := b.Counts(ctx, "orders")
	if ca != cb || ca.Pending+ca.Leased != 2*pages*perPage || ca.Leased != 2*pages*10 {
		t.Errorf("counts seen by a = %+v, by b = %+v; want both %d queued, %d leased", ca, cb, 2*pages*perPage, 2*pages*10)
	}
	owners, _ := b.LeaseOwners(ctx, "orders")
	if len(owners) != 2 {
		t.Errorf("owners seen by b = %v, want both stores", owners)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.db")
	for range 3 {
		openT(t, path).Close()
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, max int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != max || n == 0 {
		t.Errorf("schema_migrations has %d rows up to version %d after three opens; want each version once", n, max)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{"x.db?synchronous=sometimes", "expected normal or full"},
		{"x.db?busy_timeout=soon", "expected a positive duration"},
		{"x.db?cache=shared", "unknown option"},
	} {
		_, err := sqlite.Open(context.Background(), filepath.Join(dir, tc.path))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error saying %q", tc.path, err, tc.want)
		}
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "y.db?synchronous=full&busy_timeout=2s"))
	if err != nil {
		t.Fatalf("Open with valid options: %v", err)
	}
	s.Close()
}

func TestOpenNamesWhyItCannot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	cases := map[string]string{
		filepath.Join(dir, "missing", "ferry.db"): "the folder " + filepath.Join(dir, "missing") + " does not exist",
		dir:                             "is a folder, not a file",
		filepath.Join(file, "ferry.db"): "is not a folder",
	}
	for path, want := range cases {
		_, err := sqlite.Open(context.Background(), path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) = %v, want %q", path, err, want)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total
}

// A prune with Vacuum gives the space back: the file (and its WAL)
// shrink after the history of many delivered records is removed.
func TestPruneVacuumShrinksFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ferry.db")
	s := openT(t, path)
	defer s.Close()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	const records, page = 25000, 1000 // crosses prune's chunks
	for i := 0; i < records; i += page {
		es := make([]store.NewEntry, page)
		for j := range es {
			k := fmt.Sprintf("order-%06d", i+j)
			es[j] = store.NewEntry{Key: k, Hash: "h" + k, Payload: json.RawMessage(fmt.Sprintf(`{"id":%q,"note":"%0300d"}`, k, j))}
		}
		got, _, err := s.EnqueueLeased(ctx, "orders", es, nil, now, "w", now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ss := make([]store.Settlement, len(got))
		for j, e := range got {
			ss[j] = store.Settlement{EntryID: e.ID, Outcome: store.OutcomeDone, CountAttempt: true, Hash: e.Hash,
				Attempt: store.Attempt{EntryID: e.ID, Route: "orders", Key: e.Key, Version: 1, At: now, Outcome: store.OutcomeDone,
					StatusCode: 200, Response: `{"status":"accepted","warnings":[]}`}}
		}
		if err := s.Settle(ctx, "w", ss); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(ctx, store.PruneRequest{Vacuum: true}); err != nil { // checkpoint only: the size to compare with
		t.Fatal(err)
	}
	before := fileSize(t, path)
	cut := now.Add(time.Hour)
	res, err := s.Prune(ctx, store.PruneRequest{AttemptsBefore: cut, DeliveredBefore: cut, RunsBefore: cut, Vacuum: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != records || res.Delivered != records {
		t.Errorf("Prune = %+v, want %d attempts and delivered rows", res, records)
	}
	after := fileSize(t, path)
	t.Logf("file: %d KiB before, %d KiB after the prune", before/1024, after/1024)
	if after > before/4 {
		t.Errorf("file is %d bytes after the prune, %d before: want it to shrink to a fraction", after, before)
	}
}

// A page queued with store.WithSync (its input is acknowledged at the
// source right after) is committed and its write-ahead log synced; the
// data is there after reopening, with and without synchronous=full.
func TestSyncedCommit(t *testing.T) {
	for _, opt := range []string{"", "?synchronous=full"} {
		ctx := store.WithSync(context.Background())
		path := filepath.Join(t.TempDir(), "ferry.db")
		now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
		s := openT(t, path+opt)
		got, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "a", Payload: []byte(`{"id":"a"}`)}}, nil, now, "w", now.Add(time.Minute))
		if err != nil || len(got) != 1 {
			t.Fatalf("%q: EnqueueLeased with sync: %v, %v", opt, got, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openT(t, path)
		if c, err := s.Counts(context.Background(), "orders"); err != nil || c.Leased != 1 {
			t.Errorf("%q: after reopening: %+v, %v", opt, c, err)
		}
		s.Close()
	}
}
