package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// Flags that contradict each other or would be ignored are usage errors
// (exit 2) that name the flags, before anything is opened or run.
func TestMeaninglessFlagsAreUsageErrors(t *testing.T) {
	w := newWorld(t, 1)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"run --limit without --dry-run", []string{"run", "customers", "--limit", "5"}, "--limit only applies with --dry-run"},
		{"run negative --limit", []string{"run", "customers", "--dry-run", "--limit", "-1"}, "--limit -1: must not be negative"},
		{"run --all with routes", []string{"run", "customers", "--all"}, "not both"},
		{"run --no-progress with --dry-run", []string{"run", "customers", "--dry-run", "--no-progress"}, "--no-progress does not apply to --dry-run"},
		{"history --dead --attempts", []string{"history", "customers", "--dead", "--attempts"}, "--dead and --attempts cannot be used together"},
		{"history --key --dead", []string{"history", "customers", "--key", "1", "--dead"}, "--dead and --key cannot be used together"},
		{"history negative --limit", []string{"history", "customers", "--limit", "-3"}, "--limit -3: expected at least 1"},
		{"history --limit 0", []string{"history", "customers", "--dead", "--limit", "0"}, "--limit 0: expected at least 1"},
		{"queue negative --limit", []string{"queue", "customers", "--limit", "-1"}, "--limit -1: expected at least 1"},
		{"history --key --limit", []string{"history", "customers", "--key", "1", "--limit", "3"}, "--limit does not apply to --key"},
		{"queue --limit 0", []string{"queue", "customers", "--limit", "0"}, "--limit 0: expected at least 1"},
		{"discard needs a selector", []string{"discard", "customers"}, "--key K, --errors, --dead or --operations"},
		{"discard empty key", []string{"discard", "customers", "--key", ""}, "--key needs a business key"},
		{"resend needs a key", []string{"resend", "customers"}, "--key K"},
		{"retry empty key", []string{"retry", "customers", "--key", ""}, "--key needs a business key"},
		{"demo --orders 0", []string{"demo", "--orders", "0"}, "--orders 0: expected at least 1"},
		{"demo --serve --no-progress", []string{"demo", "--serve", "--no-progress"}, "--serve and --no-progress cannot be used together"},
		{"demo --port without --serve", []string{"demo", "--port", "9000"}, "--port only applies with --serve"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := ferry(t, append([]string{"-c", w.cfg}, c.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d (want %d), stderr lacks %q:\n%s%s", code, ExitUsage, c.want, out, errOut)
			}
		})
	}
	if w.requests.Load() != 0 {
		t.Fatalf("a refused command sent %d requests", w.requests.Load())
	}
}

// queue --key with no match exits 1, like history --key: a script must
// tell "not there" from "there".
func TestQueueKeyWithoutMatchExits1(t *testing.T) {
	w := newWorldRetry(t, 3, "{ attempts: 5, backoff: 1h, max_backoff: 1h }")
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ := ferry(t, "-c", w.cfg, "queue", "customers", "--key", "2")
	if code != ExitOK || !strings.Contains(out, "is locked by another user") {
		t.Fatalf("queue --key 2 (in error) exit %d:\n%s", code, out)
	}
	for _, args := range [][]string{{"--key", "1"}, {"--key", "1", "--json"}, {"--key", "2", "--status", "pending"}} {
		code, out, errOut := ferry(t, append([]string{"-c", w.cfg, "queue", "customers"}, args...)...)
		if code != ExitFailed || !strings.Contains(errOut, "no queued") || !strings.Contains(errOut, "history customers --key") {
			t.Fatalf("queue %v exit %d, want 1 and a hint:\n%s%s", args, code, out, errOut)
		}
	}
}

// retry --key K --dead of a key that is an error entry (not dead) says so,
// exits 1 and changes nothing; --errors retries it.
func TestRetryKeyDeadOfAnErrorEntry(t *testing.T) {
	w := newWorldRetry(t, 3, "{ attempts: 5, backoff: 1h, max_backoff: 1h }")
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "retry", "customers", "--key", "2", "--dead")
	if code != ExitFailed || strings.Contains(out, "queued again") || !strings.Contains(errOut, `key "2" of route "customers" is an error entry (1 attempt, next attempt`) ||
		!strings.Contains(errOut, "--key 2 --errors") {
		t.Fatalf("retry --key 2 --dead exit %d:\n%s%s", code, out, errOut)
	}
	// Nothing changed: still in error with its attempt.
	if _, out, _ := ferry(t, "-c", w.cfg, "queue", "customers", "--key", "2", "--json"); !strings.Contains(out, `"status":"E"`) || !strings.Contains(out, `"attempts":1`) {
		t.Fatalf("the error entry changed:\n%s", out)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "retry", "customers", "--key", "2", "--errors")
	if code != ExitOK || !strings.Contains(out, "1 entry queued again") {
		t.Fatalf("retry --key 2 --errors exit %d:\n%s%s", code, out, errOut)
	}
	// A key that is nowhere, and one asked for as an error entry while it
	// is a dead letter.
	code, _, errOut = ferry(t, "-c", w.cfg, "retry", "customers", "--key", "99")
	if code != ExitFailed || !strings.Contains(errOut, `no error entry or dead letter with key "99"`) {
		t.Fatalf("retry --key 99 exit %d: %s", code, errOut)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "retry", "customers", "--dead")
	if code != ExitOK || !strings.Contains(out, "nothing to retry (no dead letters)") {
		t.Fatalf("retry --dead with none exit %d: %s", code, out)
	}
}

func TestRetryKeyErrorsOfADeadLetter(t *testing.T) {
	w := newWorld(t, 2)
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "retry", "customers", "--key", "2", "--errors")
	if code != ExitFailed || !strings.Contains(errOut, "is a dead letter, not an error entry") {
		t.Fatalf("retry --key 2 --errors of a dead letter exit %d:\n%s%s", code, out, errOut)
	}
}

// --log-level debug logs every request the connectors make: the read
// of the source and each delivery, with method, URL and status.
func TestDebugLogsEveryRequest(t *testing.T) {
	w := newWorld(t, 3)
	// The ERP takes an API key in the query: the log shows the URL without it.
	b, _ := os.ReadFile(w.cfg)
	cfg := regexp.MustCompile(`erp: \{ url: ("[^"]+") \}`).ReplaceAllString(string(b), `erp: { url: $1, auth: { api_key: { query: key, value: s3cret-value } } }`)
	os.WriteFile(w.cfg, []byte(cfg), 0o644)
	code, out, errOut := ferry(t, "-c", w.cfg, "--log-level", "debug", "run", "customers", "--no-progress")
	if strings.Contains(errOut+out, "s3cret-value") {
		t.Fatalf("the API key is in the output:\n%s%s", out, errOut)
	}
	if code != ExitOK {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	var reqs []string
	for _, line := range strings.Split(errOut, "\n") {
		if strings.Contains(line, "http request") {
			reqs = append(reqs, line)
		}
	}
	if len(reqs) != 4 || !strings.Contains(errOut, "method=GET") || strings.Count(errOut, "method=PUT") != 3 ||
		!strings.Contains(errOut, "/customers/2?key=REDACTED") || !strings.Contains(errOut, "status=201") {
		t.Fatalf("want 4 logged requests (1 GET, 3 PUT):\n%s", errOut)
	}
	// At the default level nothing of it.
	_, _, errOut = ferry(t, "-c", w.cfg, "run", "customers", "--no-progress")
	if strings.Contains(errOut, "http request") {
		t.Fatalf("requests logged at warn level:\n%s", errOut)
	}
}

// Any command that opens the store closes the runs of workers that died
// without recording an outcome, so history never shows them running for
// ever.
func TestRunsOfDeadWorkersAreClosedOnOpen(t *testing.T) {
	w := newWorld(t, 1)
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != 0 {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	// A worker that started a run and was killed: its process is gone.
	proc := exec.Command(os.Args[0], "-test.run=^$")
	if err := proc.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	st, err := sqlite.Open(context.Background(), filepath.Join(filepath.Dir(w.cfg), "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateRun(context.Background(), store.Run{Route: "customers", Trigger: "manual", Mode: "incremental", Status: store.RunRunning,
		StartedAt: time.Now().Add(-time.Minute), Owner: fmt.Sprintf("%s:%d:abcd1234:ef567890", host, proc.Process.Pid)})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "history", "customers")
	if code != 0 || !strings.Contains(errOut, fmt.Sprintf("run #%d of customers", id)) || !strings.Contains(errOut, "marked abandoned") {
		t.Fatalf("history exit %d, stderr does not name the closed run:\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d .* abandoned `, id)).MatchString(out) || strings.Contains(out, " running ") {
		t.Fatalf("the dead worker's run is not shown abandoned:\n%s", out)
	}
}

// The run summary says what a run could not finish: entries still
// leased, operations owed, unchanged records, and a store error.
func TestSummaryShowsLeasedOwedUnchangedAndStoreErrors(t *testing.T) {
	res := engine.Result{Run: store.Run{Route: "orders", Status: store.RunPartiallyFailed, Collected: 10, Done: 4, Unchanged: 5, Mode: "incremental", Iterations: 1}}
	res.Queue = store.Counts{Leased: 2, Outbox: 3, Error: 1}
	res.StoreError = "update run: database is locked"
	res.Operations = engine.OperationCounts{Done: 4, Failed: 1}
	res.Iterations, res.WaitIterations = 5, 3
	var b strings.Builder
	printSummary(&b, res)
	for _, want := range []string{"(run #0, incremental, 5 iterations, 3 waiting for retries)", "delivered 4   unchanged 5", "2 leased", "3 follow-up operations owed", "store error (this summary may be incomplete): update run: database is locked",
		"follow-up operations (after/on_error): 4 done, 1 failed attempts, 0 given up"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// % works on JSON numbers (float64) in a real route: it used to fail
// every record with "invalid operation: float64 % int".
func TestModuloOnJSONNumbersInARoute(t *testing.T) {
	w := newWorld(t, 4)
	b, _ := os.ReadFile(w.cfg)
	os.WriteFile(w.cfg, []byte(strings.Replace(string(b), "      - map: { email: email, total: total }", "      - filter: id % 2 == 0\n      - map: { email: email, total: total }", 1)), 0o644)
	code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers")
	if code != ExitOK || !strings.Contains(out, "delivered 2   skipped 2") {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	if w.received["2"] != 1 || w.received["4"] != 1 || w.received["1"] != 0 {
		t.Fatalf("received %v, want the even ids", w.received)
	}
}

func TestRoutesShowsQueuesAndOwedOperations(t *testing.T) {
	w := newWorld(t, 2)
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "routes")
	if code != 0 || !strings.Contains(out, "PENDING  ERROR  DEAD  OWED  OPS DEAD  CURSOR") ||
		!regexp.MustCompile(`(?m)^customers\s+0\s+-\s+-\s+-\s+0\s+0\s+1\s+0\s+0\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d partially_failed$`).MatchString(out) {
		t.Fatalf("routes exit %d:\n%s%s", code, out, errOut)
	}
}

// routes shows what starts each route: its schedule, its webhook, or
// nothing but a manual run.
func TestRoutesShowsTriggers(t *testing.T) {
	cfg := serveYAML(t, "")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`  stock:
    every: 30s
    source: { http: { system: erp, path: /stock, records: data, key: id } }
    destinations: { default: { http: { system: erp, method: PUT, path: "/s/${key}" } } }
  manual:
    source: { http: { system: erp, path: /m, records: data, key: id } }
    destinations: { default: { http: { system: erp, method: PUT, path: "/m/${key}" } } }
`)
	f.Close()
	code, out, errOut := ferry(t, "-c", cfg, "routes")
	if code != 0 || !strings.Contains(out, "TRIGGER") ||
		!regexp.MustCompile(`(?m)^hook\s+0\s+-\s+webhook\s+-\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^stock\s+0\s+-\s+every 30s\s+-\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^manual\s+0\s+-\s+-\s+-\s`).MatchString(out) {
		t.Fatalf("routes exit %d:\n%s%s", code, out, errOut)
	}
}
