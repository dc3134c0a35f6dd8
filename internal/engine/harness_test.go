package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// harness is one engine on a real SQLite file with real HTTP servers.
type harness struct {
	t      *testing.T
	dir    string
	store  store.Store
	engine *engine.Engine
	cfg    *config.Config
}

// newHarness loads yaml (with {{NAME}} placeholders replaced by urls) and
// builds an engine on a fresh SQLite file.
func newHarness(t *testing.T, yaml string, urls map[string]string, opts ...func(*engine.Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	for name, u := range urls {
		yaml = strings.ReplaceAll(yaml, "{{"+name+"}}", u)
	}
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "ferry.yaml"), all.Set())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := sqlite.Open(context.Background(), cfg.Store)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	o := engine.Options{RetryWait: -1}
	for _, f := range opts {
		f(&o)
	}
	eng, err := engine.New(cfg, st, reg, o)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	return &harness{t: t, dir: dir, store: st, engine: eng, cfg: cfg}
}

func (h *harness) run(route string, full bool) engine.Result {
	h.t.Helper()
	res, err := h.engine.Run(context.Background(), route, engine.RunOptions{Full: full})
	if err != nil {
		h.t.Fatalf("run %s: %v", route, err)
	}
	return res
}

func (h *harness) counts(route string) store.Counts {
	h.t.Helper()
	c, err := h.store.Counts(context.Background(), route)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// order is a source record of the test shop.
type order struct {
	ID        int     `json:"id"`
	Email     string  `json:"email"`
	Total     float64 `json:"total"`
	Status    string  `json:"status"`
	UpdatedAt string  `json:"updated_at"`
}

// testShop serves orders with page/size pagination and an exclusive
// updated_since filter, like most shop APIs.
type testShop struct {
	mu       sync.Mutex
	orders   []order
	requests []string
	// brokenPage answers this page number with brokenBody (0: none).
	brokenPage   int
	brokenBody   string
	brokenStatus int // with brokenPage: answer this status (0: 200)
	// inclusive makes updated_since mean "at or after", as some APIs do.
	inclusive bool
	srv       *httptest.Server
}

func newTestShop(t *testing.T, n int) *testShop {
	s := &testShop{}
	for i := 1; i <= n; i++ {
		s.orders = append(s.orders, order{ID: i, Email: fmt.Sprintf("c%d@example.com", i), Total: float64(i), Status: "paid", UpdatedAt: stamp(i)})
	}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func stamp(i int) string {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
}

// touch changes orders so that they are newer than every other.
func (s *testShop) touch(ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := ""
	for _, o := range s.orders {
		latest = max(latest, o.UpdatedAt)
	}
	base, _ := time.Parse(time.RFC3339, latest)
	for n, id := range ids {
		for i := range s.orders {
			if s.orders[i].ID == id {
				s.orders[i].UpdatedAt = base.Add(time.Duration(n+1) * time.Second).Format(time.RFC3339)
				s.orders[i].Total += 1000
			}
		}
	}
}

func (s *testShop) add(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := len(s.orders) + 1
	latest := ""
	for _, o := range s.orders {
		latest = max(latest, o.UpdatedAt)
	}
	base, _ := time.Parse(time.RFC3339, latest)
	for i := 0; i < n; i++ {
		s.orders = append(s.orders, order{ID: next + i, Email: "new@example.com", Total: 1, Status: "paid", UpdatedAt: base.Add(time.Duration(i+1) * time.Second).Format(time.RFC3339)})
	}
}

func (s *testShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.RequestURI())
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("size"))
	if page < 1 {
		page = 1
	}
	if size < 1 {
		size = 100
	}
	if page == s.brokenPage {
		if s.brokenStatus != 0 {
			w.WriteHeader(s.brokenStatus)
		}
		w.Write([]byte(s.brokenBody))
		return
	}
	since := q.Get("updated_since")
	var sel []order
	for _, o := range s.orders {
		if since == "" || o.UpdatedAt > since || (s.inclusive && o.UpdatedAt == since) {
			sel = append(sel, o)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].UpdatedAt < sel[j].UpdatedAt })
	from := min((page-1)*size, len(sel))
	to := min(from+size, len(sel))
	json.NewEncoder(w).Encode(map[string]any{"data": sel[from:to]})
}

func (s *testShop) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// testERP receives batches and answers per record. fail decides a
// record's error ("" = ok); status, when it returns non-zero, answers
// the whole request with that status and Retry-After.
type testERP struct {
	mu         sync.Mutex
	received   map[string]int      // key -> deliveries that succeeded
	keys       map[string][]string // key -> Idempotency-Keys seen
	requests   []time.Time
	fail       func(key string) string
	status     func(n int) (code int, retryAfter string)
	srv        *httptest.Server
	batchSizes []int
}

func newTestERP(t *testing.T) *testERP {
	e := &testERP{received: map[string]int{}, keys: map[string][]string{}}
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *testERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, time.Now())
	if e.status != nil {
		if code, ra := e.status(len(e.requests)); code != 0 {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.WriteHeader(code)
			w.Write([]byte(`{"error":"overloaded"}`))
			return
		}
	}
	var body struct {
		Orders []map[string]any `json:"orders"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	e.batchSizes = append(e.batchSizes, len(body.Orders))
	var results []map[string]any
	for _, o := range body.Orders {
		key := fmt.Sprint(o["external_id"])
		msg := ""
		if e.fail != nil {
			msg = e.fail(key)
		}
		if msg != "" {
			results = append(results, map[string]any{"external_id": key, "status": "error", "message": msg})
			continue
		}
		e.received[key]++
		results = append(results, map[string]any{"external_id": key, "status": "ok"})
	}
	json.NewEncoder(w).Encode(map[string]any{"results": results})
}

func (e *testERP) receivedCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.received)
}

// shopAndERP is the head of a test config: the store and the two systems
// at {{SHOP}} and {{ERP}}; a test appends its route.
const shopAndERP = `
store: ferry.db
systems:
  shop: { url: "{{SHOP}}" }
  erp: { url: "{{ERP}}" }
routes:`

const ordersRoute = shopAndERP + `
  orders:
    source:
      http:
        system: shop
        path: /orders
        query: { updated_since: "${cursor}" }
        records: data
        key: id
        cursor: updated_at
        paginate: { page: { size: 50 } }
    steps:
      - filter: status != "cancelled"
      - map:
          external_id: string(id)
          email: email
          total_cents: int(total * 100)
    batch: 100
    destinations:
      default:
        http:
          system: erp
          path: /orders/batch
          body: array
          wrap: orders
          results: { path: results, key: external_id, ok: 'status == "ok"', error: message }
    retry: { attempts: 3, backoff: 10ms, max_backoff: 50ms }
`

// engineOn is an engine of h's route file over st: the real store,
// wrapped by a test that makes one of its calls slow or fail.
func (h *harness) engineOn(st store.Store, opts engine.Options) *engine.Engine {
	h.t.Helper()
	reg, err := registry.New(h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	eng, err := engine.New(h.cfg, st, reg, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return eng
}

// engineFor builds another engine on the harness's store file from yaml
// (a changed config, or a second worker with other options).
func (h *harness) engineFor(yaml string, urls map[string]string, opts ...func(*engine.Options)) *engine.Engine {
	h.t.Helper()
	for name, u := range urls {
		yaml = strings.ReplaceAll(yaml, "{{"+name+"}}", u)
	}
	cfg, err := config.Parse([]byte(yaml), filepath.Join(h.dir, "ferry.yaml"), all.Set())
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	reg, err := registry.New(cfg)
	if err != nil {
		h.t.Fatalf("registry: %v", err)
	}
	o := engine.Options{RetryWait: -1}
	for _, f := range opts {
		f(&o)
	}
	eng, err := engine.New(cfg, h.store, reg, o)
	if err != nil {
		h.t.Fatalf("engine: %v", err)
	}
	return eng
}

// hookServer is a loopback HTTP server that records every request (with
// its Idempotency-Key) and answers with answer(method+" "+path, n), n
// counting the calls of that path from 1; 0 means 200 {}.
type hookServer struct {
	mu     sync.Mutex
	calls  []hookCall
	count  map[string]int
	answer func(call string, n int) int
	srv    *httptest.Server
}

type hookCall struct {
	Call, Key, Body string
	Status          int
}

func newHookServer(t *testing.T, answer func(call string, n int) int) *hookServer {
	s := &hookServer{count: map[string]int{}, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		call := r.Method + " " + r.URL.Path
		s.mu.Lock()
		s.count[call]++
		n := s.count[call]
		status := 0
		if s.answer != nil {
			status = s.answer(call, n)
		}
		if status == 0 {
			status = 200
		}
		s.calls = append(s.calls, hookCall{Call: call, Key: r.Header.Get("Idempotency-Key"), Body: string(b), Status: status})
		s.mu.Unlock()
		w.WriteHeader(status)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// of returns the calls whose "METHOD /path" is call.
func (s *hookServer) of(call string) []hookCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hookCall
	for _, c := range s.calls {
		if c.Call == call {
			out = append(out, c)
		}
	}
	return out
}

func (s *hookServer) all() []hookCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hookCall(nil), s.calls...)
}
