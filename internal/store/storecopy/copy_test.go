package storecopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/postgres"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// snapshot is everything of a store a copy must keep, read through the
// Store interface (not the export it checks).
type snapshot struct {
	ID          string
	Entries     []store.Entry
	DeadLetters []store.DeadLetter
	Attempts    []store.Attempt
	Runs        []store.Run
	Cursors     map[string]string
	Delivered   []store.Delivered
	Outbox      []store.OutboxItem
	Ticks       []store.Tick
}

var routes = []string{"orders", "stock"}

func read(t *testing.T, s store.Store) snapshot {
	t.Helper()
	ctx := context.Background()
	sn := snapshot{ID: s.ID(), Cursors: map[string]string{}}
	var err error
	must := func(what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	sn.Entries, err = s.Entries(ctx, store.EntryFilter{Limit: 10000})
	must("Entries")
	sn.DeadLetters, err = s.DeadLetters(ctx, store.DeadFilter{Limit: 10000})
	must("DeadLetters")
	for _, r := range routes {
		as, err := s.RecentAttempts(ctx, r, 10000)
		if err != nil {
			t.Fatalf("RecentAttempts: %v", err)
		}
		sn.Attempts = append(sn.Attempts, as...)
		c, err := s.Cursor(ctx, r)
		if err != nil {
			t.Fatalf("Cursor: %v", err)
		}
		sn.Cursors[r] = c
		for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7", "s1"} {
			d, err := s.LastDelivered(ctx, r, k)
			if err == nil {
				d.Payload = norm(d.Payload)
				sn.Delivered = append(sn.Delivered, d)
			}
		}
	}
	sn.Runs, err = s.Runs(ctx, "", 1000)
	must("Runs")
	sn.Outbox, err = s.Outbox(ctx, "", 1000)
	must("Outbox")
	sn.Ticks, err = s.Ticks(ctx)
	must("Ticks")
	for i := range sn.Entries {
		sn.Entries[i].Payload = norm(sn.Entries[i].Payload)
	}
	for i := range sn.DeadLetters {
		sn.DeadLetters[i].Payload = norm(sn.DeadLetters[i].Payload)
	}
	for i := range sn.Outbox {
		sn.Outbox[i].Record, sn.Outbox[i].Vars = norm(sn.Outbox[i].Record), norm(sn.Outbox[i].Vars)
	}
	return sn
}

// norm makes an empty payload one value (nil and empty read alike).
func norm(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

func payload(key string, v int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"v":%d}`, key, v))
}

// fill gives s a queue with pending, error and leased entries, dead
// letters with attempts, runs, cursors, delivered content, outbox items
// and ticks, plus live state (a process, a leader, a run lock) that is
// not copied. The entry with the highest ID was delivered, so it is gone
// from the queue: its ID must still never be handed out again.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	cursor := "2026-03-01T09:00:00Z"
	var page []store.NewEntry
	for i := 1; i <= 6; i++ {
		k := fmt.Sprintf("k%d", i)
		page = append(page, store.NewEntry{Key: k, Payload: payload(k, 1), Hash: "h-" + k, Priority: i % 2})
	}
	if _, err := s.EnqueuePage(ctx, "orders", page, &cursor, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnqueuePage(ctx, "stock", []store.NewEntry{{Key: "s1", Payload: payload("s1", 1), Deleted: true}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor(ctx, "stock", "42"); err != nil {
		t.Fatal(err)
	}
	runID, err := s.CreateRun(ctx, store.Run{Route: "orders", Trigger: "manual", Mode: "incremental", Status: store.RunRunning, StartedAt: t0, Owner: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "w1", Limit: 3, Now: t0, Until: t0.Add(time.Minute)})
	if err != nil || len(leased) != 3 {
		t.Fatalf("lease: %v %v", leased, err)
	}
	att := func(e store.Entry, o store.Outcome, code int) store.Attempt {
		return store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, RunID: runID, At: t0.Add(time.Second),
			Outcome: o, StatusCode: code, Request: `{"req":1}`, Response: `{"resp":1}`, DurationMillis: 12,
			IdempotencyKey: fmt.Sprintf("%s-%d-%d", s.ID(), e.ID, e.Version)}
	}
	err = s.Settle(ctx, "w1", []store.Settlement{
		{EntryID: leased[0].ID, Outcome: store.OutcomeDone, Attempt: att(leased[0], store.OutcomeDone, 201), CountAttempt: true, Hash: leased[0].Hash,
			Outbox: []store.OutboxItem{{Op: "after", Record: leased[0].Payload, IdempotencyKey: "after-1"}}},
		{EntryID: leased[1].ID, Outcome: store.OutcomeRetry, Attempt: att(leased[1], store.OutcomeRetry, 503), CountAttempt: true,
			Error: "busy", NextAttemptAt: t0.Add(time.Hour), Batch: "b1"},
		{EntryID: leased[2].ID, Outcome: store.OutcomeDead, Attempt: att(leased[2], store.OutcomeDead, 400), CountAttempt: true,
			Error: "bad request", Outbox: []store.OutboxItem{{Op: "on_error", Record: leased[2].Payload, Vars: json.RawMessage(`{"error":"bad request"}`), IdempotencyKey: "on-error-1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// One owed operation in flight.
	if items, err := s.LeaseOutbox(ctx, "orders", "w3", 1, t0.Add(2*time.Second), t0.Add(time.Minute)); err != nil || len(items) != 1 {
		t.Fatalf("lease outbox: %v %v", items, err)
	}
	// One more leased, by another worker, and one delivered with the
	// highest ID of all.
	if _, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "w2", Limit: 1, Now: t0, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	last, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "k7", Payload: payload("k7", 1), Hash: "h-k7"}}, nil, t0, "w1", t0.Add(time.Minute))
	if err != nil || len(last) != 1 {
		t.Fatalf("enqueue leased: %v %v", last, err)
	}
	if err := s.Settle(ctx, "w1", []store.Settlement{{EntryID: last[0].ID, Outcome: store.OutcomeDone, Attempt: att(last[0], store.OutcomeDone, 201), CountAttempt: true, Hash: "h-k7"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, store.Run{ID: runID, Route: "orders", Trigger: "manual", Mode: "incremental", Status: store.RunPartiallyFailed,
		StartedAt: t0, EndedAt: t0.Add(2 * time.Second), Iterations: 1, Collected: 7, Sent: 4, Done: 2, Failed: 2, Dead: 1, Error: "1 dead", Owner: "w1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, store.Run{Route: "stock", Trigger: "schedule", Mode: "full", Status: store.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimTick(ctx, store.TickClaim{Route: "stock", Spec: "*/5 * * * *", Next: t0.Add(5 * time.Minute), Outcome: store.TickReset, At: t0}); err != nil || !ok {
		t.Fatalf("claim tick: %v %v", ok, err)
	}
	if ok, err := s.ClaimTick(ctx, store.TickClaim{Route: "stock", Spec: "*/5 * * * *", Prev: t0.Add(5 * time.Minute), Next: t0.Add(10 * time.Minute), Outcome: store.TickFired, At: t0.Add(5 * time.Minute)}); err != nil || !ok {
		t.Fatalf("claim tick: %v %v", ok, err)
	}
	// Live state of the source's processes: not copied.
	if err := s.Beat(ctx, store.Process{ID: "w1", Host: "h", PID: 1, StartedAt: t0, SeenAt: t0, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Lead(ctx, "scheduler", "w1", t0, t0.Add(time.Minute), ""); err != nil || !ok {
		t.Fatalf("lead: %v %v", ok, err)
	}
	if _, ok, err := s.LockRoute(ctx, "orders", "w1", t0, t0.Add(time.Minute), ""); err != nil || !ok {
		t.Fatalf("lock route: %v %v", ok, err)
	}
}

// released is what a copy holds of src: leased entries and outbox items
// put back as the rescuer does (entries pending when never attempted).
func released(sn snapshot) snapshot {
	out := sn
	out.Entries = nil
	for _, e := range sn.Entries {
		if e.Status == store.StatusLeased {
			e.Status, e.LeaseOwner, e.LeaseUntil = store.StatusPending, "", time.Time{}
			if e.Attempts > 0 {
				e.Status = store.StatusError
			}
		}
		out.Entries = append(out.Entries, e)
	}
	out.Outbox = nil
	for _, o := range sn.Outbox {
		o.LeaseOwner, o.LeaseUntil = "", time.Time{}
		out.Outbox = append(out.Outbox, o)
	}
	return out
}

func compare(t *testing.T, what string, got, want snapshot) {
	t.Helper()
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			gj, _ := json.MarshalIndent(g.Field(i).Interface(), "", " ")
			wj, _ := json.MarshalIndent(w.Field(i).Interface(), "", " ")
			t.Errorf("%s: %s differ:\ngot  %s\nwant %s", what, name, gj, wj)
		}
	}
}

func openPG(t *testing.T) *postgres.Store {
	t.Helper()
	pg, err := postgres.Open(context.Background(), pgtest.DSN(), postgres.Options{Schema: pgtest.FreshSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A SQLite store copied to PostgreSQL and back to a new SQLite file
// loses nothing, keeps its identity and never hands out an ID again.
func TestCopySQLiteToPostgresAndBack(t *testing.T) {
	pgtest.Need(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := openSQLite(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	want := released(read(t, src))
	// Not a vacuous comparison: the source holds some of everything.
	if len(want.Entries) != 5 || len(want.DeadLetters) != 1 || len(want.Attempts) != 4 || len(want.Runs) != 2 ||
		len(want.Delivered) != 2 || len(want.Outbox) != 2 || len(want.Ticks) != 1 || want.Cursors["stock"] != "42" {
		t.Fatalf("source = %+v", want)
	}

	pg := openPG(t)
	var progress bytes.Buffer
	res, err := storecopy.Copy(ctx, src, pg, storecopy.Options{Chunk: 2, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Leased != 1 || res.Released != 1 || res.ID != src.ID() {
		t.Errorf("result = %+v, want 1 leased entry released and the source's ID", res)
	}
	if !strings.Contains(progress.String(), "copy: entries: 5 rows") {
		t.Errorf("progress:\n%s", progress.String())
	}
	pg.Close()
	pg2, err := postgres.Open(ctx, pgtest.DSN(), postgres.Options{Schema: pg.Schema()})
	if err != nil {
		t.Fatal(err)
	}
	defer pg2.Close()
	compare(t, "postgres copy", read(t, pg2), want)
	assertNotCopied(t, pg2)

	back := openSQLite(t, filepath.Join(dir, "back.db"))
	if _, err := storecopy.Copy(ctx, pg2, back, storecopy.Options{}); err != nil {
		t.Fatal(err)
	}
	back.Close()
	back2 := openSQLite(t, filepath.Join(dir, "back.db"))
	compare(t, "sqlite copy of the postgres copy", read(t, back2), want)

	// IDs go on after the highest ever handed out (k7, delivered, gone).
	srcMax := int64(0)
	for _, a := range want.Attempts {
		srcMax = max(srcMax, a.EntryID)
	}
	for _, s := range []store.Store{pg2, back2} {
		if _, err := s.EnqueuePage(ctx, "orders", []store.NewEntry{{Key: "k8", Payload: payload("k8", 1)}}, nil, t0); err != nil {
			t.Fatal(err)
		}
		es, err := s.Entries(ctx, store.EntryFilter{Route: "orders", Key: "k8"})
		if err != nil || len(es) != 1 {
			t.Fatalf("k8: %v %v", es, err)
		}
		if es[0].ID <= srcMax {
			t.Errorf("%T: new entry got ID %d, not above the source's highest %d (an idempotency key would repeat)", s, es[0].ID, srcMax)
		}
	}
}

// assertNotCopied: live state of the source's processes stays behind.
func assertNotCopied(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	if ps, err := s.Processes(ctx); err != nil || len(ps) != 0 {
		t.Errorf("processes copied: %+v %v", ps, err)
	}
	if ls, err := s.(store.Inspector).Leaders(ctx); err != nil || len(ls) != 0 {
		t.Errorf("leaders copied: %+v %v", ls, err)
	}
	if holder, ok, err := s.LockRoute(ctx, "orders", "new", t0, t0.Add(time.Minute), ""); err != nil || !ok {
		t.Errorf("route lock copied: held by %q (%v)", holder, err)
	}
}

// A target that holds anything is refused, saying what it holds, and
// keeps it.
func TestCopyRefusesATargetThatIsNotEmpty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := openSQLite(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	dst := openSQLite(t, filepath.Join(dir, "dst.db"))
	if _, err := dst.EnqueuePage(ctx, "other", []store.NewEntry{{Key: "x", Payload: payload("x", 1)}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	before := read(t, dst)
	_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{})
	if err == nil || !strings.Contains(err.Error(), "not empty: it holds 1 entries") {
		t.Fatalf("copy into a store holding an entry: %v", err)
	}
	compare(t, "refused target", read(t, dst), before)
}

// SQLite to SQLite needs no server: the same comparison, always run.
func TestCopySQLiteToSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := openSQLite(t, filepath.Join(dir, "src.db"))
	fill(t, src)
	want := released(read(t, src))
	dst := openSQLite(t, filepath.Join(dir, "dst.db"))
	if _, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Chunk: 1}); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	compare(t, "sqlite copy", read(t, openSQLite(t, filepath.Join(dir, "dst.db"))), want)
}

// A store larger than a chunk streams through in chunks, with progress,
// into either kind of store.
func TestCopyInChunks(t *testing.T) {
	const n = 2500
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			src := openSQLite(t, filepath.Join(t.TempDir(), "src.db"))
			page := make([]store.NewEntry, 0, n)
			for i := range n {
				k := fmt.Sprintf("k%05d", i)
				page = append(page, store.NewEntry{Key: k, Payload: payload(k, i)})
			}
			if _, err := src.EnqueuePage(ctx, "orders", page, nil, t0); err != nil {
				t.Fatal(err)
			}
			var dst store.Store
			if kind == "postgres" {
				pgtest.Need(t)
				dst = openPG(t)
			} else {
				dst = openSQLite(t, filepath.Join(t.TempDir(), "dst.db"))
			}
			var progress bytes.Buffer
			res, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Chunk: 100, Progress: &progress, ProgressEvery: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Counts[store.TableEntries] != n {
				t.Errorf("copied %v", res.Counts)
			}
			for _, want := range []string{"copy: entries: 1000 rows so far\n", "copy: entries: 2000 rows so far\n", "copy: entries: 2500 rows\n"} {
				if !strings.Contains(progress.String(), want) {
					t.Errorf("progress lacks %q:\n%s", want, progress.String())
				}
			}
			got, err := dst.Entries(ctx, store.EntryFilter{Route: "orders", Limit: n + 1})
			if err != nil {
				t.Fatal(err)
			}
			want, err := src.Entries(ctx, store.EntryFilter{Route: "orders", Limit: n + 1})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("entries differ after the copy (%d vs %d)", len(got), len(want))
			}
		})
	}
}

// cancelOn cancels a context when a progress line holds a word.
type cancelOn struct {
	word   string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.word) {
		c.cancel()
	}
	return len(p), nil
}

// A copy broken off halfway leaves the target empty, ready for another.
func TestCopyBrokenOffLeavesTheTargetEmpty(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			src := openSQLite(t, filepath.Join(dir, "src.db"))
			fill(t, src)
			var dst store.Store
			if kind == "postgres" {
				pgtest.Need(t)
				dst = openPG(t)
			} else {
				dst = openSQLite(t, filepath.Join(dir, "dst.db"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Cancelled once the entries are in: the next table fails.
			_, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Progress: cancelOn{"copy: entries:", cancel}})
			if err == nil || !strings.Contains(err.Error(), "nothing was written to the target") {
				t.Fatalf("broken-off copy: %v", err)
			}
			counts, err := dst.(store.Inspector).TableCounts(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if h := storecopy.Holdings(counts); h != "nothing" {
				t.Fatalf("target holds %s after a broken-off copy", h)
			}
			if _, err := storecopy.Copy(context.Background(), src, dst, storecopy.Options{}); err != nil {
				t.Fatalf("copy again: %v", err)
			}
		})
	}
}
