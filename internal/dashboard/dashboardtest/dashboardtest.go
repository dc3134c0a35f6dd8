// Package dashboardtest runs a real ferry service (SQLite store in a
// temporary folder, loopback HTTP systems for sources and destinations)
// behind the real server with the dashboard mounted, for the dashboard's
// handler tests and the browser tests.
package dashboardtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/dashboard"
	"github.com/ferry-dev/ferry/internal/feeds"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storeopen"
)

// Systems is a loopback HTTP server playing the shop and the ERP:
// GET /src/{route} serves the records set for the route; POST
// /dst/{route} answers each record with the status its key is set to
// fail with (Fail), else 200 and a JSON body naming the record.
type Systems struct {
	Srv *httptest.Server

	mu       sync.Mutex
	records  map[string][]map[string]any
	fail     map[string]int // key → status
	received map[string]int // route → deliveries
	delay    time.Duration
}

// NewSystems starts the systems; they stop with the test.
func NewSystems(t testing.TB) *Systems {
	s := &Systems{records: map[string][]map[string]any{}, fail: map[string]int{}, received: map[string]int{}}
	s.Srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Srv.Close)
	return s
}

func (s *Systems) serve(w http.ResponseWriter, r *http.Request) {
	if route, ok := strings.CutPrefix(r.URL.Path, "/src/"); ok && r.Method == http.MethodGet {
		s.mu.Lock()
		recs := s.records[route]
		s.mu.Unlock()
		if recs == nil {
			recs = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": recs})
		return
	}
	route, ok := strings.CutPrefix(r.URL.Path, "/dst/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var rec map[string]any
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := fmt.Sprint(rec["id"])
	s.mu.Lock()
	s.received[route]++
	code, failing := s.fail[key]
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if failing {
		writeJSON(w, code, map[string]any{"error": fmt.Sprintf("customer %v unknown in ERP (code E%d)", key, code)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"erp_id": "ERP-" + key, "route": route})
}

// SetRecords sets what GET /src/{route} serves.
func (s *Systems) SetRecords(route string, recs ...map[string]any) {
	s.mu.Lock()
	s.records[route] = recs
	s.mu.Unlock()
}

// Fail makes deliveries of key answer status (0: succeed again).
func (s *Systems) Fail(key string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.fail, key)
		return
	}
	s.fail[key] = status
}

// Delay makes every delivery wait d first (0: none).
func (s *Systems) Delay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Received counts the deliveries to route.
func (s *Systems) Received(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[route]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Routes is the default config's routes: orders (a source; failing keys
// retry after 1h, 3 attempts), customers (a source, depends on nothing,
// priority 5, a schedule) and a file feed route, catalog.
const Routes = `
  orders:
    description: Web shop orders to the ERP
    source: { http: { system: sys, path: /src/orders, records: data, key: id } }
    steps:
      - map: { id: id, total: total, note: note, customer: customer }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/orders, body: each } } }
    retry: { attempts: 3, backoff: 1h, max_backoff: 1h }
    batch: 50
  customers:
    source: { http: { system: sys, path: /src/customers, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/customers, body: each } } }
    priority: 5
    schedule: "0 3 * * *"
  catalog:
    source: { http: { system: sys, path: /src/catalog, records: data, key: id } }
    resend_unchanged: true
    destinations: { default: { file: { dir: %q, name: "catalog-{run_id}.{ext}", format: ndjson } } }
`

// Fixture is the service, the server with the dashboard, and a client.
type Fixture struct {
	T     testing.TB
	Dir   string
	Sys   *Systems
	Store store.Store
	Svc   *service.Service
	Dash  *dashboard.Dashboard
	TS    *httptest.Server

	mu         sync.Mutex
	yaml       string
	httpClient *http.Client
}

// Options change a fixture.
type Options struct {
	// YAML is the whole config; "" uses Routes. %[1]s in it is the
	// systems' URL, %[2]s the feeds folder.
	YAML string
	// Login is the dashboard's login (default: none).
	Login dashboard.Login
	// Store is where the queue is: a postgres:// URL, or "" for a
	// SQLite file in the test's folder.
	Store string
}

// New starts a fixture. The service runs with its periodic passes off
// (no schedules fire on their own); tests trigger runs.
func New(t testing.TB, o Options) *Fixture {
	t.Helper()
	f := &Fixture{T: t, Dir: t.TempDir(), Sys: NewSystems(t)}
	y := o.YAML
	if y == "" {
		y = "systems:\n  sys: { url: %[1]q }\nroutes:" + fmt.Sprintf(Routes, "%[2]s")
	}
	f.yaml = fmt.Sprintf(y, f.Sys.Srv.URL, filepath.Join(f.Dir, "feeds"))
	cfg, err := f.load(context.Background())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	dsn := o.Store
	if dsn == "" {
		dsn = filepath.Join(f.Dir, "ferry.db")
	}
	st, err := storeopen.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.Store = st
	off := service.Periods{Schedule: -1, Lead: -1, Rescue: -1, Retain: -1, Sweep: -1, Freshness: -1}
	svc, err := service.New(service.Options{Config: cfg, Store: st, Load: f.load, Every: off})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	f.Svc = svc
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	login := o.Login
	f.Dash, err = dashboard.New(svc, dashboard.Options{Login: func() dashboard.Login { return login }})
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	srv := server.New(svc, server.Options{
		Feeds:     feeds.Handler(svc, feeds.Options{Authorized: f.Dash.Authorized}),
		Dashboard: f.Dash,
	})
	f.TS = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		f.TS.Close()
		srv.Close()
	})
	return f
}

func (f *Fixture) load(context.Context) (*config.Config, error) {
	f.mu.Lock()
	y := f.yaml
	f.mu.Unlock()
	return config.Parse([]byte(y), filepath.Join(f.Dir, "ferry.yaml"), all.Set())
}

// SetYAML changes what the next reload loads (the systems' URL and the
// feeds folder are filled in as in Options.YAML).
func (f *Fixture) SetYAML(y string) {
	f.mu.Lock()
	f.yaml = fmt.Sprintf(y, f.Sys.Srv.URL, filepath.Join(f.Dir, "feeds"))
	f.mu.Unlock()
}

// Run runs routes through the service and waits until their runs end.
func (f *Fixture) Run(routes ...string) {
	f.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := f.Svc.Events().Subscribe(256, nil)
	defer sub.Close()
	tickets, err := f.Svc.Trigger(ctx, service.StartRequest{Routes: routes})
	if err != nil {
		f.T.Fatalf("trigger %v: %v", routes, err)
	}
	waiting := map[int64]bool{}
	for _, tk := range tickets {
		waiting[tk.Request] = true
	}
	for len(waiting) > 0 {
		select {
		case ev := <-sub.C:
			if ev.Type == "run.finished" {
				delete(waiting, ev.Request)
			}
		case <-ctx.Done():
			f.T.Fatalf("runs of %v did not finish in time", routes)
		}
	}
}

// Page is one answer, its body read.
type Page struct {
	Status int
	Header http.Header
	Body   string
}

// Get fetches path from the dashboard.
func (f *Fixture) Get(path string) Page {
	f.T.Helper()
	return f.Do(http.MethodGet, path, nil, nil)
}

// Do sends one request; form, when not nil, is sent as a form body.
func (f *Fixture) Do(method, path string, form url.Values, header http.Header) Page {
	f.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.TS.URL+path, body)
	if err != nil {
		f.T.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := f.client().Do(req)
	if err != nil {
		f.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.T.Fatalf("%s %s: read: %v", method, path, err)
	}
	return Page{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

var (
	csrfInput  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfHeader = regexp.MustCompile(`"X-CSRF-Token": "([^"]+)"`)
)

// CSRF returns the token a page carries in its forms or in the header
// htmx sends ("" when none).
func (p Page) CSRF() string {
	if m := csrfInput.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	if m := csrfHeader.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	return ""
}

// Post sends a form to path with the CSRF token of a fresh overview
// page, as the browser would.
func (f *Fixture) Post(path string, form url.Values) Page {
	f.T.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", f.Get("/").CSRF())
	}
	return f.Do(http.MethodPost, path, form, nil)
}

// client keeps cookies (the session and CSRF cookies) and does not follow
// redirects, so tests see them.
func (f *Fixture) client() *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.httpClient == nil {
		jar, _ := cookiejar.New(nil)
		f.httpClient = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return f.httpClient
}
