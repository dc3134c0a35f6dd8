package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestSynchronousOption(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"", 1}, {"?synchronous=normal", 1}, {"?synchronous=full", 2}} {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db")+tc.query)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.write.QueryRow(`PRAGMA synchronous`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got != tc.want {
			t.Errorf("%q: synchronous = %d, want %d", tc.query, got, tc.want)
		}
	}
}

// The hot statements must read the partial indexes, never scan the table.
func TestQueryPlansUseIndexes(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	settleQ, settleArgs := deleteLeasedSQL("w", 3, []int64{1, 2})
	for _, tc := range []struct {
		name, q string
		args    []any
	}{
		{"lease pending", `SELECT id FROM entries WHERE route = 'r' AND status = 'P' ORDER BY priority DESC, id LIMIT 5`, nil},
		{"lease errors", `SELECT id FROM entries WHERE route = 'r' AND status = 'E' AND next_attempt_at <= 5 ORDER BY priority DESC, next_attempt_at, id LIMIT 5`, nil},
		{"queued keys", `SELECT key FROM entries WHERE route = 'r' AND status IN ('P', 'E') AND key IN ('a', 'b')`, nil},
		{"superseded", `SELECT 1 FROM entries n WHERE n.route = 'r' AND n.key = 'k' AND n.status IN ('P', 'E')`, nil},
		{"leased", `SELECT DISTINCT lease_owner FROM entries WHERE route = 'r' AND status = 'L'`, nil},
		{"next due", `SELECT min(next_attempt_at) FROM entries WHERE route = 'r' AND status = 'E'`, nil},
		{"attempts", `SELECT id FROM attempts WHERE entry_id = 5 ORDER BY id`, nil},
		{"recent", `SELECT id FROM attempts WHERE route = 'r' ORDER BY id DESC LIMIT 5`, nil},
		{"leased keys", `SELECT key, hash FROM entries WHERE route = 'r' AND status = 'L' AND key IN ('a', 'b')`, nil},
		{"delivered keys", `SELECT key, hash, entry_id, version FROM delivered WHERE route = 'r' AND key IN ('a', 'b')`, nil},
		{"superseded by delivered", `SELECT 1 FROM delivered d WHERE d.route = 'r' AND d.key = 'k' AND d.entry_id > 5`, nil},
		{"first due", firstDueSQL, nil},
		{"settle", settleQ, settleArgs},
	} {
		args := tc.args
		if args == nil {
			args = []any{1, 2}
		}
		rows, err := s.read.Query(`EXPLAIN QUERY PLAN `+tc.q, args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", tc.name, joined)
		if strings.Contains(joined, "SCAN entries") || strings.Contains(joined, "SCAN attempts") || strings.Contains(joined, "SCAN n") ||
			strings.Contains(joined, "SCAN delivered") || strings.Contains(joined, "SCAN d") {
			t.Errorf("%s: plan %q scans the table", tc.name, joined)
		}
	}
}

func pragmaInt(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`PRAGMA ` + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// A new store is created in incremental auto-vacuum (set before its first
// table), keeping its 8 KiB pages.
func TestNewStoreIncrementalVacuum(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if av := pragmaInt(t, s.write, "auto_vacuum"); av != autoVacuumIncremental {
		t.Errorf("auto_vacuum = %d, want %d (incremental)", av, autoVacuumIncremental)
	}
	if ps := pragmaInt(t, s.write, "page_size"); ps != 8192 {
		t.Errorf("page_size = %d, want 8192", ps)
	}
}

// A store created before incremental vacuum is converted once at Open,
// keeping its data and WAL mode.
func TestOldStoreConvertedToIncrementalVacuum(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", path+"?_journal_mode=WAL&_pragma=page_size(8192)")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`INSERT INTO cursors (route, value, updated_at) VALUES ('orders', 'c1', 1)`); err != nil {
		t.Fatal(err)
	}
	if av := pragmaInt(t, old, "auto_vacuum"); av != 0 {
		t.Fatalf("setup: auto_vacuum = %d, want 0 (an old store)", av)
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if av := pragmaInt(t, s.write, "auto_vacuum"); av != autoVacuumIncremental {
		t.Errorf("auto_vacuum after Open = %d, want %d", av, autoVacuumIncremental)
	}
	if v, err := s.Cursor(ctx, "orders"); err != nil || v != "c1" {
		t.Errorf("cursor after conversion = %q, %v; want c1", v, err)
	}
	var mode string
	if err := s.write.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if ts := pragmaInt(t, s.write, "temp_store"); ts != 2 {
		t.Errorf("temp_store = %d after the conversion, want 2 (memory) back", ts)
	}
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Each delivered row has exactly one payload: a newer delivery of the key
// replaces it, an older one never does, and pruning the row removes it.
func TestDeliveredPayloadFollowsItsRow(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	deliver := func(payload string) store.Entry {
		got, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "a", Payload: json.RawMessage(payload)}}, nil, now, "w", now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	settle := func(e store.Entry) {
		if err := s.Settle(ctx, "w", []store.Settlement{{EntryID: e.ID, Outcome: store.OutcomeDone,
			Attempt: store.Attempt{At: now}}}); err != nil {
			t.Fatal(err)
		}
	}
	old, newer := deliver(`{"v":1}`), deliver(`{"v":2}`)
	settle(newer)
	settle(old) // late: must not replace the newer content
	newest := deliver(`{"v":3}`)
	settle(newest)
	if n := count(t, s.write, "delivered_payloads"); n != 1 {
		t.Errorf("%d payloads kept for one delivered key, want 1", n)
	}
	d, err := s.LastDelivered(ctx, "orders", "a")
	if err != nil || d.EntryID != newest.ID || string(d.Payload) != `{"v":3}` {
		t.Errorf("LastDelivered = %+v, %v; want entry %d with v 3", d, err, newest.ID)
	}
	if _, err := s.Prune(ctx, store.PruneRequest{DeliveredBefore: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.write, "delivered_payloads"); n != 0 {
		t.Errorf("%d payloads kept after their rows were pruned, want 0", n)
	}
}

// Delivered content written before the payloads moved to their own table
// (migration 0007) survives the move.
func TestDeliveredPayloadsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > 6 {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO delivered (route, key, entry_id, version, hash, payload, delivered_at)
		VALUES ('orders', 'a', 7, 2, 'h', CAST('{"a":1}' AS BLOB), 1000)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.LastDelivered(ctx, "orders", "a")
	if err != nil || d.EntryID != 7 || d.Version != 2 || d.Hash != "h" || string(d.Payload) != `{"a":1}` || d.DeliveredAt.UnixMilli() != 1000 {
		t.Errorf("LastDelivered after the migration = %+v, %v", d, err)
	}
}
