package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
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
	for _, tc := range []struct{ name, q string }{
		{"lease pending", `SELECT id FROM entries WHERE route = 'r' AND status = 'P' ORDER BY priority DESC, id LIMIT 5`},
		{"lease errors", `SELECT id FROM entries WHERE route = 'r' AND status = 'E' AND next_attempt_at <= 5 ORDER BY priority DESC, next_attempt_at, id LIMIT 5`},
		{"queued keys", `SELECT key FROM entries WHERE route = 'r' AND status IN ('P', 'E') AND key IN ('a', 'b')`},
		{"superseded", `SELECT 1 FROM entries n WHERE n.route = 'r' AND n.key = 'k' AND n.status IN ('P', 'E')`},
		{"leased", `SELECT DISTINCT lease_owner FROM entries WHERE route = 'r' AND status = 'L'`},
		{"next due", `SELECT min(next_attempt_at) FROM entries WHERE route = 'r' AND status = 'E'`},
		{"attempts", `SELECT id FROM attempts WHERE entry_id = 5 ORDER BY id`},
		{"recent", `SELECT id FROM attempts WHERE route = 'r' ORDER BY id DESC LIMIT 5`},
		{"leased keys", `SELECT key, hash FROM entries WHERE route = 'r' AND status = 'L' AND key IN ('a', 'b')`},
		{"delivered keys", `SELECT key, hash, entry_id, version FROM delivered WHERE route = 'r' AND key IN ('a', 'b')`},
		{"superseded by delivered", `SELECT 1 FROM delivered d WHERE d.route = 'r' AND d.key = 'k' AND d.entry_id > 5`},
		{"first due", firstDueSQL},
	} {
		rows, err := s.read.Query(`EXPLAIN QUERY PLAN `+tc.q, 1, 2)
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
