package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/dashboard"
	"github.com/ferry-dev/ferry/internal/feeds"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
)

func (a *app) serveCommand() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run ferry as a server: schedules, webhooks, the REST API and metrics",
		Long: `Run ferry until it is stopped: routes with a schedule (schedule: or every:)
run on their own, webhook routes take records at POST /hooks/ROUTE, and the
REST API (/api/v1, OpenAPI at /api/v1/openapi.json), /metrics, /healthz,
/readyz and the web dashboard (at /) share one listener. The dashboard
answers this machine only unless server.dashboard.password_hash is set
(make it with ferry hash-password).

The address is --listen, else server.listen in the config, else
127.0.0.1:8080. Without server.tokens ferry refuses any address but
loopback: the API would be open to the network.

Signals:
  SIGTERM, SIGINT  stop taking requests and new runs; runs going on finish
                   within server.shutdown_timeout (default 30s), else they
                   are cancelled and their entries go back to the queue; exit 0
  another SIGINT   (or SIGTERM) while stopping: exit at once (130); what was
                   leased goes back to the queue when another ferry (or the
                   next start) finds this one gone
  SIGHUP           reload the config file; an invalid one is refused with its
                   errors and the old one stays

Exit codes: 0 stopped by a signal, 1 the store cannot be opened or the
address is taken, 2 bad usage, an invalid config or a refused address,
130 a second signal while stopping.`,
		Example: `  ferry serve                                    # 127.0.0.1:8080
  ferry serve --listen 127.0.0.1:9000
  FERRY_API_TOKEN=... ferry -c /etc/ferry/ferry.yaml serve --listen 0.0.0.0:8080 --log-format json
  kill -HUP $(pidof ferry)                       # reload ferry.yaml
  curl -X POST localhost:8080/api/v1/routes/orders/runs   # start a run now`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("listen") && listen == "" {
				return withCode(ExitUsage, errors.New("--listen \"\": expected host:port, e.g. 127.0.0.1:8080"))
			}
			// SIGHUP's default ends the process: catch it from the start.
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			// The signals come through sigs alone: the command's context
			// ends on the same SIGINT/SIGTERM, and watching both would take
			// one signal for two (serve ignores ctx when given signals).
			return a.serve(cmd.Context(), serveOptions{listen: listen, signals: sigs})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "host:port to listen on (default: server.listen in the config, else "+config.DefaultListen+")")
	return cmd
}

// serveOptions are what serve takes besides the app's flags.
type serveOptions struct {
	listen string // --listen; "" takes the config's
	// signals: SIGINT/SIGTERM stop, SIGHUP reloads. When nil, the end of
	// ctx stops the server (the demo, tests); else ctx's end is ignored.
	signals <-chan os.Signal
	// listener, when set, is listened on instead of the address (the demo
	// opens it before its first runs, so a taken port fails early).
	listener net.Listener
	// ready, when set, is called once the server listens.
	ready func(svc *service.Service, addr string)
}

// httpTimeouts bound what a slow or idle client may hold. There is no
// write timeout: the event stream and respond: sync webhooks answer late
// on purpose (the latter bounded by the route's own timeout).
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// serve runs the service and its HTTP server until a stop signal (or ctx
// ends), then shuts both down within the config's shutdown timeout.
func (a *app) serve(ctx context.Context, o serveOptions) error {
	var ctxDone <-chan struct{}
	if o.signals == nil {
		ctxDone = ctx.Done()
	}
	// From here on ctx only carries values: the stop is ours to order.
	ctx = context.WithoutCancel(ctx)
	log, err := a.logger()
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	addr := listenAddress(o.listen, cfg)
	if o.listener != nil {
		addr = o.listener.Addr().String()
	}
	if err := server.CheckListen(addr, cfg.Server.Tokens); err != nil {
		return withCode(ExitUsage, err)
	}
	st, err := a.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	// Closed explicitly at the end of a clean stop; a second signal exits
	// without waiting (the rescuer of the next start cleans up).
	closeStore := true
	defer func() {
		if closeStore {
			st.Close()
		}
	}()

	ln := o.listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", addr); err != nil {
			return withCode(ExitFailed, fmt.Errorf("listen on %s: %w (another ferry serve? choose another address with --listen)", addr, err))
		}
	}
	defer ln.Close()
	addr = ln.Addr().String() // the real port when asked for :0

	svc, err := service.New(service.Options{
		Config:  cfg,
		Load:    a.reloadConfig(cfg, addr),
		Store:   st,
		Logger:  log,
		Version: Version,
		Listen:  addr,
	})
	if err != nil {
		return withCode(ExitUsage, err)
	}
	if err := svc.Start(ctx); err != nil {
		return withCode(ExitFailed, err)
	}
	tokens := func() []string { return svc.Config().Server.Tokens } // rotated by a reload
	dash, err := dashboard.New(svc, dashboard.Options{Login: dashboardLogin(svc), Logger: log})
	if err != nil {
		stopCtx, cancel := context.WithTimeout(ctx, cfg.Server.ShutdownTimeout.D())
		defer cancel()
		return withCode(ExitFailed, errors.Join(fmt.Errorf("build the dashboard: %w", err), svc.Stop(stopCtx)))
	}
	srv := server.New(svc, server.Options{TokensFrom: tokens, Logger: log, Feeds: feedsHandler(svc, tokens, dash, log), Dashboard: dash})
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	a.notice("ferry serving on http://"+addr, "listen", addr, "routes", len(cfg.Routes), "workers", cfg.Workers, "version", Version)
	a.notice("dashboard: http://"+addr+"/"+dashboardNote(cfg), "dashboard", "http://"+addr+"/")
	if o.ready != nil {
		o.ready(svc, addr)
	}

	var why string
	for why == "" {
		select {
		case sig := <-o.signals:
			if sig == syscall.SIGHUP {
				a.reload(ctx, svc)
				continue
			}
			why = signalName(sig)
		case <-ctxDone:
			why = "interrupted"
		case err := <-served:
			// The listener broke: stop the runs cleanly and say why.
			a.notice("ferry: the HTTP server stopped: " + err.Error())
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout.D())
			defer cancel()
			_ = srv.Close()
			serr := svc.Stop(stopCtx)
			return withCode(ExitFailed, errors.Join(fmt.Errorf("serve on %s: %w", addr, err), serr))
		}
	}

	timeout := cfg.Server.ShutdownTimeout.D()
	a.notice(fmt.Sprintf("ferry stopping (%s): finishing the runs going on within %s; a second Ctrl-C exits at once", why, timeout))
	stopped := make(chan error, 1)
	go func() { stopped <- a.shutdown(ctx, hs, srv, svc, timeout) }()
	for {
		select {
		case err := <-stopped:
			if err != nil {
				// The deadline cancelled runs: they released their leases,
				// nothing is lost, so this is still a clean stop.
				a.notice("ferry: " + err.Error())
			}
			closeStore = false
			if err := st.Close(); err != nil {
				return withCode(ExitFailed, fmt.Errorf("close the queue: %w", err))
			}
			a.notice("ferry stopped")
			return nil
		case sig := <-o.signals:
			if sig == syscall.SIGHUP {
				continue
			}
			closeStore = false
			fmt.Fprintf(a.stderr, "ferry: %s while stopping: exiting at once; entries still leased go back to the queue once this process is found gone\n", signalName(sig))
			return withCode(ExitCancelled, errors.New(""))
		}
	}
}

// shutdown stops the HTTP side (no new requests; event streams end;
// requests going on, such as respond: sync webhooks, finish) and the
// service (no new runs; runs finish or, at the deadline, are cancelled
// and release their leases) at the same time, within one deadline: a
// sync webhook caller needs the runs to go on, and the runs must not
// wait for the HTTP side to be done before their grace time starts.
func (a *app) shutdown(ctx context.Context, hs *http.Server, srv *server.Server, svc *service.Service, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	_ = srv.Close() // ends event streams, which Shutdown would wait for
	stopped := make(chan error, 1)
	go func() { stopped <- svc.Stop(sctx) }()
	var herr error
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		herr = fmt.Errorf("HTTP requests still going on at the deadline were cut: %w", err)
	}
	return errors.Join(herr, <-stopped)
}

// reload applies the config file again (SIGHUP); a refused one is logged
// with its errors and the old one stays.
func (a *app) reload(ctx context.Context, svc *service.Service) {
	if err := svc.Reload(ctx); err != nil {
		a.notice("ferry: config reload refused, the old config stays:\n" + err.Error())
		return
	}
	a.notice(fmt.Sprintf("ferry: config reloaded (%d routes)", len(svc.Config().Routes)))
}

// reloadConfig loads the config file again for the service. What only a
// restart can change is refused (the store) or reported (the listener).
func (a *app) reloadConfig(first *config.Config, addr string) func(context.Context) (*config.Config, error) {
	return func(ctx context.Context) (*config.Config, error) {
		cfg, err := config.Load(a.configPath, all.Set())
		if err != nil {
			return nil, err
		}
		if cfg.Store != first.Store {
			// The values are not quoted: a PostgreSQL URL may hold a password.
			return nil, fmt.Errorf("%s: store: changed: a new store needs a restart of ferry serve", a.configPath)
		}
		// Tokens apply at once; a config without tokens on a listener
		// beyond loopback would open the API, so it is refused.
		if err := server.CheckListen(addr, cfg.Server.Tokens); err != nil {
			return nil, fmt.Errorf("%s: server.tokens: %w", a.configPath, err)
		}
		if cfg.Server.Listen != first.Server.Listen {
			a.notice("ferry: a server.listen change applies at the next start, not on reload")
		}
		return cfg, nil
	}
}

// listenAddress is --listen, else the config's server.listen, else the
// default.
func listenAddress(flag string, cfg *config.Config) string {
	switch {
	case flag != "":
		return flag
	case cfg.Server.Listen != "":
		return cfg.Server.Listen
	}
	return config.DefaultListen
}

// notice tells the operator about the server's life (listening, reload,
// stop) whatever the log level: a plain line, or a JSON log line with
// --log-format json so that log collectors get one format.
func (a *app) notice(msg string, attrs ...any) {
	if a.logFormat == "json" {
		slog.New(slog.NewJSONHandler(a.stderr, nil)).Info(msg, attrs...)
		return
	}
	fmt.Fprintln(a.stderr, msg)
}

// signalName spells a signal as operators know it (SIGTERM, not
// "terminated").
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// dashboardLogin gives the dashboard the login of the config in force,
// asked on every request: a reload changes the password (and so ends
// every session) at once.
func dashboardLogin(svc *service.Service) func() dashboard.Login {
	return func() dashboard.Login {
		d := svc.Config().Server.Dashboard
		return dashboard.Login{PasswordHash: string(d.PasswordHash), SessionTTL: d.TTL().D()}
	}
}

// dashboardNote says who may open the dashboard.
func dashboardNote(cfg *config.Config) string {
	if cfg.Server.Dashboard.PasswordHash == "" {
		return " (no password: this machine only)"
	}
	return " (password login)"
}

// feedsHandler serves /feeds/: the files that destinations publish, from
// the engine of the config in force; API tokens see every feed, a feed's
// public token its own.
func feedsHandler(svc feeds.Source, tokens func() []string, dash *dashboard.Dashboard, log *slog.Logger) http.Handler {
	byToken := server.AuthorizedFrom(tokens)
	return feeds.Handler(svc, feeds.Options{Authorized: func(r *http.Request) bool {
		// A dashboard session downloads what the feeds page links to.
		return byToken(r) || dash.Authorized(r)
	}, Logger: log})
}
