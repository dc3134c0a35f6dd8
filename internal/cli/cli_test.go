package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// ferry runs the CLI in-process and returns exit code, stdout and stderr.
func ferry(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// world is a shop with n records and an ERP that answers 503 for the keys
// in reject (a failure worth retrying), on loopback, plus a ferry.yaml
// for them with 2 attempts per record.
type world struct {
	cfg      string
	mu       sync.Mutex
	edition  string // appended to every e-mail: a new edition changes every record
	reject   map[string]bool
	received map[string]int
	requests atomic.Int64
}

func newWorld(t *testing.T, n int) *world {
	return newWorldRetry(t, n, "{ attempts: 2, backoff: 10ms, max_backoff: 10ms }")
}

// newWorldRetry is newWorld with the route's retry: policy.
func newWorldRetry(t *testing.T, n int, retry string) *world {
	t.Helper()
	w := &world{reject: map[string]bool{}, received: map[string]int{}}
	shop := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var data []map[string]any
		w.mu.Lock()
		edition := w.edition
		w.mu.Unlock()
		for i := 1; i <= n; i++ {
			data = append(data, map[string]any{"id": i, "email": fmt.Sprintf("c%d@example.com%s", i, edition), "total": i * 10})
		}
		json.NewEncoder(rw).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(shop.Close)
	erp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.requests.Add(1)
		key := strings.TrimPrefix(r.URL.Path, "/customers/")
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.reject[key] {
			rw.WriteHeader(503)
			rw.Write([]byte(`{"error":"customer ` + key + ` is locked by another user"}`))
			return
		}
		w.received[key]++
		rw.WriteHeader(201)
	}))
	t.Cleanup(erp.Close)
	w.cfg = filepath.Join(t.TempDir(), "ferry.yaml")
	yaml := fmt.Sprintf(`
systems:
  shop: { url: %q }
  erp: { url: %q }
routes:
  customers:
    source:
      http: { system: shop, path: /customers, records: data, key: id }
    steps:
      - map: { email: email, total: total }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/customers/${key}" }
    retry: %s
`, shop.URL, erp.URL, retry)
	if err := os.WriteFile(w.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRunRetryAndHistoryFlow(t *testing.T) {
	w := newWorld(t, 5)
	w.reject["2"] = true

	code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers")
	if code != ExitPartial {
		t.Fatalf("run exit %d, want %d (partial)\n%s%s", code, ExitPartial, out, errOut)
	}
	for _, want := range []string{"customers: partially failed", "delivered 4", "dead 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// The record became a dead letter after its 2 attempts.
	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--dead")
	if code != 0 || !strings.Contains(out, "is locked by another user") || !strings.Contains(out, "gave up after 2 attempts") {
		t.Fatalf("history --dead exit %d:\n%s", code, out)
	}

	w.mu.Lock()
	w.reject["2"] = false
	w.mu.Unlock()
	code, out, _ = ferry(t, "-c", w.cfg, "retry", "customers", "--dead")
	if code != 0 || !strings.Contains(out, "1 entry queued again") {
		t.Fatalf("retry --dead exit %d:\n%s", code, out)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "run", "customers")
	if code != ExitOK || !strings.Contains(out, "succeeded") {
		t.Fatalf("run after replay exit %d:\n%s%s", code, out, errOut)
	}
	if w.received["2"] != 1 {
		t.Fatalf("customer 2 received %d times, want 1", w.received["2"])
	}

	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--key", "2")
	if code != 0 || strings.Count(out, " error ") != 1 || strings.Count(out, " dead ") != 1 || strings.Count(out, " replayed ") != 1 || strings.Count(out, " done ") != 1 || !strings.Contains(out, "503") {
		t.Fatalf("history --key 2 exit %d, want a failed 503 attempt, a dead one, the replay and a done one:\n%s", code, out)
	}
	if !regexp.MustCompile(`\s-\s+done\s`).MatchString(out) || !regexp.MustCompile(`\sretry\s+replayed\s`).MatchString(out) {
		t.Fatalf("history --key 2: the OP column does not tell the delivery from the user's retry:\n%s", out)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--key", "2", "--json")
	var attempts []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &attempts) != nil || len(attempts) != 4 || attempts[2]["outcome"] != "replayed" || attempts[0]["status_code"] != 503.0 || !strings.Contains(attempts[0]["error"].(string), "is locked by another user") {
		t.Fatalf("history --key --json (exit %d):\n%s", code, out)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("history: want a header and two runs:\n%s", out)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "queue", "customers")
	if code != 0 || !strings.Contains(out, "0 pending, 0 error, 0 leased, 0 dead letters") {
		t.Fatalf("queue:\n%s", out)
	}
}

func TestDryRunPrintsAndSendsNothing(t *testing.T) {
	w := newWorld(t, 3)
	code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The path is rendered, as the run would send it.
	if !regexp.MustCompile(`(?m)^2  -> default  PUT http://127\.0\.0\.1:\d+/customers/2  \{"email":"c2@example.com","total":20\}$`).MatchString(out) {
		t.Errorf("dry run output:\n%s", out)
	}
	if !strings.Contains(out, "3 records, 3 would be sent") || w.requests.Load() != 0 {
		t.Errorf("dry run sent %d requests:\n%s", w.requests.Load(), out)
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	w := newWorld(t, 1)
	broken := filepath.Join(t.TempDir(), "ferry.yaml")
	os.WriteFile(broken, []byte("routes:\n  x:\n    batch: many\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no route", []string{"-c", w.cfg, "run"}, ExitUsage, "name a route"},
		{"unknown route", []string{"-c", w.cfg, "run", "customer"}, ExitUsage, `customer`},
		{"unknown command", []string{"rnu"}, ExitUsage, "unknown command"},
		{"missing config", []string{"-c", "/nonexistent/ferry.yaml", "validate"}, ExitUsage, "/nonexistent/ferry.yaml"},
		{"broken config", []string{"-c", broken, "validate"}, ExitUsage, "ferry.yaml:3:"},
		{"retry needs a selector", []string{"-c", w.cfg, "retry", "customers"}, ExitUsage, "--key K, --errors, --dead or --operations"},
		{"bad status", []string{"-c", w.cfg, "queue", "customers", "--status", "broken"}, ExitUsage, "expected pending, error"},
		{"valid", []string{"-c", w.cfg, "validate"}, ExitOK, "valid"},
		{"version", []string{"version"}, ExitOK, "ferry "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := ferry(t, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
		})
	}
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	a := &app{}
	root := a.rootCommand()
	if root.Example == "" {
		t.Error("ferry has no examples")
	}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" || c.Short == "" {
			t.Errorf("ferry %s lacks a short description or examples", c.Name())
		}
	}
	code, out, _ := ferry(t, "run", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--dry-run") {
		t.Fatalf("run --help:\n%s", out)
	}
}

func TestSchemaIsJSON(t *testing.T) {
	code, out, _ := ferry(t, "schema")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("schema exit %d, not JSON:\n%.300s", code, out)
	}
}

// The README's first command: it must finish, exit 0 and show the story.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo waits for its retries")
	}
	dir := t.TempDir()
	code, out, errOut := ferry(t, "demo", "--dir", dir, "--no-progress", "--once")
	if code != 0 {
		t.Fatalf("demo exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"orders: partially failed", // a few orders are rejected on purpose
		"stock: succeeded",
		"an incremental run reads only those",
		"collected 3 ",
		"The ERP holds 108 orders; the shop shows 108 orders as Delivered.",
		// Why the dead letters died, grouped by cause, record numbers masked.
		"Why the 8 dead letters of orders died:\n    5  unknown country LI\n    3  order SO-# has no e-mail\n",
		"Retries: ", // the ERP's 503s at first, the rejected orders' retries
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`Retries: (\d+) failed attempts retried with backoff \(the error pass\); (\d+) records got through on a later attempt`).FindStringSubmatch(out); m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("the summary does not show retries that happened:\n%s", out)
	}
	// The kept queue can be explored afterwards.
	code, out, _ = ferry(t, "-c", filepath.Join(dir, "ferry.yaml"), "history", "orders", "--dead")
	if code != 0 || !strings.Contains(out, "has no e-mail") || !strings.Contains(out, "unknown country") {
		t.Fatalf("history --dead after the demo (exit %d):\n%s", code, out)
	}
	// Order 5 died in the first run and, changed, again in the last: the
	// replay takes its newest version and says what became of the older.
	code, out, _ = ferry(t, "-c", filepath.Join(dir, "ferry.yaml"), "retry", "orders", "--dead")
	if code != 0 || !strings.Contains(out, "7 entries queued again") || !strings.Contains(out, "1 older dead letter of the same keys superseded") {
		t.Fatalf("retry --dead after the demo (exit %d):\n%s", code, out)
	}
}

// With --all, a route whose dependency failed is skipped, and the exit
// code says the worst that happened (failed outranks partly failed).
func TestDependentsOfAFailedRouteAreSkipped(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>maintenance</html>"))
	}))
	t.Cleanup(broken.Close)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	yaml := fmt.Sprintf(`
systems:
  crm: { url: %q }
routes:
  customers:
    source:
      http: { system: crm, path: /customers, records: data, key: id }
    destinations:
      default:
        http: { system: crm, path: /sink }
  orders:
    depends_on: [customers]
    source:
      http: { system: crm, path: /orders, records: data, key: id }
    destinations:
      default:
        http: { system: crm, path: /sink }
`, broken.URL)
	os.WriteFile(cfg, []byte(yaml), 0o644)
	code, out, errOut := ferry(t, "-c", cfg, "run", "--all")
	if code != ExitFailed {
		t.Fatalf("exit %d, want %d:\n%s%s", code, ExitFailed, out, errOut)
	}
	if !strings.Contains(out, "customers: failed") || !strings.Contains(out, "orders: skipped, because customers (which it depends on) failed") {
		t.Fatalf("output:\n%s", out)
	}
	if worse(ExitPartial, ExitFailed) != ExitFailed || worse(ExitFailed, ExitPartial) != ExitFailed || worse(ExitOK, ExitPartial) != ExitPartial {
		t.Fatal("worse() ranks exit codes wrongly")
	}
}

// A dependency whose source broke off part way (some records delivered,
// the rest never read) holds back its dependents too, though its run
// is only partly failed.
func TestDependentsOfABrokenOffSourceAreSkipped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/customers" && r.URL.Query().Get("page") == "1":
			w.Write([]byte(`{"data": [{"id": 1}, {"id": 2}]}`))
		case r.URL.Path == "/customers":
			w.Write([]byte(`{"data": [{"id": 3}, `)) // truncated page
		case r.URL.Path == "/sink":
			w.Write([]byte(`{}`))
		default:
			w.Write([]byte(`{"data": []}`))
		}
	}))
	t.Cleanup(srv.Close)
	cfg := filepath.Join(t.TempDir(), "ferry.yaml")
	yaml := fmt.Sprintf(`
systems:
  crm: { url: %q }
routes:
  customers:
    source:
      http: { system: crm, path: /customers, records: data, key: id, paginate: { page: { size: 2 } } }
    destinations:
      default:
        http: { system: crm, path: /sink }
  orders:
    depends_on: [customers]
    source:
      http: { system: crm, path: /orders, records: data, key: id }
    destinations:
      default:
        http: { system: crm, path: /sink }
`, srv.URL)
	os.WriteFile(cfg, []byte(yaml), 0o644)
	code, out, errOut := ferry(t, "-c", cfg, "run", "--all")
	if code != ExitFailed { // the skipped route counts as failed
		t.Fatalf("exit %d, want %d:\n%s%s", code, ExitFailed, out, errOut)
	}
	if !strings.Contains(out, "customers: partially failed") ||
		!strings.Contains(out, "orders: skipped, because customers (which it depends on) failed or could not read its whole source") {
		t.Fatalf("output:\n%s", out)
	}
}
