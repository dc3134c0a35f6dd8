// Package dashboard is ferry's web dashboard, served at / on the ferry
// serve listener: server-rendered html/template pages with htmx and
// server-sent events, every asset embedded, so the binary is the whole
// of it. It reads through the service and the store like the REST API
// does, and holds no state of its own beyond its templates.
package dashboard

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Service is what the dashboard needs of the engine service
// (*service.Service implements it).
type Service interface {
	Config() *config.Config
	Store() store.Store
	Events() *events.Bus
	Routes(ctx context.Context) ([]service.RouteState, error)
	Route(ctx context.Context, name string) (service.RouteState, error)
	Trigger(ctx context.Context, req service.StartRequest) ([]service.Ticket, error)
	Cancel(ctx context.Context, runID int64) error
	Feeds(ctx context.Context, route string) ([]connector.Feed, error)
	Preview(ctx context.Context, route string, en store.Entry) (engine.DryRecord, error)
}

// Options configure the dashboard.
type Options struct {
	// Login returns the login settings in force (asked on every request,
	// so a config reload changes the password). nil, or a zero Login:
	// no password, and the dashboard answers loopback clients only.
	Login func() Login
	// Logger gets server-side failures. Default: discarded.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FeedsPrefix is where file feeds are served (default "/feeds").
	FeedsPrefix string
	// Who is recorded in the history of user actions (retry, discard)
	// with the client's address (default "dashboard").
	Who string
	// OverviewMaxAge is how long viewers share one reading of the
	// overview's routes (queue counts, runs) unless a run starts or ends
	// meanwhile: counting a million queued entries takes a tenth of a
	// second, and every open overview refreshes once a second. Default
	// 2s; negative reads afresh every time.
	OverviewMaxAge time.Duration
}

// Dashboard serves the pages. It is an http.Handler.
type Dashboard struct {
	svc   Service
	opts  Options
	log   *slog.Logger
	pages *pages
	mux   *http.ServeMux
	auth  *authenticator

	// overviewCache is the shared reading of the overview; changes counts the
	// runs started and ended, which make it stale at once.
	overviewCache overviewCache
	changes       atomic.Uint64
	watch         *events.Subscription

	// done ends the open event streams at Close (an http.Server's
	// Shutdown waits for them otherwise).
	done      chan struct{}
	closeOnce sync.Once
}

// New builds the dashboard for svc.
func New(svc Service, opts Options) (*Dashboard, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FeedsPrefix == "" {
		opts.FeedsPrefix = "/feeds"
	}
	if opts.Who == "" {
		opts.Who = "dashboard"
	}
	if opts.Login == nil {
		opts.Login = func() Login { return Login{} }
	}
	if opts.OverviewMaxAge == 0 {
		opts.OverviewMaxAge = 2 * time.Second
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	d := &Dashboard{svc: svc, opts: opts, log: opts.Logger, pages: p, done: make(chan struct{})}
	d.auth = newAuthenticator(opts.Login, opts.Now)
	d.auth.fail = d.fail // refusals render as dashboard pages (or in the flash area)
	d.mux = d.routes()
	// Counted in the bus's filter, which takes no event: no goroutine.
	d.watch = svc.Events().Subscribe(1, func(ev events.Event) bool {
		switch ev.Type {
		case events.RunStarted, events.RunFinished, events.RouteStale, events.RouteFresh:
			d.changes.Add(1)
		}
		return false
	})
	return d, nil
}

// Close ends the open event streams; pages are still served.
func (d *Dashboard) Close() error {
	d.closeOnce.Do(func() {
		close(d.done)
		d.watch.Close()
	})
	return nil
}

// ServeHTTP serves a dashboard request.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// routes builds the mux. The server mounts the dashboard at /: the API,
// webhooks, feeds, health and metrics patterns are more specific and win.
func (d *Dashboard) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheForever(http.FileServerFS(static))))

	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.Handle("POST /logout", d.auth.guard(http.HandlerFunc(d.logout)))

	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, d.auth.guard(d.changing(h))) }
	page("GET /{$}", d.overview)
	page("GET /overview/table", d.overviewTable)
	page("GET /routes/{route}", d.routePage)
	page("GET /routes/{route}/live", d.routeLive)
	page("POST /routes/{route}/run", d.runNow)
	page("POST /runs/{id}/cancel", d.cancelRun)
	page("GET /routes/{route}/queue", d.queuePage)
	page("POST /routes/{route}/queue/retry", d.queueRetry)
	page("POST /routes/{route}/queue/discard", d.queueDiscard)
	page("POST /routes/{route}/queue/resend", d.queueResend)
	page("GET /routes/{route}/keys/{key}", d.ledgerPage)
	page("GET /entries/{id}", d.entryPage)
	page("POST /entries/{id}/retry", d.entryRetry)
	page("POST /entries/{id}/discard", d.entryDiscard)
	page("GET /search", d.search)
	page("GET /errors", d.errorsPage)
	page("POST /errors/replay", d.errorsReplay)
	page("POST /errors/discard", d.errorsDiscard)
	page("GET /feeds", d.feedsPage)
	page("GET /live", d.liveEvents)
	page("/", d.notFound)
	return mux
}

// changing makes the shared overview reading stale after any action
// (retry, discard, replay, run): whoever acted sees its effect at once.
func (d *Dashboard) changing(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			d.changes.Add(1)
		}
	}
}

// cacheForever marks embedded assets cacheable: their names carry their
// versions (htmx-2.0.11.min.js), and app.css changes only with the binary.
func cacheForever(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	d.fail(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
}
