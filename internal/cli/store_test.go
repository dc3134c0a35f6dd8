package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/storeopen"
)

// storeKinds gives, per kind of store, a fresh store value (a new SQLite
// file, a fresh PostgreSQL schema dropped at the end).
func storeKinds() []storeKind {
	return []storeKind{
		{"sqlite", 11, func(t *testing.T) string { return filepath.Join(t.TempDir(), "ferry.db") }},
		{"postgres", 1, func(t *testing.T) string {
			pgtest.Need(t)
			return pgtest.DSN() + "&schema=" + pgtest.FreshSchema(t)
		}},
	}
}

type storeKind struct {
	kind  string
	known int // the schema version this ferry knows
	fresh func(t *testing.T) string
}

func TestStoreMigrate(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.kind, func(t *testing.T) {
			value := k.fresh(t)
			code, out, errOut := ferry(t, "store", "migrate", value)
			if want := fmt.Sprintf("%s store ", k.kind); code != 0 || !strings.HasPrefix(out, want) ||
				!strings.Contains(out, fmt.Sprintf("schema version 0 -> %d\n", k.known)) {
				t.Fatalf("first migrate: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = ferry(t, "store", "migrate", value)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("schema version %d, up to date", k.known)) {
				t.Fatalf("second migrate: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// The config's store is the default STORE; a password on the command
// line is refused without being echoed.
func TestStoreValues(t *testing.T) {
	cfg := newKeyWorld(t, 1).config(t, "queue.db")
	code, out, errOut := ferry(t, "-c", cfg, "store", "migrate")
	if code != 0 || !strings.Contains(out, filepath.Join(filepath.Dir(cfg), "queue.db")+": schema version 0 -> 11") {
		t.Fatalf("migrate the config's store: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct {
		name, value, want string
	}{
		{"password", "postgres://ferry:hunter2@db:5432/ferry", "password is on the command line"},
		{"no database", "postgres://ferry@db:5432", "needs a host and a database"},
		{"unknown scheme", "mysql://db/ferry", "expected the path of a SQLite file or a postgres:// URL"},
		{"unset variable", "postgres://ferry:${env:FERRY_TEST_UNSET_PASSWORD}@db:5432/ferry", "FERRY_TEST_UNSET_PASSWORD is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := ferry(t, "store", "status", c.value)
			if code != ExitUsage || !strings.Contains(errOut, c.want) || strings.Contains(out+errOut, "hunter2") {
				t.Fatalf("exit %d, want %d and %q\n%s%s", code, ExitUsage, c.want, out, errOut)
			}
		})
	}
}

// status shows the kind, version, contents, processes (alive or gone),
// leaders and leases, in text and JSON.
func TestStoreStatus(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.kind, func(t *testing.T) {
			ctx := context.Background()
			value := k.fresh(t)
			st, err := storeopen.Open(ctx, value)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Now()
			if c, ok := st.(store.Clock); ok {
				if now, err = c.Now(ctx); err != nil {
					t.Fatal(err)
				}
			}
			page := []store.NewEntry{{Key: "a", Payload: json.RawMessage(`{}`)}, {Key: "b", Payload: json.RawMessage(`{}`)}, {Key: "c", Payload: json.RawMessage(`{}`)}}
			if _, err := st.EnqueuePage(ctx, "orders", page, nil, now); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "h1:1:x", Limit: 2, Now: now, Until: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []store.Process{
				{ID: "h1:1:x", Host: "h1", PID: 1, Listen: "127.0.0.1:8080", StartedAt: now, SeenAt: now, Until: now.Add(time.Hour)},
				{ID: "h2:2:y", Host: "h2", PID: 2, StartedAt: now.Add(-time.Hour), SeenAt: now.Add(-time.Hour), Until: now.Add(-time.Minute)},
			} {
				if err := st.Beat(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok, err := st.Lead(ctx, "scheduler", "h1:1:x", now, now.Add(time.Hour), ""); err != nil || !ok {
				t.Fatalf("lead: %v %v", ok, err)
			}

			code, out, errOut := ferry(t, "store", "status", value, "--json")
			if code != 0 {
				t.Fatalf("status --json: exit %d\n%s%s", code, out, errOut)
			}
			var s storeStatus
			if err := json.Unmarshal([]byte(out), &s); err != nil {
				t.Fatalf("status --json: %v\n%s", err, out)
			}
			if s.Kind != k.kind || s.SchemaVersion != k.known || s.KnownVersion != k.known || s.ID != st.ID() || s.Tables["entries"] != 3 {
				t.Errorf("status = %+v", s)
			}
			alive := map[string]bool{}
			for _, p := range s.Processes {
				alive[p.ID] = p.Alive
			}
			if len(alive) != 2 || !alive["h1:1:x"] || alive["h2:2:y"] {
				t.Errorf("processes = %+v, want h1 alive, h2 gone", s.Processes)
			}
			if len(s.Leaders) != 1 || s.Leaders[0].Role != "scheduler" || s.Leaders[0].Owner != "h1:1:x" || s.Leaders[0].Expired {
				t.Errorf("leaders = %+v", s.Leaders)
			}
			if len(s.Leases) != 1 || s.Leases[0].Route != "orders" || s.Leases[0].Owner != "h1:1:x" || s.Leases[0].Entries != 2 {
				t.Errorf("leases = %+v", s.Leases)
			}

			code, out, errOut = ferry(t, "store", "status", value)
			for _, want := range []string{
				"store:     " + k.kind, fmt.Sprintf("schema:    version %d\n", k.known), "holds:     3 entries",
				"processes: 2", "h1:1:x", "127.0.0.1:8080", "alive", "gone",
				"leaders:   1", "scheduler", "leads",
				"leases:    2 entries", "orders",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("status lacks %q:\n%s%s", want, out, errOut)
				}
			}
			if code != 0 {
				t.Errorf("status: exit %d", code)
			}
		})
	}
}

// keyWorld is a shop with n records and an ERP that records every
// Idempotency-Key it gets per key and answers 503 for keys in reject.
type keyWorld struct {
	cfg    string // ferry.yaml without store:
	yaml   []byte
	mu     sync.Mutex
	reject map[string]bool
	keys   map[string][]string // key -> Idempotency-Key of each request
}

func newKeyWorld(t *testing.T, n int) *keyWorld {
	t.Helper()
	w := &keyWorld{reject: map[string]bool{}, keys: map[string][]string{}}
	shop := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var data []map[string]any
		for i := 1; i <= n; i++ {
			data = append(data, map[string]any{"id": i, "email": fmt.Sprintf("c%d@example.com", i)})
		}
		json.NewEncoder(rw).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(shop.Close)
	erp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/customers/")
		w.mu.Lock()
		defer w.mu.Unlock()
		w.keys[key] = append(w.keys[key], r.Header.Get("Idempotency-Key"))
		if w.reject[key] {
			rw.WriteHeader(503)
			return
		}
		rw.WriteHeader(201)
	}))
	t.Cleanup(erp.Close)
	w.yaml = fmt.Appendf(nil, `
systems:
  shop: { url: %q }
  erp: { url: %q }
routes:
  customers:
    source:
      http: { system: shop, path: /customers, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/customers/${key}" }
    retry: { attempts: 5, backoff: 1h, max_backoff: 1h }
`, shop.URL, erp.URL)
	return w
}

// config writes a ferry.yaml on the store value and returns its path.
func (w *keyWorld) config(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, append([]byte(fmt.Sprintf("store: %q\n", value)), w.yaml...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *keyWorld) sent(key string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.keys[key]...)
}

// A queue copied from SQLite to PostgreSQL and back is sent from the
// copy: its error entries go out with the idempotency keys of their
// first attempts, and what was delivered is not sent again.
func TestStoreCopyThenRun(t *testing.T) {
	pgtest.Need(t)
	w := newKeyWorld(t, 3)
	w.reject["2"], w.reject["3"] = true, true
	src := filepath.Join(t.TempDir(), "ferry.db")
	code, out, errOut := ferry(t, "-c", w.config(t, src), "run", "customers")
	if code != ExitPartial || !strings.Contains(out, "delivered 1") {
		t.Fatalf("run on sqlite: exit %d\n%s%s", code, out, errOut)
	}
	first2, first3 := w.sent("2"), w.sent("3")
	if len(first2) != 1 || len(first3) != 1 || first2[0] == "" || first2[0] == first3[0] {
		t.Fatalf("idempotency keys of the first attempts: %v %v", first2, first3)
	}

	pg := pgtest.DSN() + "&schema=" + pgtest.FreshSchema(t)
	code, out, errOut = ferry(t, "store", "copy", src, pg)
	if code != 0 || !strings.Contains(out, "copied 2 entries, 3 attempts, 1 runs, 1 delivered into postgres://") ||
		!strings.Contains(errOut, "copy: entries: 2 rows") {
		t.Fatalf("copy to postgres: exit %d\n%s%s", code, out, errOut)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	if code, out, errOut = ferry(t, "store", "copy", pg, back); code != 0 {
		t.Fatalf("copy back: exit %d\n%s%s", code, out, errOut)
	}
	// Into a store that holds something: refused, saying what.
	code, out, errOut = ferry(t, "store", "copy", src, back)
	if code != ExitFailed || !strings.Contains(errOut, "not empty: it holds 2 entries, 3 attempts, 1 runs, 1 delivered") {
		t.Fatalf("copy into a full store: exit %d\n%s%s", code, out, errOut)
	}

	w.mu.Lock()
	w.reject = map[string]bool{}
	w.mu.Unlock()
	for _, value := range []string{pg, back} {
		cfg := w.config(t, value)
		if code, out, errOut = ferry(t, "-c", cfg, "retry", "customers", "--errors"); code != 0 {
			t.Fatalf("retry --errors on the copy: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = ferry(t, "-c", cfg, "run", "customers")
		if code != 0 || !strings.Contains(out, "delivered 2") {
			t.Fatalf("run on the copy %s: exit %d\n%s%s", storeName(value), code, out, errOut)
		}
	}
	// Each copy sent 2 and 3 once more, with their first keys; 1 never.
	for key, first := range map[string]string{"2": first2[0], "3": first3[0]} {
		if got := w.sent(key); len(got) != 3 || got[1] != first || got[2] != first {
			t.Errorf("key %s sent with %v, want %s each time", key, got, first)
		}
	}
	if got := w.sent("1"); len(got) != 1 {
		t.Errorf("key 1 (delivered before the copy) sent %d times", len(got))
	}
}

// A source in use by a live process is not copied unless --live.
func TestStoreCopyRefusesALiveSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	st, err := storeopen.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err = st.Beat(ctx, store.Process{ID: "h:7:z", Host: "h", PID: 7, StartedAt: now, SeenAt: now, Until: now.Add(time.Hour)})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferry(t, "store", "copy", src, filepath.Join(dir, "a.db"))
	if code != ExitFailed || !strings.Contains(errOut, "in use by 1 live ferry process(es): h:7:z (pid 7 on h)") {
		t.Fatalf("copy of a live store: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = ferry(t, "store", "copy", "--live", src, filepath.Join(dir, "b.db")); code != 0 {
		t.Fatalf("copy --live: exit %d\n%s%s", code, out, errOut)
	}
}
