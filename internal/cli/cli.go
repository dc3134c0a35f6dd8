// Package cli wires ferry's commands. Each command loads the config,
// opens the store and calls the engine; the logic lives in those packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storeopen"
)

// Exit codes scripts can rely on.
const (
	ExitOK        = 0   // everything succeeded
	ExitFailed    = 1   // the run failed, or a command could not do its work
	ExitUsage     = 2   // bad arguments or an invalid config
	ExitPartial   = 3   // the run finished but some records failed
	ExitCancelled = 130 // interrupted (Ctrl-C, SIGTERM)
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = "dev"

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// app holds what commands share: streams and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configPath     string
	logLevel       string
	logFormat      string
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default: a second Ctrl-C
		// ends a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil {
		// Interrupted: whatever failed on the way out failed because of it.
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitCancelled {
			fmt.Fprintln(stderr, "ferry: interrupted:", err)
		}
		return ExitCancelled
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "ferry:", ee.err)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "ferry: interrupted")
		return ExitCancelled
	}
	fmt.Fprintln(stderr, "ferry:", err)
	return ExitUsage // cobra's own errors: unknown command or flag
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "ferry keeps business systems in step: routes in YAML, a durable queue, retries and history",
		Long: `ferry moves records between business systems (web shop, ERP, CRM, ...).
You describe routes in ferry.yaml: where records come from, how they change,
where they go. ferry reads them page by page into a durable queue, sends
them in batches, settles every record on its own, retries what failed and
keeps the history of every attempt.`,
		Example: `  ferry demo                      # see it work with a mock shop and ERP
  ferry demo --serve              # keep them running and write a first route against them
  ferry validate                  # check ferry.yaml
  ferry run orders                # run one route
  ferry run orders --dry-run      # show what would be sent
  ferry serve                     # schedules, webhooks, REST API on 127.0.0.1:8080
  ferry queue orders --status error
  ferry retry orders --dead
  ferry discard orders --key 1042 --reason "booked by hand"`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", envOr("FERRY_CONFIG", "ferry.yaml"), "config file (env FERRY_CONFIG)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", envOr("FERRY_LOG_LEVEL", "warn"), "log level: debug, info, warn, error (env FERRY_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", envOr("FERRY_LOG_FORMAT", "text"), "log format: text or json (env FERRY_LOG_FORMAT)")
	root.AddCommand(
		a.runCommand(),
		a.serveCommand(),
		a.validateCommand(),
		a.checkCommand(),
		a.captureCommand(),
		a.schemaCommand(),
		a.connectorsCommand(),
		a.routesCommand(),
		a.queueCommand(),
		a.retryCommand(),
		a.discardCommand(),
		a.resendCommand(),
		a.pruneCommand(),
		a.storeCommand(),
		a.historyCommand(),
		a.demoCommand(),
		a.hashPasswordCommand(),
		a.versionCommand(),
	)
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("--log-level %q: expected debug, info, warn or error", a.logLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, withCode(ExitUsage, fmt.Errorf("--log-format %q: expected text or json", a.logFormat))
}

// loadConfig loads and validates the config; errors exit with ExitUsage.
func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(a.configPath, all.Set())
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	return cfg, nil
}

// openStore opens the config's store and closes runs whose worker died
// (killed, crashed) or lost its run lock, so no command ever shows such
// a run as running for ever.
func (a *app) openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	st, err := storeopen.Open(ctx, cfg.Store)
	if err != nil {
		return nil, withCode(ExitFailed, fmt.Errorf("open the queue: %w", err))
	}
	// The engine's helper also puts the leases of dead workers back.
	closed, err := engine.CloseAbandonedRuns(ctx, st, time.Now(), nil)
	if err != nil {
		// Not fatal: the command can still do its work; the next one tries again.
		fmt.Fprintf(a.stderr, "ferry: warning: close runs of dead workers: %v\n", err)
	}
	for _, r := range closed {
		fmt.Fprintf(a.stderr, "ferry: run #%d of %s (started %s) was left running by a worker that is gone; marked abandoned\n",
			r.ID, r.Route, r.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return st, nil
}

// session is a loaded config with its store and engine.
type session struct {
	cfg    *config.Config
	store  store.Store
	engine *engine.Engine
	conns  *registry.Registry
}

// Close closes the connectors (pools, broker connections, open files),
// then the store.
func (s *session) Close() error {
	return errors.Join(s.conns.Close(), s.store.Close())
}

func (a *app) open(ctx context.Context) (*session, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	return a.openConfig(ctx, cfg)
}

func (a *app) openConfig(ctx context.Context, cfg *config.Config) (*session, error) {
	log, err := a.logger()
	if err != nil {
		return nil, err
	}
	st, err := a.openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// At --log-level debug every request is logged (secrets redacted).
	reg, err := registry.New(cfg, registry.WithLogger(log))
	if err != nil {
		st.Close()
		return nil, withCode(ExitUsage, err)
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{Logger: log})
	if err != nil {
		_ = reg.Close()
		st.Close()
		return nil, withCode(ExitUsage, err)
	}
	return &session{cfg: cfg, store: st, engine: eng, conns: reg}, nil
}

// openRouteStore loads the config, checks that route is one of its
// routes and opens the store: the start of every command about one route.
func (a *app) openRouteStore(cmd *cobra.Command, route string) (store.Store, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	if err := routeArg(cfg, route); err != nil {
		return nil, err
	}
	return a.openStore(cmd.Context(), cfg)
}

// routeArg checks that name is a route of cfg.
func routeArg(cfg *config.Config, name string) error {
	if _, err := cfg.Route(name); err != nil {
		return withCode(ExitUsage, err)
	}
	return nil
}
