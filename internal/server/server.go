// Package server is ferry's HTTP face: the REST API under /api/v1 with
// its OpenAPI document, webhooks at /hooks/{route}, /healthz, /readyz,
// /metrics and a mount point for file feeds. It holds no state of its
// own beyond metrics: everything it answers comes from the service and
// the store.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// Service is what the server needs of the engine service
// (*service.Service implements it).
type Service interface {
	Config() *config.Config
	Store() store.Store
	Events() *events.Bus
	Routes(ctx context.Context) ([]service.RouteState, error)
	Route(ctx context.Context, name string) (service.RouteState, error)
	Trigger(ctx context.Context, req service.StartRequest) ([]service.Ticket, error)
	Cancel(ctx context.Context, runID int64) error
	Accept(ctx context.Context, route string, records []map[string]any, wait bool) (service.Accepted, error)
	Reload(ctx context.Context) error
	Ready(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Tokens are the bearer API tokens; none leaves /api and /metrics
	// open (CheckListen then allows loopback only).
	Tokens []string
	// TokensFrom, when set, is asked for the tokens on every request
	// instead of Tokens, so a config reload rotates them.
	TokensFrom func() []string
	// Feeds serves /feeds/ (internal/feeds); nil answers 404 there. It
	// does its own access checks (public feed tokens): build it with
	// Authorized(Tokens).
	Feeds http.Handler
	// Dashboard serves every path the API, webhooks, feeds, health and
	// metrics do not (internal/dashboard), under its own login; nil
	// answers 404 problem documents there.
	Dashboard http.Handler
	// Logger gets one line per request (path and status, never headers
	// nor the query string, which may carry a feed token).
	Logger *slog.Logger
	// Now is the clock for store operations (default time.Now).
	Now func() time.Time
}

// Server serves ferry's HTTP endpoints. Close it when done.
type Server struct {
	svc     Service
	opts    Options
	log     *slog.Logger
	handler http.Handler
	metrics *metrics
	auth    func(*http.Request) bool
	mux     *http.ServeMux

	// done ends long-lived responses (event streams) at Close.
	done      chan struct{}
	closeOnce sync.Once
	// syncFaultLogged: the store's failed sync was logged (writeError).
	syncFaultLogged atomic.Bool
}

// New builds a server for svc. Its metrics subscriber runs until Close.
func New(svc Service, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		svc:  svc,
		opts: opts,
		log:  opts.Logger,
		auth: Authorized(opts.Tokens),
		done: make(chan struct{}),
	}
	if opts.TokensFrom != nil {
		s.auth = AuthorizedFrom(opts.TokensFrom)
	}
	s.metrics = newMetrics(svc, s.log)
	s.mux = s.routes()
	s.handler = s.logRequests(s.mux)
	return s
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the metrics subscriber and ends open event streams.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.metrics.close()
		if c, ok := s.opts.Dashboard.(interface{ Close() error }); ok {
			_ = c.Close() // ends its event streams
		}
	})
	return nil
}

// routes builds the mux.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireToken(h)) }

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.requireToken(s.metrics.handler()))
	mux.HandleFunc("POST /hooks/{route}", s.webhook)

	api("GET /api/v1/openapi.json", s.openAPI)
	api("GET /api/v1/routes", s.listRoutes)
	api("GET /api/v1/routes/{route}", s.getRoute)
	api("POST /api/v1/routes/{route}/runs", s.startRun)
	api("GET /api/v1/routes/{route}/entries", s.listEntries)
	api("POST /api/v1/routes/{route}/entries/retry", s.retryRouteErrors)
	api("GET /api/v1/routes/{route}/dead", s.listDead)
	api("POST /api/v1/routes/{route}/dead/replay", s.replayDead)
	api("POST /api/v1/routes/{route}/dead/discard", s.discardDead)
	api("GET /api/v1/runs", s.listRuns)
	api("GET /api/v1/runs/{id}", s.getRun)
	api("POST /api/v1/runs/{id}/cancel", s.cancelRun)
	api("GET /api/v1/entries/{id}", s.getEntry)
	api("POST /api/v1/entries/{id}/retry", s.retryEntry)
	api("POST /api/v1/entries/{id}/discard", s.discardEntry)
	api("POST /api/v1/reload", s.reload)
	api("GET /api/v1/events", s.streamEvents)
	// Anything else under /api answers a problem document, after auth
	// (an unknown path tells nothing to a caller without a token).
	api("/api/", s.notFound)

	if s.opts.Feeds != nil {
		mux.Handle("/feeds/", s.opts.Feeds)
	}
	if s.opts.Dashboard != nil {
		// The feeds page is the dashboard's; /feeds/ below it the files.
		mux.Handle("GET /feeds", s.opts.Dashboard)
		mux.Handle("/", s.opts.Dashboard)
	} else {
		mux.HandleFunc("/", s.notFound)
	}
	return mux
}

// notFound answers paths no pattern serves: 405 with Allow when the path
// exists for other methods (the catch-all patterns keep the mux from
// saying so itself), else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(w, r, http.StatusMethodNotAllowed, probNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(allow, " or "))
		return
	}
	writeProblem(w, r, http.StatusNotFound, probNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
}
