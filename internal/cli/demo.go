package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/demo"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// DefaultServePort is the mock shop's port with demo --serve (the ERP
// listens on the next one): fixed, so a route file written for them keeps
// working after a restart.
const DefaultServePort = 8401

func (a *app) demoCommand() *cobra.Command {
	var dir, listen string
	var orders, port int
	var noProgress, serve, once bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the demo (a mock shop and ERP, two routes, errors and retries), or --serve the mock systems for a first route",
		Long: `Start a mock web shop and a mock ERP on 127.0.0.1, write a ferry.yaml for
them, and run its routes on an embedded SQLite queue:

  orders  paid orders from the shop into the ERP's batch endpoint, large
          orders to a review endpoint, then "Delivered" back at the shop;
          the ERP answers 503 at first and rejects orders from one country,
          so you see retries, per-record errors and dead letters;
  stock   stock levels from the ERP back to the shop.

Then a few orders change at the shop and 'orders' runs again: only those
are read (incremental sync). The summary says why the dead letters died
and how many deliveries needed a retry. Needs no network beyond loopback
and no set-up.

Then ferry serves the demo until Ctrl-C, as 'ferry serve' would, on
127.0.0.1:8080 (--listen), and prints the dashboard's URL: open it to see
the routes, their runs and queues, and the failed orders grouped by cause
(retry them, discard them). Orders and stock run every 30s while the shop
takes a new order every 20s, a third route takes orders the shop pushes
to ferry's webhook (the demo prints a curl for it), and the REST API and
/metrics answer. What ferry does is listed as it happens. --once stops
after the first runs instead.

With --dir the files stay for you to explore. The demo never overwrites a
file you changed: it keeps the checksums of what it wrote in
.ferry-demo.sha256 and rewrites only files that still match (a changed
ferry.yaml is kept and the demo writes demo.yaml and demo.db instead).

--serve starts the mock shop and ERP and keeps them running until Ctrl-C
(shop on 127.0.0.1:8401, ERP on :8402; --port moves them), writes a route
file for them to edit (ferry-sandbox/ferry.yaml, or in --dir), and lists
every request they receive: write a first route against something real.`,
		Example: `  go run ./cmd/ferry demo
  ferry demo --once           # the first runs and their story, then exit
  ferry demo --listen 127.0.0.1:9000
  ferry demo --dir ./demo     # keep ferry.yaml and ferry.db to explore:
  ferry -c ./demo/ferry.yaml history orders --dead
  ferry demo --serve          # mock shop and ERP until Ctrl-C, and a route file to edit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := firstErr(
				nonNegative(cmd, "port"),
				exclusive(cmd, "--serve runs no routes and shows no progress", "serve", "no-progress"),
				exclusive(cmd, "--serve runs no routes, --once runs them once", "serve", "once"),
			); err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") && (serve || once) {
				return withCode(ExitUsage, errors.New("--listen only applies without --once and --serve (it is where ferry serves the demo)"))
			}
			if !serve && cmd.Flags().Changed("port") {
				return withCode(ExitUsage, errors.New("--port only applies with --serve (the demo run uses free ports)"))
			}
			if orders < 1 {
				return withCode(ExitUsage, fmt.Errorf("--orders %d: expected at least 1", orders))
			}
			if serve {
				if dir == "" {
					dir = "ferry-sandbox"
				}
				return a.serveDemo(cmd.Context(), dir, port, orders)
			}
			if once {
				listen = ""
			}
			return a.runDemo(cmd, dir, orders, noProgress, listen)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the demo's files in this folder (default: a temporary folder, removed; with --serve: ferry-sandbox)")
	cmd.Flags().IntVar(&orders, "orders", 120, "orders in the mock shop")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "plain progress lines (every 2 s, on stderr) instead of a bar, even on a terminal")
	cmd.Flags().BoolVar(&serve, "serve", false, "keep the mock shop and ERP running until Ctrl-C and write a route file to edit")
	cmd.Flags().IntVar(&port, "port", DefaultServePort, "with --serve: the mock shop's port on 127.0.0.1, the ERP's is the next (0: free ports)")
	cmd.Flags().BoolVar(&once, "once", false, "run the routes once and exit, without serving them")
	cmd.Flags().StringVar(&listen, "listen", config.DefaultListen, "where ferry serves the demo after its first runs (port 0: a free one)")
	return cmd
}

// demoFiles decides where the demo's config and queue go in dir: ferry.yaml
// and ferry.db, unless the user changed ferry.yaml, or a ferry.db is there
// that no demo config owns (then both are kept and the demo uses demo.yaml
// and demo.db). kept says, per file kept, why.
func demoFiles(f *demo.Folder) (cfgName, dbName string, kept []string, err error) {
	for _, c := range []struct{ cfg, db string }{{"ferry.yaml", "ferry.db"}, {"demo.yaml", "demo.db"}} {
		ok, err := f.Untouched(c.cfg)
		if err != nil {
			return "", "", nil, err
		}
		if !ok {
			kept = append(kept, fmt.Sprintf("%s: you changed it since the demo wrote it (its queue stays too)", c.cfg))
			continue
		}
		// The demo starts its queue afresh, which is only safe for a
		// queue of its own: one beside a config the demo wrote.
		if !f.Wrote(c.cfg) && f.Exists(c.db) {
			kept = append(kept, fmt.Sprintf("%s: the demo did not make it, so it may be yours", c.db))
			continue
		}
		return c.cfg, c.db, kept, nil
	}
	return "", "", kept, withCode(ExitUsage, fmt.Errorf("%s: holds a ferry.yaml/ferry.db and a demo.yaml/demo.db the demo did not write or that were changed since; the demo overwrites none of them: use another --dir", f.Dir))
}

// runDemo runs the demo's routes once and tells their story; then, with
// a listen address, serves the demo until ctx ends.
func (a *app) runDemo(cmd *cobra.Command, dir string, orders int, noProgress bool, listen string) error {
	ctx := cmd.Context()
	var ln net.Listener
	if listen != "" {
		// Listen first: a taken port fails before the runs, not after.
		if err := server.CheckListen(listen, nil); err != nil {
			return withCode(ExitUsage, fmt.Errorf("--listen: %w", err))
		}
		var lc net.ListenConfig
		var err error
		if ln, err = lc.Listen(ctx, "tcp", listen); err != nil {
			return withCode(ExitFailed, fmt.Errorf("listen on %s: %w (another ferry? use --listen 127.0.0.1:0 for a free port, or --once)", listen, err))
		}
		defer ln.Close()
	}
	shop := demo.NewShop(orders, 1)
	erp := demo.NewERP(1)
	shopURL, stopShop, err := demo.Start(ctx, shop)
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("start mock shop: %w", err))
	}
	defer stopShop()
	erpURL, stopERP, err := demo.Start(ctx, erp)
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("start mock ERP: %w", err))
	}
	defer stopERP()

	keep := dir != ""
	if !keep {
		if dir, err = os.MkdirTemp("", "ferry-demo-"); err != nil {
			return withCode(ExitFailed, err)
		}
		defer os.RemoveAll(dir)
	}
	folder, err := demo.OpenFolder(dir)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	cfgName, dbName, kept, err := demoFiles(folder)
	if err != nil {
		return err
	}
	for _, k := range kept {
		fmt.Fprintf(a.stdout, "kept %s\n", filepath.Join(dir, k))
	}
	path := filepath.Join(dir, cfgName)
	if _, err := folder.Write(cfgName, demo.ConfigStore(shopURL, erpURL, dbName)); err != nil {
		return withCode(ExitFailed, fmt.Errorf("write demo config: %w", err))
	}
	// A fresh queue each time: the old one holds the last demo's entries
	// and cursors. It belongs to the demo's config, which is untouched.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, dbName+suffix))
	}
	cfg, err := config.Load(path, all.Set())
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("demo config: %w", err))
	}
	s, err := a.openConfig(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "ferry demo: mock shop at %s, mock ERP at %s\n", shopURL, erpURL)
	fmt.Fprintf(a.stdout, "config %s, queue %s\n\n", path, cfg.Store)
	err = a.demoRuns(cmd, s, shop, erp, orders, noProgress)
	// The server opens the store again on its own.
	if cerr := s.Close(); err == nil && cerr != nil {
		err = withCode(ExitFailed, cerr)
	}
	if err != nil {
		return err
	}

	switch {
	case ln != nil && keep:
		fmt.Fprintf(a.stdout, "\nExplore what happened (in another terminal; after Ctrl-C the queue stays):\n")
	case ln != nil:
		fmt.Fprintf(a.stdout, "\nExplore what happened in another terminal (the demo's folder goes at Ctrl-C; ferry demo --dir ./demo keeps it):\n")
	case keep:
		fmt.Fprintf(a.stdout, "\nExplore what happened (the mock systems are gone, the queue stays):\n")
	default:
		fmt.Fprintf(a.stdout, "\nTo keep the queue and explore it, run: ferry demo --dir ./demo, then:\n")
		path = "./demo/ferry.yaml"
	}
	fmt.Fprintf(a.stdout, "  ferry -c %s history orders\n  ferry -c %s history orders --dead\n  ferry -c %s queue orders --status error\n", path, path, path)
	fmt.Fprintf(a.stdout, "\nWrite your own first route against the mock systems: ferry demo --serve\n")
	if ln == nil {
		return nil
	}
	a.configPath = path
	return a.serveDemoRoutes(ctx, ln, shop)
}

// demoRuns runs the demo's routes once, lets a few orders change and runs
// orders again, then tells the story.
func (a *app) demoRuns(cmd *cobra.Command, s *session, shop *demo.Shop, erp *demo.ERP, orders int, noProgress bool) error {
	ctx := cmd.Context()
	// The ERP is overloaded at first: two 503s with Retry-After.
	erp.FailNext(2, 503, time.Second)

	names, err := s.cfg.Order(s.cfg.RouteNames())
	if err != nil {
		return withCode(ExitFailed, err)
	}
	for _, name := range names {
		if s.cfg.Routes[name].Source.Kind == "" {
			continue // a webhook route: it has nothing to read
		}
		if code, _ := a.runOne(cmd, s, name, false, noProgress); code == ExitCancelled || code == ExitFailed {
			return withCode(code, fmt.Errorf("demo route %s did not finish", name))
		}
	}

	fmt.Fprintln(a.stdout, "\nSome orders change at the shop; an incremental run reads only those:")
	shop.Touch(3, 5, 8)
	if code, _ := a.runOne(cmd, s, "orders", false, noProgress); code == ExitCancelled || code == ExitFailed {
		return withCode(code, fmt.Errorf("demo route orders did not finish"))
	}

	received := erp.Orders()
	delivered := 0
	for id := 1; id <= orders; id++ {
		if shop.OrderStatus(id) == "Delivered" {
			delivered++
		}
	}
	fmt.Fprintf(a.stdout, "\nThe ERP holds %d orders; the shop shows %d orders as Delivered.\n", len(received), delivered)
	if err := a.demoStory(ctx, s.store, "orders"); err != nil {
		return withCode(ExitFailed, err)
	}
	return nil
}

// demoStory tells why the route's dead letters died, grouped by cause,
// and that retries happened: the two things the demo is there to show.
func (a *app) demoStory(ctx context.Context, st store.Store, route string) error {
	dead, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, Limit: 1000})
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	if len(dead) > 0 {
		var errs []string
		for _, d := range dead {
			errs = append(errs, d.LastError)
		}
		fmt.Fprintf(a.stdout, "\nWhy the %d dead letter%s of %s died:\n", len(dead), plural(len(dead)), route)
		for _, c := range groupCauses(errs) {
			fmt.Fprintf(a.stdout, "  %3d  %s\n", c.n, c.cause)
		}
	}
	attempts, err := st.RecentAttempts(ctx, route, 100000)
	if err != nil {
		return fmt.Errorf("read attempts: %w", err)
	}
	failed := map[string]bool{} // keys with a failed attempt that was retried
	retried, recovered := 0, 0
	// Oldest first, so a key's failures come before its delivery.
	for i := len(attempts) - 1; i >= 0; i-- {
		at := attempts[i]
		switch at.Outcome {
		case store.OutcomeRetry:
			retried++
			failed[at.Key] = true
		case store.OutcomeDone:
			if failed[at.Key] {
				recovered++
				delete(failed, at.Key)
			}
		}
	}
	if retried > 0 {
		fmt.Fprintf(a.stdout, "Retries: %d failed attempt%s retried with backoff (the error pass); %d record%s got through on a later attempt.\n",
			retried, plural(retried), recovered, plural(recovered))
	}
	return nil
}

type cause struct {
	cause string
	n     int
}

var (
	gaveUp = regexp.MustCompile(`\s*\(gave up after \d+ attempts?\)$`)
	digits = regexp.MustCompile(`\d+`)
)

// groupCauses counts errors by cause: the text without the record's own
// numbers ("order SO-1011 has no e-mail" and "order SO-1048 ..." are one
// cause) and without the "gave up after N attempts" note, most frequent
// first.
func groupCauses(errs []string) []cause {
	counts := map[string]int{}
	for _, e := range errs {
		c := gaveUp.ReplaceAllString(oneLine(e, 1000), "")
		c = oneLine(digits.ReplaceAllString(c, "#"), 100)
		counts[c]++
	}
	out := make([]cause, 0, len(counts))
	for c, n := range counts {
		out = append(out, cause{c, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].cause < out[j].cause
	})
	return out
}

// serveDemo runs the mock shop and ERP on loopback until ctx ends, with a
// route file for them in dir, and lists the requests they receive.
func (a *app) serveDemo(ctx context.Context, dir string, port, orders int) error {
	shopAddr, erpAddr := "127.0.0.1:0", "127.0.0.1:0"
	if port != 0 {
		if port+1 > 65535 {
			return withCode(ExitUsage, fmt.Errorf("--port %d: expected at most 65534 (the ERP takes the next port)", port))
		}
		shopAddr, erpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1))
	}
	out := &lockedWriter{w: a.stdout}
	shopURL, stopShop, err := demo.StartAt(ctx, shopAddr, logRequests(out, "shop", demo.NewShop(orders, 1)))
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("start mock shop: %w (another ferry demo --serve? use --port N, or --port 0 for free ports)", err))
	}
	defer stopShop()
	erpURL, stopERP, err := demo.StartAt(ctx, erpAddr, logRequests(out, "erp ", demo.NewERP(1)))
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("start mock ERP: %w (use --port N, or --port 0 for free ports)", err))
	}
	defer stopERP()

	folder, err := demo.OpenFolder(dir)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	wrote, err := folder.Write("ferry.yaml", demo.Starter(shopURL, erpURL))
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("write the route file: %w", err))
	}
	path := filepath.Join(dir, "ferry.yaml")
	note := "written for you to edit"
	if !wrote {
		note = "kept: you changed it (check that its URLs match the ones above)"
	}
	fmt.Fprintf(out, `ferry demo --serve: the mock systems run on loopback until Ctrl-C
  shop  %s/api   bearer token %s
  ERP   %s/erp   basic auth %s / %s
route file: %s (%s)

In another terminal:
  ferry -c %s validate
  ferry -c %s run my_orders --dry-run
  ferry -c %s run my_orders
  ferry -c %s history my_orders --dead

Requests to the mock systems:
`, shopURL, demo.ShopToken, erpURL, demo.ERPUser, demo.ERPPassword, path, note, path, path, path, path)
	<-ctx.Done()
	fmt.Fprintln(out, "stopped")
	return nil
}

// logRequests lists each request h serves: time, system, method, path,
// status and duration.
func logRequests(w io.Writer, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: rw, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		fmt.Fprintf(w, "%s %s %-4s %s -> %d (%s)\n", start.Format("15:04:05"), name, r.Method, r.URL.RequestURI(), sw.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// lockedWriter serializes writes from the mock servers' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// demoNewOrderEvery is how often the shop takes a new order while ferry
// serves the demo, so the scheduled runs have something to carry.
const demoNewOrderEvery = 20 * time.Second

// serveDemoRoutes serves the demo's config (a.configPath) on ln until ctx
// ends, as ferry serve would, and lists what ferry does as it happens.
func (a *app) serveDemoRoutes(ctx context.Context, ln net.Listener, shop *demo.Shop) error {
	out := &lockedWriter{w: a.stdout}
	return a.serve(ctx, serveOptions{listener: ln, ready: func(svc *service.Service, addr string) {
		base := "http://" + addr
		fmt.Fprintf(out, `
ferry serves the demo on %[1]s until Ctrl-C, as 'ferry serve' would.

  Open the dashboard: %[1]s/
  (every route, its runs and queue; the dead letters of orders grouped by
  cause under Errors; press Run now on a route and watch it go through)

  orders and stock run every 30s; the shop takes a new order every %[2]s
  routes    curl %[1]s/api/v1/routes
  run now   curl -X POST %[1]s/api/v1/routes/orders/runs
  runs      curl %[1]s/api/v1/runs
  metrics   curl %[1]s/metrics
  webhook   the shop pushes an order; ferry answers with the ERP's reply:
    curl -X POST %[1]s/hooks/%[3]s \
      -H 'Authorization: Bearer %[4]s' -H 'Content-Type: application/json' \
      -d '%[5]s'
    (with "country": "%[6]s" the ERP refuses it, and the caller hears why)

What ferry does:
`, base, demoNewOrderEvery, demo.HookRoute, demo.HookToken, demoHookBody, demo.RareCountry)
		go demoActivity(ctx, svc, shop, out)
	}})
}

// demoHookBody is an order as the shop would push it.
const demoHookBody = `{"id": 9001, "number": "SO-9001", "email": "ada@example.com", "customer": {"name": "Ada Lovelace", "country": "DE"}, "total": 19.8, "currency": "EUR", "lines": [{"sku": "MUG-001", "qty": 2, "price": 9.9}]}`

// demoActivity adds an order to the shop now and then and prints what
// ferry does (runs ending, pushed orders delivered), until ctx ends.
func demoActivity(ctx context.Context, svc *service.Service, shop *demo.Shop, w io.Writer) {
	sub := svc.Events().Subscribe(256, func(ev events.Event) bool {
		switch ev.Type {
		case events.RunFinished, events.TickSkipped, events.RouteStale, events.RouteFresh:
			return true
		case events.EntrySettled:
			return ev.Route == demo.HookRoute && ev.Attempt != nil && ev.Attempt.Op == ""
		}
		return false
	})
	defer sub.Close()
	tick := time.NewTicker(demoNewOrderEvery)
	defer tick.Stop()
	stamp := func(t time.Time) string { return t.Local().Format("15:04:05") }
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			shop.AddOrders(1)
			fmt.Fprintf(w, "%s shop: a new order, SO-%d\n", stamp(time.Now()), 1000+shop.Len())
		case ev := <-sub.C:
			switch {
			case ev.Type == events.RunFinished && ev.Run != nil:
				r := ev.Run
				fmt.Fprintf(w, "%s %s: run #%d (%s) %s: collected %d, delivered %d, failed %d\n",
					stamp(ev.At), ev.Route, r.ID, r.Trigger, strings.ReplaceAll(string(r.Status), "_", " "), r.Collected, r.Done, r.Failed)
			case ev.Type == events.EntrySettled:
				at := ev.Attempt
				what := string(at.Outcome)
				if at.StatusCode != 0 {
					what += fmt.Sprintf(" (%d)", at.StatusCode)
				}
				if at.Error != "" {
					what += ": " + oneLine(at.Error, 100)
				}
				fmt.Fprintf(w, "%s %s: pushed order %s: %s\n", stamp(ev.At), ev.Route, at.Key, what)
			default:
				fmt.Fprintf(w, "%s %s: %s\n", stamp(ev.At), ev.Route, ev.Message)
			}
		}
	}
}
