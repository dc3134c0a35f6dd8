package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/feeds"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

const (
	apiToken   = "api-token-0123456789"
	hookToken  = "hook-token-0123456789"
	shopSecret = "shop-secret-0123456789"
	feedToken  = "feed-token-0123456789"
)

// systems is a loopback HTTP server playing the source and the
// destinations: GET /src/{route} serves the records set for the route;
// POST /dst/{route} answers each record (body: each) with the status in
// its "want" field (default 200) and a JSON body naming it. A route can
// be held: its deliveries wait until released.
type systems struct {
	srv *httptest.Server

	mu       sync.Mutex
	records  map[string][]map[string]any
	received map[string]int
	holds    map[string]chan struct{}
}

func newSystems(t testing.TB) *systems {
	s := &systems{records: map[string][]map[string]any{}, received: map[string]int{}, holds: map[string]chan struct{}{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		for name, c := range s.holds {
			close(c)
			delete(s.holds, name)
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

func (s *systems) serve(w http.ResponseWriter, r *http.Request) {
	if route, ok := strings.CutPrefix(r.URL.Path, "/src/"); ok && r.Method == http.MethodGet {
		s.mu.Lock()
		recs := s.records[route]
		s.mu.Unlock()
		if recs == nil {
			recs = []map[string]any{}
		}
		writeTestJSON(w, 200, map[string]any{"data": recs})
		return
	}
	route, ok := strings.CutPrefix(r.URL.Path, "/dst/")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var rec map[string]any
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	s.mu.Lock()
	s.received[route]++
	hold := s.holds[route]
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	code := 200
	if v, ok := rec["want"].(float64); ok {
		code = int(v)
	}
	writeTestJSON(w, code, map[string]any{"erp_id": fmt.Sprintf("ERP-%v", rec["id"]), "route": route})
}

func (s *systems) setRecords(route string, recs ...map[string]any) {
	s.mu.Lock()
	s.records[route] = recs
	s.mu.Unlock()
}

// hold makes the route's deliveries wait until release is called.
func (s *systems) hold(route string) (release func()) {
	c := make(chan struct{})
	s.mu.Lock()
	s.holds[route] = c
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[route] == c {
				delete(s.holds, route)
				close(c)
			}
			s.mu.Unlock()
		})
	}
}

func (s *systems) count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[route]
}

func writeTestJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// testRoutes are the routes every fixture has: orders (a source),
// clean (a source whose records all go through), slow (a source whose
// deliveries the test holds), hook (webhook with a token), signed
// (webhook with a signature, 1KB max body), sync and syncslow (respond:
// sync).
const testRoutes = `
  orders:
    source: { http: { system: sys, path: /src/orders, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/orders, body: each } } }
    retry: { attempts: 5, backoff: 1h, max_backoff: 1h }
  clean:
    source: { http: { system: sys, path: /src/clean, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/clean, body: each } } }
  slow:
    source: { http: { system: sys, path: /src/slow, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/slow, body: each } } }
  hook:
    webhook: { key: id, token: %q }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/hook, body: each } } }
  signed:
    webhook:
      key: id
      signature: { header: X-Shop-Hmac-Sha256, secret: %q, prefix: "sha256=" }
      max_body: 1KB
    destinations: { default: { http: { system: sys, method: POST, path: /dst/signed, body: each } } }
  sync:
    webhook: { key: id, token: %q, respond: sync }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/sync, body: each } } }
    retry: { attempts: 3, backoff: 1h, max_backoff: 1h }
  syncslow:
    webhook: { key: id, token: %q, respond: sync, timeout: 100ms }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/syncslow, body: each } } }
  catalog:
    source: { http: { system: sys, path: /src/catalog, records: data, key: id } }
    resend_unchanged: true
    destinations: { default: { file: { dir: %q, name: "catalog-{run_id}.{ext}", format: ndjson, public_token: %q } } }
`

// testYAML is the config of the test routes against the systems at
// sysURL, with the store and the feeds in dir.
func testYAML(sysURL, dir string) string {
	return fmt.Sprintf("store: ferry.db\nsystems:\n  sys: { url: %q }\nroutes:%s", sysURL,
		fmt.Sprintf(testRoutes, hookToken, shopSecret, hookToken, hookToken, filepath.Join(dir, "feeds"), feedToken))
}

// fixture is a real service on a real SQLite store behind a real server,
// with an OpenAPI router to check every call against the document.
type fixture struct {
	t      testing.TB
	dir    string
	sys    *systems
	store  *sqlite.Store
	svc    *service.Service
	srv    *server.Server
	ts     *httptest.Server
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	yaml    string
	covered map[string]bool // "METHOD /path/{template}" of the document
}

// newFixture builds the fixture; mods change the server's options
// (API token apiToken by default).
func newFixture(t testing.TB, mods ...func(*server.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), sys: newSystems(t), covered: map[string]bool{}}
	f.yaml = testYAML(f.sys.srv.URL, f.dir)
	cfg, err := f.load(context.Background())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(f.dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	svc, err := service.New(service.Options{Config: cfg, Store: st, Load: f.load})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	f.svc = svc
	if err := svc.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	opts := server.Options{Tokens: []string{apiToken}}
	opts.Feeds = feeds.Handler(f.feedSource(t, cfg), feeds.Options{Authorized: server.Authorized(opts.Tokens)})
	for _, m := range mods {
		m(&opts)
	}
	f.srv = server.New(svc, opts)
	f.ts = httptest.NewServer(f.srv.Handler())
	t.Cleanup(func() {
		f.ts.Close()
		f.srv.Close()
	})

	f.doc, err = openapi3.NewLoader().LoadFromData(server.OpenAPI())
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := f.doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	f.doc.Servers = openapi3.Servers{{URL: f.ts.URL}}
	f.router, err = legacy.NewRouter(f.doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return f
}

// feedSource is the service when it lists feeds itself, else an engine
// of its own over the same config and store (the file destination's
// manifest on disk is what both read).
func (f *fixture) feedSource(t testing.TB, cfg *config.Config) feeds.Source {
	if src, ok := any(f.svc).(feeds.Source); ok {
		return src
	}
	eng, _ := enginetest.New(t, cfg, filepath.Join(f.dir, "ferry.db"), engine.Options{})
	return engineFeeds{cfg: cfg, eng: eng}
}

type engineFeeds struct {
	cfg *config.Config
	eng *engine.Engine
}

func (e engineFeeds) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	if e.cfg.Routes[route] == nil {
		return nil, fmt.Errorf("route %q: %w", route, feeds.ErrUnknownRoute)
	}
	return e.eng.Feeds(ctx, route)
}

func (f *fixture) load(context.Context) (*config.Config, error) {
	f.mu.Lock()
	y := f.yaml
	f.mu.Unlock()
	return config.Parse([]byte(y), filepath.Join(f.dir, "ferry.yaml"), all.Set())
}

// setYAML changes what the next reload loads.
func (f *fixture) setYAML(y string) {
	f.mu.Lock()
	f.yaml = y
	f.mu.Unlock()
}

// req is one call to the server.
type req struct {
	method, path string
	body         any // nil, string, []byte or a value sent as JSON
	header       map[string]string
	// token is the bearer token; "" sends apiToken, "-" sends none.
	token string
	want  int
}

// resp is the answer, its body read.
type resp struct {
	*http.Response
	body []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) problem(t *testing.T) server.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p server.Problem
	r.json(t, &p)
	if p.Status != r.StatusCode || p.Type == "" || p.Title == "" {
		t.Fatalf("incomplete problem document: %s", r.body)
	}
	return p
}

// do sends the call, checks its status and validates the request and
// the answer against the OpenAPI document (every status must be listed
// there).
func (f *fixture) do(t *testing.T, c req) resp {
	t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	hr, err := http.NewRequest(c.method, f.ts.URL+c.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch c.token {
	case "":
		hr.Header.Set("Authorization", "Bearer "+apiToken)
	case "-":
	default:
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.header {
		hr.Header.Set(k, v)
	}
	route, params, err := f.router.FindRoute(hr)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", c.method, c.path, err)
	}
	f.mu.Lock()
	f.covered[c.method+" "+route.Path] = true
	f.mu.Unlock()
	in := &openapi3filter.RequestValidationInput{
		Request: hr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true},
	}
	// Calls meant to be refused for their parameters or body are not
	// valid requests; the others must be.
	if c.want != http.StatusBadRequest && c.want != http.StatusRequestEntityTooLarge && !strings.HasPrefix(c.path, "/hooks/") {
		hr.Body = io.NopCloser(bytes.NewReader(body))
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: request does not match the document: %v", c.method, c.path, err)
		}
		hr.Body = io.NopCloser(bytes.NewReader(body))
	}
	hr.Body = io.NopCloser(bytes.NewReader(body))
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if c.want != 0 && res.StatusCode != c.want {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, res.StatusCode, c.want, data)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(data)), Options: in.Options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: answer %d does not match the document: %v\nbody: %s", c.method, c.path, res.StatusCode, err, data)
	}
	return resp{res, data}
}

// checkCovered fails for every operation of the document no call used.
func (f *fixture) checkCovered(t *testing.T) {
	t.Helper()
	for path, item := range f.doc.Paths.Map() {
		for method := range item.Operations() {
			if !f.covered[method+" "+path] {
				t.Errorf("%s %s of the OpenAPI document is not exercised by a test", method, path)
			}
		}
	}
}

// subscribe returns a subscription to the service's events of type typ.
func (f *fixture) subscribe(t *testing.T, typ events.Type) *events.Subscription {
	sub := f.svc.Events().Subscribe(1024, func(ev events.Event) bool { return ev.Type == typ })
	t.Cleanup(sub.Close)
	return sub
}

// next waits for the next event of sub (for route, when not "").
func next(t *testing.T, sub *events.Subscription, route string) events.Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-sub.C:
			if route == "" || ev.Route == route {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for an event of route %q", route)
		}
	}
}

// runRoute starts a run over the API and waits until it finished.
func (f *fixture) runRoute(t *testing.T, route string) store.Run {
	t.Helper()
	sub := f.subscribe(t, events.RunFinished)
	f.do(t, req{method: "POST", path: "/api/v1/routes/" + route + "/runs", body: map[string]string{"mode": "full"}, want: 202})
	return *next(t, sub, route).Run
}

// counts reads a route's queue sizes from the store.
func (f *fixture) counts(t *testing.T, route string) store.Counts {
	t.Helper()
	n, err := f.store.Counts(context.Background(), route)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
