package e2e

// Bad input, as a demanding user meets it: broken config files, a
// destination that fails in every way an HTTP server can, a source that
// fails or stalls, odd payloads, a store that cannot be opened. Every case
// checks three things: the exit code, that the message names the place,
// and that nothing was lost (the record waits in the queue or in the error
// history with its reason, and is delivered once the cause is fixed).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// result is what one ferry command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// ferry runs the binary with the config at cfg and returns its output.
func ferry(t *testing.T, cfg string, args ...string) result {
	t.Helper()
	cmd := exec.Command(ferryBin, append([]string{"-c", cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ferry %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// writeConfig writes text as ferry.yaml in a fresh directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveRecords answers every GET with {"data": records}.
func serveRecords(t *testing.T, records ...map[string]any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"data": records})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// inbox is a destination that stores what it accepts, by key (the last
// path segment), and behaves badly through fail until fixed is set.
type inbox struct {
	fail  http.HandlerFunc // nil: accept everything
	fixed atomic.Bool

	mu     sync.Mutex
	bodies map[string][]byte
}

func (b *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if b.fail != nil && !b.fixed.Load() {
		b.fail(w, r)
		return
	}
	b.mu.Lock()
	b.bodies[lastSegment(r)] = body
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

// lastSegment is the unescaped last segment of the request's path: the
// key, since a key is escaped as one segment ("A/7" arrives as "A%2F7").
func lastSegment(r *http.Request) string {
	p := r.URL.EscapedPath()
	seg, err := url.PathUnescape(p[strings.LastIndex(p, "/")+1:])
	if err != nil {
		return p
	}
	return seg
}

func (b *inbox) got(key string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	body, ok := b.bodies[key]
	return body, ok
}

func newInbox(t *testing.T, fail http.HandlerFunc) (*inbox, *httptest.Server) {
	b := &inbox{fail: fail, bodies: map[string][]byte{}}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

// routeConfig is one route from shop to erp, one request per record, with
// short timeouts and backoffs so that retries finish within the run.
func routeConfig(shop, erp, timeout, extra string) string {
	return fmt.Sprintf(`
store: ferry.db
systems:
  shop: { url: %q, timeout: %s }
  erp: { url: %q, timeout: %s }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}", body: each %s }
    retry: { attempts: 2, backoff: 100ms, max_backoff: 200ms }
`, shop, timeout, erp, timeout, extra)
}

type queuedEntry struct {
	Key           string     `json:"key"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

func queued(t *testing.T, cfg string) []queuedEntry {
	t.Helper()
	r := ferry(t, cfg, "queue", "orders", "--json")
	var list []queuedEntry
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil {
		t.Fatalf("ferry queue --json:\n%s", r)
	}
	return list
}

// A destination that fails in any retryable way: every record is tried
// retry.attempts times, then kept as a dead letter with the reason; after
// the cause is fixed, `ferry retry --dead` and a run deliver it.
func TestDestinationFailuresKeepRecordsAsDeadLetters(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		fail    http.HandlerFunc
		results string // the destination's results option, if any
		want    string // in the dead letter's error, after the destination URL when it starts with ":"
	}{{
		name: "500 on every request",
		fail: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"db locked"}`, http.StatusInternalServerError)
		},
		want: `HTTP 500 Internal Server Error: {"error":"db locked"} (gave up after 2 attempts)`,
	}, {
		name: "200 with an HTML body where results are expected",
		fail: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>OK</body></html>")
		},
		results: `, results: { ok: 'ok ?? true', error: error }`,
		want:    "read per-record results: response is not JSON",
	}, {
		name: "no answer within the system timeout",
		fail: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		},
		want: `: no complete response within 300ms (the timeout of system "erp")`,
	}, {
		name: "connection closed without an answer",
		fail: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		},
		want: ":",
	}, {
		name: "429 with Retry-After",
		fail: func() http.HandlerFunc {
			var first atomic.Int64 // unix nanoseconds of the first request
			return func(w http.ResponseWriter, r *http.Request) {
				now := time.Now().UnixNano()
				if !first.CompareAndSwap(0, now) && time.Duration(now-first.Load()) < 900*time.Millisecond {
					http.Error(w, "retried before Retry-After", http.StatusTooManyRequests)
					return
				}
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			}
		}(),
		want: "HTTP 429 Too Many Requests: slow down (gave up after 2 attempts)",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			shop := serveRecords(t, map[string]any{"id": 1042, "total": 9.5})
			erp, erpSrv := newInbox(t, tc.fail)
			cfg := writeConfig(t, routeConfig(shop.URL, erpSrv.URL, "300ms", tc.results))
			want := tc.want
			if strings.HasPrefix(want, ":") {
				want = "POST " + erpSrv.URL + "/orders/1042" + want
			}

			run := ferry(t, cfg, "run", "orders", "--no-progress")
			if run.code != 1 || !strings.Contains(run.stdout, "orders: failed") || !strings.Contains(run.stdout, "1 dead letters") {
				t.Fatalf("run: want exit 1, a failed run and 1 dead letter\n%s", run)
			}
			dead := ferry(t, cfg, "history", "orders", "--dead")
			if dead.code != 0 || !strings.Contains(dead.stdout, want) || !strings.Contains(dead.stdout, "1042") {
				t.Fatalf("history --dead does not keep record 1042 with %q\n%s", want, dead)
			}
			attempts := ferry(t, cfg, "history", "orders", "--attempts")
			reason, _, _ := strings.Cut(want, " (gave up")
			if n := strings.Count(attempts.stdout, reason); n != 2 {
				t.Errorf("history --attempts shows %d attempts with the reason, want 2\n%s", n, attempts)
			}

			// The cause is fixed: the dead letter is replayed and delivered.
			erp.fixed.Store(true)
			if r := ferry(t, cfg, "retry", "orders", "--dead"); r.code != 0 || !strings.Contains(r.stdout, "1 entry queued again") {
				t.Fatalf("retry --dead:\n%s", r)
			}
			if r := ferry(t, cfg, "run", "orders", "--no-progress"); r.code != 0 {
				t.Fatalf("run after the fix:\n%s", r)
			}
			if _, ok := erp.got("1042"); !ok {
				t.Fatal("record 1042 was not delivered after the fix")
			}
			if q := queued(t, cfg); len(q) != 0 {
				t.Errorf("queue after the fix: %+v", q)
			}
		})
	}
}

// One record refused with a 422 becomes a dead letter at once (retrying
// cannot help) while the others of the batch are delivered; the run says
// "partially failed" and exits 3.
func TestOneRefusedRecordDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	shop := serveRecords(t, map[string]any{"id": 1}, map[string]any{"id": 2}, map[string]any{"id": 3})
	erp := &inbox{bodies: map[string][]byte{}}
	erpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lastSegment(r) == "2" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"customer 77 is blocked"}`)
			return
		}
		erp.ServeHTTP(w, r)
	}))
	t.Cleanup(erpSrv.Close)
	cfg := writeConfig(t, routeConfig(shop.URL, erpSrv.URL, "2s", ""))

	run := ferry(t, cfg, "run", "orders", "--no-progress")
	if run.code != 3 || !strings.Contains(run.stdout, "orders: partially failed") {
		t.Fatalf("run: want exit 3, partially failed\n%s", run)
	}
	for _, k := range []string{"1", "3"} {
		if _, ok := erp.got(k); !ok {
			t.Errorf("record %s was not delivered", k)
		}
	}
	dead := ferry(t, cfg, "history", "orders", "--dead")
	if !strings.Contains(dead.stdout, `HTTP 422 Unprocessable Entity: {"error":"customer 77 is blocked"}`) {
		t.Fatalf("history --dead does not hold the 422 with its body\n%s", dead)
	}
	// Dead at once: one attempt, no "gave up after".
	hist := ferry(t, cfg, "history", "orders", "--key", "2")
	if n := strings.Count(hist.stdout, "HTTP 422"); n != 1 || strings.Contains(hist.stdout, "gave up") {
		t.Errorf("record 2 has %d attempts, want 1 (a 422 is not retried)\n%s", n, hist)
	}
}

// A record that fails in the steps (a failed validate, an expression that
// fails on this record's data) is a dead letter with the step and the
// reason; the other records go on.
func TestRecordFailingInStepsIsDeadLetter(t *testing.T) {
	t.Parallel()
	shop := serveRecords(t, map[string]any{"id": 1}, map[string]any{"id": 2}, map[string]any{"id": 3})
	erp, erpSrv := newInbox(t, nil)
	cfg := writeConfig(t, strings.Replace(routeConfig(shop.URL, erpSrv.URL, "2s", ""), "    destinations:", `    steps:
      - validate: { if: "id != 3", message: "order ${id} is blocked" }
      - map: { id: id, city: 'id == 2 ? shipping.city : "Berlin"' }
    destinations:`, 1))

	run := ferry(t, cfg, "run", "orders", "--no-progress")
	if run.code != 3 {
		t.Fatalf("run: want exit 3\n%s", run)
	}
	if _, ok := erp.got("1"); !ok {
		t.Error("record 1 was not delivered")
	}
	dead := ferry(t, cfg, "history", "orders", "--dead")
	for _, want := range []string{"order 3 is blocked", `steps[1].map.city: evaluate`, "cannot fetch city from <nil>"} {
		if !strings.Contains(dead.stdout, want) {
			t.Errorf("history --dead lacks %q\n%s", want, dead)
		}
	}
}

// The source fails: a 500 that passes is retried and the run succeeds; a
// page that never answers or answers HTML ends the run partially failed
// (exit 3) with the page, the URL and the cause, and the pages before it
// are delivered in the same run.
func TestSourceFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		page     func(calls int, w http.ResponseWriter, r *http.Request) // calls counts requests for page 2
		wantCode int
		want     string // in the run's output; "" for none
	}{{
		name: "500 twice, then the page",
		page: func(calls int, w http.ResponseWriter, r *http.Request) {
			if calls <= 2 {
				http.Error(w, "db down", http.StatusInternalServerError)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"data": []map[string]any{{"id": 3}}})
		},
		wantCode: 0,
	}, {
		name: "page 2 never answers",
		page: func(calls int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		},
		wantCode: 3, // page 1 was delivered: partially failed
		want:     `collect: page 2 (GET {shop}/orders?page=2&size=2): no complete response within 100ms (the timeout of system "shop") (gave up after 4 attempts)`,
	}, {
		name: "page 2 is HTML",
		page: func(calls int, w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>maintenance</html>")
		},
		wantCode: 3,
		want:     `collect: page 2 (GET {shop}/orders?page=2&size=2): response is not JSON: invalid character '<' looking for beginning of value; body starts with: <html>maintenance</html>`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("page") == "2" {
					tc.page(int(calls.Add(1)), w, r)
					return
				}
				json.NewEncoder(w).Encode(map[string]any{"data": []map[string]any{{"id": 1}, {"id": 2}}})
			}))
			t.Cleanup(shop.Close)
			erp, erpSrv := newInbox(t, nil)
			cfg := writeConfig(t, strings.Replace(routeConfig(shop.URL, erpSrv.URL, "100ms", ""),
				"key: id }", "key: id, paginate: { page: { size: 2 } } }", 1))

			run := ferry(t, cfg, "run", "orders", "--no-progress")
			want := strings.ReplaceAll(tc.want, "{shop}", shop.URL)
			if run.code != tc.wantCode || !strings.Contains(run.stdout+run.stderr, want) {
				t.Fatalf("run: want exit %d and %q\n%s", tc.wantCode, want, run)
			}
			// Page 1 is delivered whatever happened to page 2.
			for _, k := range []string{"1", "2"} {
				if _, ok := erp.got(k); !ok {
					t.Errorf("record %s of page 1 was not delivered", k)
				}
			}
			if tc.wantCode == 0 {
				if _, ok := erp.got("3"); !ok {
					t.Error("record 3 of page 2 was not delivered after the source recovered")
				}
				return
			}
			hist := ferry(t, cfg, "history", "orders")
			if !strings.Contains(hist.stdout, "partially_failed") || !strings.Contains(hist.stdout, `route "orders": collect: page 2`) {
				t.Errorf("history does not show the failed run with its page\n%s", hist)
			}
		})
	}
}

// Odd but valid payloads travel unchanged: deep nesting, every kind of
// Unicode (a NUL, emoji, right-to-left text), a string of 2 MB.
func TestOddPayloadsArriveUnchanged(t *testing.T) {
	t.Parallel()
	var deep any = "bottom"
	for range 200 {
		deep = map[string]any{"n": deep}
	}
	records := []map[string]any{
		{"id": "deep", "deep": deep},
		{"id": "unicode", "name": "Grüße aus 東京 😀 \u0000 end", "rtl": "שלום", "key with space": "ok"},
		{"id": "long", "text": strings.Repeat("é", 1<<20)},
		{"id": "Ä/7 x?", "note": "a key that must be escaped in the path"},
	}
	shop := serveRecords(t, records...)
	erp, erpSrv := newInbox(t, nil)
	cfg := writeConfig(t, routeConfig(shop.URL, erpSrv.URL, "5s", ""))
	if run := ferry(t, cfg, "run", "orders", "--no-progress"); run.code != 0 {
		t.Fatalf("run:\n%s", run)
	}
	for _, rec := range records {
		key := rec["id"].(string)
		body, ok := erp.got(key)
		if !ok {
			t.Errorf("record %q was not delivered", key)
			continue
		}
		var got, want any
		wantJSON, _ := json.Marshal(rec)
		json.Unmarshal(wantJSON, &want)
		if err := json.Unmarshal(body, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("record %q arrived changed (%v): %.200s", key, err, body)
		}
	}
}

// Bad config files fail `ferry validate` and `ferry run` with exit 2 and
// file:line:column: path: message, and a run with a bad config touches
// nothing (no store is created).
func TestBadConfigNamesThePlace(t *testing.T) {
	t.Parallel()
	const good = `store: ferry.db
systems:
  shop: { url: "http://127.0.0.1:1/api", timeout: 2s }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, key: id }
    batch: 10
    destinations:
      default:
        http: { system: shop, path: "/x/${key}" }
`
	cases := []struct {
		name, old, new, want string
	}{
		{"unclosed bracket", "key: id }", "key: id", "ferry.yaml:8:5: "},
		{"tab indentation", "  orders:", "\torders:", "ferry.yaml:5:1: tab character: YAML indentation must use spaces"},
		{"unknown field", "    batch: 10", "    bacth: 10", `ferry.yaml:8:5: routes.orders.bacth: unknown field "bacth" (did you mean "batch"?)`},
		{"wrong type", "batch: 10", "batch: many", `ferry.yaml:8:12: routes.orders.batch: expected an integer, got "many"`},
		{"duplicate key", "    batch: 10", "    batch: 10\n    batch: 20", `ferry.yaml:9:5: duplicate key "batch" (first defined at line 8, column 5)`},
		{"duration without unit", "timeout: 2s", "timeout: 30", `ferry.yaml:3:51: systems.shop.timeout: invalid duration "30"`},
		{"broken expression", "    batch: 10", "    steps:\n      - filter: status = \"paid\"\n    batch: 10",
			`ferry.yaml:9:17: routes.orders.steps[0].filter: expression "status = \"paid\"": unexpected token Operator("=")`},
		{"broken template", `"/x/${key}"`, `"/x/${key"`, `routes.orders.destinations.default.http.path: template "/x/${key": unclosed ${`},
		{"unknown system", "system: shop, path: /orders", "system: shopp, path: /orders", `routes.orders.source.http.system: unknown system "shopp" (defined systems: shop)`},
		{"second document", `"/x/${key}" }` + "\n", `"/x/${key}" }` + "\n---\nstore: x.db\n", "ferry.yaml:12:1: expected one YAML document, found a second one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the good config has no %q", tc.old)
			}
			cfg := writeConfig(t, strings.Replace(good, tc.old, tc.new, 1))
			for _, args := range [][]string{{"validate"}, {"run", "orders", "--no-progress"}} {
				r := ferry(t, cfg, args...)
				if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("ferry %s: want exit 2 and %q\n%s", args[0], tc.want, r)
				}
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "ferry.db")); err == nil {
				t.Error("a run with an invalid config created the store")
			}
		})
	}
}

// A store that cannot be opened fails the run with exit 1, the store's
// path and the cause, before anything is read from the source.
func TestUnopenableStoreFailsBeforeReading(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, store, cause string }{
		{"folder does not exist", "no/such/folder/ferry.db", "does not exist"},
		{"a parent is a file", "ferry.yaml/ferry.db", "is not a folder"},
		{"the store is a folder", ".", "is a folder, not a file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var reads atomic.Int32
			shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reads.Add(1)
				io.WriteString(w, `{"data":[{"id":1}]}`)
			}))
			t.Cleanup(shop.Close)
			cfg := writeConfig(t, strings.Replace(routeConfig(shop.URL, shop.URL, "2s", ""),
				"store: ferry.db", "store: "+tc.store, 1))
			r := ferry(t, cfg, "run", "orders", "--no-progress")
			path := filepath.Join(filepath.Dir(cfg), tc.store)
			if r.code != 1 || !strings.Contains(r.stderr, "open the queue") || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, tc.cause) {
				t.Fatalf("want exit 1, the store path %q and %q\n%s", path, tc.cause, r)
			}
			if n := reads.Load(); n != 0 {
				t.Errorf("the source was read %d times without a store to queue into", n)
			}
		})
	}
}

// Read commands on a route that never ran, and commands naming what is not
// there.
func TestCommandsOnMissingThings(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, routeConfig("http://127.0.0.1:1", "http://127.0.0.1:1", "2s", ""))
	cases := []struct {
		args     []string
		wantCode int
		want     string // in stdout for exit 0, in stderr otherwise
	}{
		{[]string{"queue", "orders"}, 0, "orders: 0 pending, 0 error, 0 leased, 0 dead letters"},
		{[]string{"routes"}, 0, "never"},
		{[]string{"retry", "orders", "--key", "999"}, 1, `no error entry or dead letter with key "999" in route "orders"`},
		{[]string{"history", "orders", "--key", "999"}, 1, `no attempt for key "999" in route "orders"`},
		{[]string{"queue", "ordes"}, 2, `unknown route "ordes"`},
		{[]string{"retry", "ordes", "--dead"}, 2, `unknown route "ordes"`},
		{[]string{"run", "ordes"}, 2, `unknown route "ordes"`},
		{[]string{"retry", "orders"}, 2, "say what to retry: --key K, --errors, --dead or --operations"},
		{[]string{"queue", "orders", "--status", "bogus"}, 2, `--status "bogus": expected pending, error, leased or all`},
	}
	for _, tc := range cases {
		r := ferry(t, cfg, tc.args...)
		out := r.stderr
		if tc.wantCode == 0 {
			out = r.stdout
		}
		if r.code != tc.wantCode || !strings.Contains(out, tc.want) {
			t.Errorf("ferry %s: want exit %d and %q\n%s", strings.Join(tc.args, " "), tc.wantCode, tc.want, r)
		}
	}
}
