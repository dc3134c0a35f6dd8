package e2e

// `ferry serve` as a user runs it: a subprocess on a free port, driven
// over HTTP and stopped with signals.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// serveConfig has a scheduled route with an HTTP source (orders) and a
// webhook route (hook), both delivering to the same destination.
// Arguments: workers, shutdown_timeout, source URL, destination URL.
const serveConfig = `
store: ferry.db
workers: %d
server:
  shutdown_timeout: %s
systems:
  shop: { url: "%s" }
  erp: { url: "%s" }
routes:
  orders:
    every: 1h
    source:
      http:
        system: shop
        path: /orders
        query: { since: "${cursor}" }
        records: data
        key: id
        cursor: seq
        paginate: { page: { size: 100 } }
    batch: 20
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}", body: each }
  hook:
    webhook: { key: id, token: ` + hookToken + ` }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}", body: each }
`

const hookToken = "hook-token-e2e"

// serveWorld is a source of n orders, a sink slowed down by a delay per
// request (which the test can lift), and a config for them in a
// temporary folder.
type serveWorld struct {
	dir, cfg string
	sink     *sink
	delay    atomic.Int64 // nanoseconds each request to the sink waits
}

func newServeWorld(t *testing.T, n int, delay time.Duration, workers int, shutdown string) *serveWorld {
	t.Helper()
	src := source(t, n)
	w := &serveWorld{dir: t.TempDir(), sink: &sink{keys: map[string][]string{}}}
	w.delay.Store(int64(delay))
	dst := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(w.delay.Load()))
		w.sink.ServeHTTP(rw, r)
	}))
	t.Cleanup(dst.Close)
	w.cfg = filepath.Join(w.dir, "ferry.yaml")
	w.write(t, fmt.Sprintf(serveConfig, workers, shutdown, src.URL, dst.URL))
	return w
}

func (w *serveWorld) write(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(w.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// delivered reports whether the sink received the record with id.
func (w *serveWorld) delivered(id string) bool {
	w.sink.mu.Lock()
	defer w.sink.mu.Unlock()
	return len(w.sink.keys[id]) > 0
}

// served is a running `ferry serve`.
type served struct {
	cmd  *exec.Cmd
	url  string
	log  *serveLog
	done chan struct{} // closed when the process exited
	code int           // its exit code, once done
}

// serveLog is the process's stderr, safe to read while it writes.
type serveLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingLine = regexp.MustCompile(`ferry serving on (http://\S+)`)

// startServe starts `ferry -c cfg serve --listen 127.0.0.1:0` and waits
// until it says where it listens. The process is killed when the test
// ends, if it still runs.
func startServe(t *testing.T, cfg string) *served {
	t.Helper()
	s := &served{log: &serveLog{}, done: make(chan struct{})}
	s.cmd = exec.Command(ferryBin, "-c", cfg, "serve", "--listen", "127.0.0.1:0")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	eventually(t, "ferry serve to listen", func() bool {
		if m := servingLine.FindStringSubmatch(s.log.String()); m != nil {
			s.url = m[1]
			return true
		}
		select {
		case <-s.done:
			t.Fatalf("ferry serve exited %d before listening:\n%s", s.code, s.log)
		default:
		}
		return false
	})
	return s
}

// signal sends sig to the process.
func (s *served) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("send %v: %v", sig, err)
	}
}

// exit waits for the process to end and returns its exit code.
func (s *served) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(2 * time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("ferry serve did not exit within 2 minutes:\n%s", s.log)
	}
	return 0
}

// call sends a request with an optional JSON body and returns the status
// and the body.
func (s *served) call(t *testing.T, method, path, body string, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, s.log)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return res.StatusCode, b
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// runsOf lists the route's runs over the API, newest first.
func runsOf(t *testing.T, s *served, route string) []struct {
	ID        int64  `json:"id"`
	Status    string `json:"status"`
	Trigger   string `json:"trigger"`
	Collected int    `json:"collected"`
} {
	t.Helper()
	code, body := s.call(t, "GET", "/api/v1/runs?route="+route, "")
	if code != 200 {
		t.Fatalf("GET /api/v1/runs: %d %s", code, body)
	}
	var page struct {
		Items []struct {
			ID        int64  `json:"id"`
			Status    string `json:"status"`
			Trigger   string `json:"trigger"`
			Collected int    `json:"collected"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("GET /api/v1/runs: %v: %s", err, body)
	}
	return page.Items
}

// startRun triggers a run of route over the API.
func startRun(t *testing.T, s *served, route string) {
	t.Helper()
	if code, body := s.call(t, "POST", "/api/v1/routes/"+route+"/runs", `{"mode": "incremental"}`); code != 202 {
		t.Fatalf("start a run of %s: %d %s", route, code, body)
	}
}

// postHook posts records to the hook route and returns the entry ids of
// the 202.
func postHook(t *testing.T, s *served, body string) []int64 {
	t.Helper()
	code, b := s.call(t, "POST", "/hooks/hook", body, "Authorization", "Bearer "+hookToken)
	if code != 202 {
		t.Fatalf("POST /hooks/hook: %d %s", code, b)
	}
	var acc struct {
		Entries []store.Accepted `json:"entries"`
	}
	if err := json.Unmarshal(b, &acc); err != nil || len(acc.Entries) == 0 {
		t.Fatalf("POST /hooks/hook: no entries in %s (%v)", b, err)
	}
	ids := make([]int64, len(acc.Entries))
	for i, e := range acc.Entries {
		ids[i] = e.EntryID
	}
	return ids
}

// openStore opens the world's store after ferry exited.
func (w *serveWorld) openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The whole server as a user runs it: health, a run started over the API,
// a webhook, metrics, and a clean stop with SIGTERM.
func TestServeSmoke(t *testing.T) {
	const n = 50
	w := newServeWorld(t, n, 0, 4, "20s")
	s := startServe(t, w.cfg)

	if code, body := s.call(t, "GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := s.call(t, "GET", "/readyz", ""); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	startRun(t, s, "orders")
	eventually(t, "the API-started run of orders to finish", func() bool {
		runs := runsOf(t, s, "orders")
		return len(runs) > 0 && runs[0].Trigger == "api" && runs[0].Status == "succeeded" && runs[0].Collected == n
	})
	if recs, _ := w.sink.count(); recs != n {
		t.Fatalf("the destination has %d of %d orders", recs, n)
	}

	postHook(t, s, `{"id": "w1", "name": "pushed in real time"}`)
	eventually(t, "the webhook record to be delivered", func() bool { return w.delivered("w1") })

	code, metrics := s.call(t, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, metrics)
	}
	for _, want := range []string{"ferry_runs_total", "ferry_webhook_requests_total", "ferry_deliveries_total"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	s.signal(t, syscall.SIGTERM)
	if code := s.exit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, s.log)
	}
	if log := s.log.String(); !strings.Contains(log, "ferry stopped") {
		t.Errorf("the log does not say ferry stopped:\n%s", log)
	}
}

// SIGTERM while a run sends to a slow destination: ferry exits 0 at the
// shutdown deadline, leaves nothing leased and no run running, and a
// later run delivers the rest: nothing is lost.
func TestServeSIGTERMDuringBusyRunLosesNothing(t *testing.T) {
	const n = 300
	// 4 requests at a time (the HTTP destination's body: each) of 100ms
	// each: the run needs several seconds, the deadline is 1s.
	w := newServeWorld(t, n, 100*time.Millisecond, 2, "1s")
	s := startServe(t, w.cfg)
	startRun(t, s, "orders")
	eventually(t, "the destination to receive orders", func() bool { recs, _ := w.sink.count(); return recs >= 5 })

	s.signal(t, syscall.SIGTERM)
	if code := s.exit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, s.log)
	}
	if recs, _ := w.sink.count(); recs == n {
		t.Fatalf("the run delivered all %d orders before the deadline: the test needs a slower destination", n)
	}

	st := w.openStore(t)
	ctx := context.Background()
	c, err := st.Counts(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if c.Leased != 0 {
		t.Fatalf("%d entries still leased after SIGTERM (counts %+v):\n%s", c.Leased, c, s.log)
	}
	runs, err := st.ListRuns(ctx, store.RunFilter{Route: "orders", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Status == store.RunRunning {
			t.Fatalf("run #%d still running after SIGTERM", r.ID)
		}
	}
	st.Close()

	// What was collected waits in the queue; what was not is still at
	// the source: a run to the end delivers every order.
	w.delay.Store(0)
	if out, err := exec.Command(ferryBin, "-c", w.cfg, "run", "orders", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("ferry run after the stop: %v\n%s", err, out)
	}
	if recs, _ := w.sink.count(); recs != n {
		t.Fatalf("the destination has %d of %d orders after the stop and a new run", recs, n)
	}
}

// A second SIGINT while stopping exits at once with 130; the leases it
// left go back to the queue with the next command.
func TestServeSecondInterruptExitsAtOnce(t *testing.T) {
	const n = 300
	w := newServeWorld(t, n, 100*time.Millisecond, 2, "10m")
	s := startServe(t, w.cfg)
	startRun(t, s, "orders")
	eventually(t, "the destination to receive orders", func() bool { recs, _ := w.sink.count(); return recs >= 2 })
	s.signal(t, os.Interrupt)
	eventually(t, "ferry to say it is stopping", func() bool { return strings.Contains(s.log.String(), "ferry stopping") })
	s.signal(t, os.Interrupt)
	if code := s.exit(t); code != 130 {
		t.Fatalf("exit %d after a second SIGINT, want 130:\n%s", code, s.log)
	}
	w.delay.Store(0)
	if out, err := exec.Command(ferryBin, "-c", w.cfg, "run", "orders", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("ferry run after the hard stop: %v\n%s", err, out)
	}
	if recs, _ := w.sink.count(); recs != n {
		t.Fatalf("the destination has %d of %d orders after the hard stop and a new run", recs, n)
	}
}

// A webhook's 202 comes after its record is stored: SIGKILL right after
// the answer, and the entry is in the store, pending. The only worker is
// busy with a slow run, so the entry cannot have been sent yet.
func TestServeWebhookDurableAcrossKill(t *testing.T) {
	w := newServeWorld(t, 300, 100*time.Millisecond, 1, "10s")
	s := startServe(t, w.cfg)
	startRun(t, s, "orders")
	eventually(t, "the orders run to hold the worker", func() bool { recs, _ := w.sink.count(); return recs >= 1 })

	ids := postHook(t, s, `{"id": "w-durable", "name": "must survive"}`)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done

	st := w.openStore(t)
	e, err := st.Entry(context.Background(), ids[0])
	if err != nil {
		t.Fatalf("entry %d of the 202 is not in the store after SIGKILL: %v", ids[0], err)
	}
	if e.Route != "hook" || e.Key != "w-durable" || e.Status != store.StatusPending {
		t.Fatalf("entry %d after SIGKILL: route %q key %q status %q; want hook, w-durable, pending", e.ID, e.Route, e.Key, e.Status)
	}
	if !bytes.Contains(e.Payload, []byte("must survive")) {
		t.Fatalf("entry %d payload %s", e.ID, e.Payload)
	}
}

// Without a token ferry refuses to listen beyond loopback, before it
// opens anything.
func TestServeRefusesOpenAddressWithoutToken(t *testing.T) {
	w := newServeWorld(t, 1, 0, 1, "1s")
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		out, err := exec.Command(ferryBin, "-c", w.cfg, "serve", "--listen", addr).CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.Contains(string(out), "is not loopback and no API token is configured") {
			t.Errorf("serve --listen %s: exit %d, want 2 and the reason:\n%s", addr, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "ferry.db")); err == nil {
		t.Errorf("the refused serve created the store")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// SIGHUP reloads: a broken config is refused with its errors in the log
// and ferry keeps serving on the old one; a valid one with a new route
// makes the route appear in the API.
func TestServeSIGHUPReload(t *testing.T) {
	w := newServeWorld(t, 1, 0, 2, "5s")
	s := startServe(t, w.cfg)
	good, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}

	w.write(t, string(good)+"  broken:\n    every: soon\n")
	s.signal(t, syscall.SIGHUP)
	eventually(t, "the refused reload in the log", func() bool {
		return strings.Contains(s.log.String(), "config reload refused, the old config stays")
	})
	if log := s.log.String(); !strings.Contains(log, "routes.broken") {
		t.Errorf("the log does not say what is wrong:\n%s", log)
	}
	if code, body := s.call(t, "GET", "/readyz", ""); code != 200 {
		t.Fatalf("/readyz after a refused reload: %d %s", code, body)
	}

	w.write(t, string(good)+`  more:
    webhook: { key: id, token: another-token-e2e }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/more/${key}", body: each }
`)
	s.signal(t, syscall.SIGHUP)
	eventually(t, "the new route in /api/v1/routes", func() bool {
		code, body := s.call(t, "GET", "/api/v1/routes", "")
		return code == 200 && bytes.Contains(body, []byte(`"name":"more"`))
	})
	s.signal(t, syscall.SIGTERM)
	if code := s.exit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, s.log)
	}
}

// The Dockerfile cannot be built here (no image pulls), so its key lines
// are checked, and the static build it runs must work.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM golang:1\.26 AS build$`),
		regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build .*-o /out/ferry \./cmd/ferry`),
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static\S*$`),
		regexp.MustCompile(`(?m)^USER [1-9][0-9]*:[1-9][0-9]*$`), // numeric, not root (0)
		regexp.MustCompile(`(?m)^VOLUME /data$`),
		regexp.MustCompile(`(?m)^EXPOSE 8080$`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/usr/local/bin/ferry", "serve", "--listen", "0\.0\.0\.0:8080", "-c", "/etc/ferry/ferry\.yaml"\]$`),
	} {
		if !want.MatchString(strings.ReplaceAll(df, "\\\n", "")) {
			t.Errorf("Dockerfile lacks a line matching %s", want)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	// Without the Dockerfile's -trimpath and tags: those would miss the
	// build cache and rebuild everything, and are not what could break.
	build := exec.Command("go", "build", "-o", bin, "github.com/ferry-dev/ferry/cmd/ferry")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
		t.Fatalf("the static binary does not run: %v\n%s", err, out)
	}
}

// examples/serve-shop.yaml as a user runs it, its systems played by one
// server on loopback: the API wants the token, scheduled routes run when
// asked over the API (orders after customers), the shop's signed webhook
// gets the ERP's answer, a bad signature is refused, metrics count it.
func TestServeExampleConfig(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{} // "METHOD path" -> requests
	systems := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		first := r.URL.Query().Get("page") <= "1" && r.URL.Query().Get("offset") <= "0"
		page := func(field string, recs ...map[string]any) {
			if !first {
				recs = nil
			}
			json.NewEncoder(w).Encode(map[string]any{field: recs})
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /customers":
			page("data", map[string]any{"id": "c1", "email": " Ada@Example.com ", "first_name": "Ada", "last_name": "Lovelace", "country": "gb", "updated_at": "2026-11-30T08:00:00Z"})
		case "GET /orders":
			page("data", map[string]any{"id": "o1", "customer_id": "c1", "total": 12.5, "items": []any{map[string]any{"sku": "MUG", "quantity": 2}}, "updated_at": "2026-11-30T08:01:00Z"})
		case "GET /v1/stock":
			page("items", map[string]any{"sku": "MUG", "on_hand": 5, "reserved": 1, "changed_at": "2026-11-30T08:02:00Z"})
		case "POST /api/v2/sales-orders":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"erp_id":"SO-77"}`)
		default: // the batch endpoints, the inventory PATCH, the chat hook
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(systems.Close)

	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "serve-shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "serve-shop.yaml") // its store goes beside it
	if err := os.WriteFile(cfg, example, 0o644); err != nil {
		t.Fatal(err)
	}
	const apiToken, hookSecret = "api-token-e2e-example", "hook-secret-e2e-example"
	for k, v := range map[string]string{
		"SHOP_URL": systems.URL, "ERP_URL": systems.URL, "WMS_URL": systems.URL, "CHAT_URL": systems.URL,
		"SHOP_TOKEN": "shop-token-e2e", "ERP_TOKEN": "erp-token-e2e", "WMS_TOKEN": "wms-token-e2e",
		"SHOP_HOOK_SECRET": hookSecret, "FERRY_API_TOKEN": apiToken,
	} {
		t.Setenv(k, v)
	}
	s := startServe(t, cfg)
	auth := []string{"Authorization", "Bearer " + apiToken}

	if code, _ := s.call(t, "GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, _ := s.call(t, "GET", "/api/v1/routes", ""); code != http.StatusUnauthorized {
		t.Fatalf("/api/v1/routes without the token: %d, want 401", code)
	}
	code, body := s.call(t, "GET", "/api/v1/routes", "", auth...)
	for _, name := range []string{"customers", "orders", "shop-orders", "stock"} {
		if code != 200 || !bytes.Contains(body, []byte(`"name":"`+name+`"`)) {
			t.Fatalf("/api/v1/routes: %d, route %s missing: %s", code, name, body)
		}
	}

	for _, route := range []string{"customers", "orders"} {
		if code, body := s.call(t, "POST", "/api/v1/routes/"+route+"/runs", "", auth...); code != 202 {
			t.Fatalf("start %s: %d %s", route, code, body)
		}
	}
	eventually(t, "the orders run to succeed", func() bool {
		_, body := s.call(t, "GET", "/api/v1/runs?route=orders", "", auth...)
		return bytes.Contains(body, []byte(`"status":"succeeded"`))
	})
	mu.Lock()
	batches := got["POST /api/v2/customers/batch"] + got["POST /api/v2/sales-orders/batch"]
	mu.Unlock()
	if batches != 2 {
		t.Errorf("the ERP got %d batches, want one of customers and one of orders", batches)
	}

	order := `{"id": "o2", "customer_id": "c1", "total": 99.99, "items": [{"sku": "MUG", "quantity": 1}]}`
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(order))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	code, body = s.call(t, "POST", "/hooks/shop-orders", order, "X-Shop-Hmac-Sha256", sig)
	if code != http.StatusCreated || !strings.Contains(string(body), "SO-77") {
		t.Fatalf("signed webhook: %d %s; want the ERP's 201 and body", code, body)
	}
	if code, body := s.call(t, "POST", "/hooks/shop-orders", order, "X-Shop-Hmac-Sha256", "bm90IGl0"); code != http.StatusUnauthorized {
		t.Fatalf("badly signed webhook: %d %s; want 401", code, body)
	}

	code, metrics := s.call(t, "GET", "/metrics", "", auth...)
	if code != 200 || !bytes.Contains(metrics, []byte(`ferry_webhook_requests_total{code="201",route="shop-orders"} 1`)) ||
		!bytes.Contains(metrics, []byte(`ferry_webhook_requests_total{code="401",route="shop-orders"} 1`)) {
		t.Errorf("/metrics does not count the webhook calls:\n%s", metrics)
	}

	s.signal(t, syscall.SIGTERM)
	if code := s.exit(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, s.log)
	}
	if strings.Contains(s.log.String(), apiToken) || strings.Contains(s.log.String(), hookSecret) {
		t.Errorf("a secret is in the log:\n%s", s.log)
	}
}
