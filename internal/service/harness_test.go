package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// clock is a fake clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// systems is a loopback HTTP server playing both sides: GET /src/{route}
// serves that route's records, POST /dst/{route} receives deliveries
// (one record per request) and records when each arrived. A gate can
// hold a route's deliveries until the test opens it.
type systems struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	records  map[string]int           // route -> how many records its source serves
	arrivals map[string][]time.Time   // route -> delivery times
	gates    map[string]chan struct{} // route -> closed when its deliveries may go on
	entered  map[string]chan struct{} // route -> closed when its first delivery arrived
	status   map[string]int           // route -> status code to answer (default 200)
}

func newSystems(t *testing.T) *systems {
	s := &systems{t: t, records: map[string]int{}, arrivals: map[string][]time.Time{},
		gates: map[string]chan struct{}{}, entered: map[string]chan struct{}{}, status: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.mu.Lock()
		for r, g := range s.gates {
			select {
			case <-g:
			default:
				close(g)
			}
			delete(s.gates, r)
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

func (s *systems) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/src/"):
		route := strings.TrimPrefix(r.URL.Path, "/src/")
		s.mu.Lock()
		n := s.records[route]
		s.mu.Unlock()
		recs := make([]map[string]any, n)
		for i := range recs {
			recs[i] = map[string]any{"id": i + 1, "name": fmt.Sprintf("%s %d", route, i+1)}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": recs})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/dst/"):
		route := strings.TrimPrefix(r.URL.Path, "/dst/")
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.arrivals[route] = append(s.arrivals[route], time.Now())
		if ch := s.entered[route]; ch != nil && len(s.arrivals[route]) == 1 {
			close(ch)
		}
		gate, code := s.gates[route], s.status[route]
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		if code == 0 {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"ok":true,"route":%q}`, route)
	default:
		http.NotFound(w, r)
	}
}

// serveRecords makes route's source serve n records.
func (s *systems) serveRecords(route string, n int) {
	s.mu.Lock()
	s.records[route] = n
	s.mu.Unlock()
}

// hold makes route's deliveries wait until the returned func is called;
// entered is closed when the first one arrives.
func (s *systems) hold(route string) (release func(), entered <-chan struct{}) {
	g, e := make(chan struct{}), make(chan struct{})
	s.mu.Lock()
	s.gates[route], s.entered[route] = g, e
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }, e
}

func (s *systems) arrived(route string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.arrivals[route]...)
}

// routeYAML is a route reading GET /src/NAME and delivering each record
// to POST /dst/NAME; extra is inserted into the route (indented 4).
func routeYAML(name, extra string) string {
	return fmt.Sprintf(`
  %s:
%s
    source:
      http: { system: sys, path: /src/%s, records: data, key: id }
    batch: 10
    destinations:
      default:
        http: { system: sys, method: POST, path: /dst/%s, body: each }
    retry: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
`, name, extra, name, name)
}

type harness struct {
	t     *testing.T
	dir   string
	sys   *systems
	clock *clock
	store *sqlite.Store
	svc   *service.Service
	yaml  string
}

// newHarness builds (not starts) a service over a fresh store for the
// routes (YAML under routes:), with the fake clock.
func newHarness(t *testing.T, head, routes string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), sys: newSystems(t), clock: &clock{now: time.Date(2026, 11, 30, 9, 58, 0, 0, time.UTC)}}
	h.yaml = fmt.Sprintf("store: ferry.db\n%s\nsystems:\n  sys: { url: %q }\nroutes:%s", head, h.sys.srv.URL, routes)
	st, err := sqlite.Open(context.Background(), filepath.Join(h.dir, "ferry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.store = st
	h.svc = h.build(st, "")
	return h
}

func (h *harness) config() *config.Config {
	h.t.Helper()
	cfg, err := config.Parse([]byte(h.yaml), filepath.Join(h.dir, "ferry.yaml"), all.Set())
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	return cfg
}

// build makes a service on st; owner "" takes a fresh one.
func (h *harness) build(st store.Store, owner string) *service.Service {
	h.t.Helper()
	svc, err := service.New(service.Options{
		Config: h.config(), Store: st, Now: h.clock.Now, Owner: owner, Logger: testLogger(),
		Load: func(context.Context) (*config.Config, error) {
			return config.Parse([]byte(h.yaml), filepath.Join(h.dir, "ferry.yaml"), all.Set())
		},
		// The passes are driven by the test through the fake clock;
		// the background loops never run.
		Every: service.Periods{Schedule: -1, Lead: -1, Rescue: -1, Retain: -1, Sweep: -1, Freshness: -1},
	})
	if err != nil {
		h.t.Fatalf("service: %v", err)
	}
	return svc
}

// start starts the service and stops it when the test ends.
func (h *harness) start() {
	h.t.Helper()
	if err := h.svc.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.svc.Stop(ctx); err != nil {
			h.t.Errorf("stop: %v", err)
		}
	})
}

// finished subscribes to run.finished events.
func (h *harness) finished() *events.Subscription {
	sub := h.svc.Events().Subscribe(256, func(ev events.Event) bool { return ev.Type == events.RunFinished })
	h.t.Cleanup(sub.Close)
	return sub
}

// waitRuns waits for n run.finished events and returns their runs in order.
func waitRuns(t *testing.T, sub *events.Subscription, n int) []store.Run {
	t.Helper()
	var out []store.Run
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case ev := <-sub.C:
			out = append(out, *ev.Run)
		case <-deadline:
			t.Fatalf("waited for %d finished runs, got %d: %+v", n, len(out), out)
		}
	}
	return out
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

// idle waits until route neither runs nor waits to run in the service
// (a run's end event comes just before the service lets go of it).
func (h *harness) idle(route string) {
	h.t.Helper()
	eventually(h.t, route+" is idle", func() bool {
		st, err := h.svc.Route(context.Background(), route)
		// The dispatcher lets go of a run a moment after its outcome is
		// stored; a tick in between is skipped as "still running".
		return err == nil && st.State != service.StateRunning && st.State != service.StateQueued && !h.svc.Dispatched(route)
	})
}

// testLogger logs to stderr when FERRY_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}
