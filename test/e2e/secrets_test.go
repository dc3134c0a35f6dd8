package e2e

// A secret a route puts in a destination header or a body template (not
// in a system's auth) must never be shown or stored either: the
// destination echoes it back in its error pages, and every output of
// ferry and every text of the store is searched for it.

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"
)

const (
	headerSecret = "hdr-Secret-4711"
	bodySecret   = "body-Secret-0815"
)

// secretForms are the ways a secret may come back: as is, URL-escaped,
// JSON-escaped.
func secretForms() []string {
	var out []string
	for _, s := range []string{headerSecret, bodySecret} {
		out = append(out, s, url.QueryEscape(s))
	}
	return out
}

func leaked(text string) []string {
	var found []string
	for _, f := range secretForms() {
		if strings.Contains(text, f) {
			found = append(found, f)
		}
	}
	return found
}

// echoFail answers every request with a failure that echoes everything it
// got: the record with key 1 a 400, the others a 503; the source path
// /src a 400 too.
func echoFail(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	status := http.StatusServiceUnavailable
	if strings.HasSuffix(r.URL.Path, "/1") || r.URL.Path == "/src" {
		status = http.StatusBadRequest
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	fmt.Fprintf(w, "refused: X-Api-Token=%s X-Tok=%s url=%s body=%s",
		r.Header.Get("X-Api-Token"), r.Header.Get("X-Tok"), r.URL, body)
}

// hookServer records the bodies of the on_error calls.
type hookServer struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(body))
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func TestRouteSecretsNeverShownOrStored(t *testing.T) {
	t.Setenv("FERRY_E2E_TOK", headerSecret)
	t.Setenv("FERRY_E2E_TOK_BODY", bodySecret)
	shop := serveRecords(t, map[string]any{"id": 1}, map[string]any{"id": 2})
	erp := httptest.NewServer(http.HandlerFunc(echoFail))
	t.Cleanup(erp.Close)
	hook := &hookServer{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	cfg := writeConfig(t, fmt.Sprintf(`
store: ferry.db
systems:
  shop: { url: %q, timeout: 5s }
  erp: { url: %q, timeout: 5s }
  hook: { url: %q, timeout: 5s }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id }
    destinations:
      default:
        http:
          system: erp
          method: POST
          path: "/orders/${key}"
          body: each
          headers: { X-Api-Token: "${env:FERRY_E2E_TOK}", X-Tok: "${env:FERRY_E2E_TOK}" }
          map: { id: id, tok: '"${env:FERRY_E2E_TOK_BODY}"' }
    retry: { attempts: 2, backoff: 50ms, max_backoff: 100ms }
    on_error:
      - http:
          system: hook
          path: /dead
          body: { key: "${key}", error: "${error}", tok: "${tok}" }
  broken:
    source:
      http: { system: erp, path: /src, records: data, key: id, headers: { X-Api-Token: "${env:FERRY_E2E_TOK}" } }
    destinations:
      default:
        http: { system: hook, path: /never }
`, shop.URL, erp.URL, hookSrv.URL))

	var outputs []string
	run := func(args ...string) result {
		r := ferry(t, cfg, args...)
		outputs = append(outputs, fmt.Sprintf("ferry %s\n%s", strings.Join(args, " "), r))
		return r
	}
	if r := run("run", "orders", "--dry-run"); r.code != 0 || !strings.Contains(r.stdout, "REDACTED") {
		t.Fatalf("dry run shows no redacted body:\n%s", r)
	}
	if r := run("--log-level", "debug", "run", "orders", "--no-progress"); r.code == 0 || !strings.Contains(r.String(), "http request") {
		t.Fatalf("the run did not fail, or logged no request to search:\n%s", r)
	}
	if r := run("--log-level", "debug", "run", "broken", "--no-progress"); r.code == 0 {
		t.Fatalf("the broken source did not fail:\n%s", r)
	}
	run("history", "orders")
	run("history", "broken")
	run("history", "orders", "--json")
	run("history", "orders", "--dead")
	run("history", "orders", "--dead", "--json")
	run("history", "orders", "--attempts", "--json")
	for _, key := range []string{"1", "2"} {
		if r := run("history", "orders", "--key", key, "--json"); r.code != 0 {
			t.Fatalf("history --key %s:\n%s", key, r)
		}
		run("history", "orders", "--key", key)
	}
	run("queue", "orders", "--json")
	run("routes")

	all := strings.Join(outputs, "\n")
	if !strings.Contains(all, "refused: X-Api-Token=REDACTED") || !strings.Contains(all, "gave up after 2 attempts") {
		t.Fatalf("the echo of the failing destination is not in the history; the test sees nothing:\n%s", all)
	}
	for _, out := range outputs {
		if l := leaked(out); len(l) > 0 {
			t.Errorf("secret %v shown by %s", l, out)
		}
	}

	hook.mu.Lock()
	bodies := hook.bodies
	hook.mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("on_error calls: %d, want 2 (one per dead letter): %q", len(bodies), bodies)
	}
	for _, b := range bodies {
		if !strings.Contains(b, "REDACTED") {
			t.Errorf("on_error body shows no redacted error: %s", b)
		}
		if l := leaked(b); len(l) > 0 {
			t.Errorf("secret %v sent on to on_error: %s", l, b)
		}
	}

	for table, texts := range storeTexts(t, filepath.Join(filepath.Dir(cfg), "ferry.db")) {
		for _, text := range texts {
			if l := leaked(text); len(l) > 0 {
				t.Errorf("secret %v stored in %s: %s", l, table, text)
			}
		}
	}
	// And nowhere in the files at all (free pages, the WAL).
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg), "ferry.db*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if l := leaked(string(data)); len(l) > 0 {
			t.Errorf("secret %v in the bytes of %s", l, filepath.Base(f))
		}
	}
}

// storeTexts reads every text and blob column of every table of the
// store, by table.column.
func storeTexts(t *testing.T, path string) map[string][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := columnNames(db, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM %q`, table))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				switch v := v.(type) {
				case string:
					out[table+"."+cols[i]] = append(out[table+"."+cols[i]], v)
				case []byte:
					out[table+"."+cols[i]] = append(out[table+"."+cols[i]], string(v))
				}
			}
		}
		rows.Close()
	}
	if len(out) == 0 {
		t.Fatal("the store holds no text at all")
	}
	return out
}

func columnNames(db *sql.DB, query string) ([]string, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
