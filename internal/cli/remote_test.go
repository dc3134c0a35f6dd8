package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

const remoteToken = "api-token-remote-unit"

// remoteWorld is a shop and an ERP on loopback and a ferry serve for
// them (API token remoteToken): customers, and orders that depend on
// customers. The ERP answers 503 for rejected keys and, while held,
// keeps every request waiting.
type remoteWorld struct {
	cfg       string
	srv       *servedApp
	url       string
	tokenFile string

	mu      sync.Mutex
	reject  map[string]bool
	hold    chan struct{} // non-nil: requests wait until it is closed
	arrived chan struct{} // a request reached the held ERP
	held    map[string]bool
}

func newRemoteWorld(t *testing.T) *remoteWorld {
	t.Helper()
	return newRemoteWorldWith(t, "warn", "")
}

// newRemoteWorldWith is newRemoteWorld with the server's log level and
// more routes (YAML under routes:).
func newRemoteWorldWith(t *testing.T, level, routes string) *remoteWorld {
	t.Helper()
	// The machine's environment must not choose the server or the token.
	t.Setenv("FERRY_SERVER", "")
	t.Setenv("FERRY_API_TOKEN", "")
	w := &remoteWorld{reject: map[string]bool{}, arrived: make(chan struct{}, 1), held: map[string]bool{}}
	shop := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var data []map[string]any
		for i := 1; i <= 3; i++ {
			data = append(data, map[string]any{"id": i, "name": fmt.Sprintf("%s %d", r.URL.Path, i)})
		}
		json.NewEncoder(rw).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(shop.Close)
	erp := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		hold, reject := w.hold, w.reject[strings.TrimPrefix(r.URL.Path, "/customers/")]
		if hold != nil {
			w.held[strings.Split(r.URL.Path, "/")[1]] = true
		}
		w.mu.Unlock()
		if hold != nil {
			select {
			case w.arrived <- struct{}{}:
			default:
			}
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		if reject {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(erp.Close)
	t.Cleanup(w.release) // before the ERP closes: it waits for held requests

	dir := t.TempDir()
	cfg := filepath.Join(dir, "ferry.yaml")
	yaml := fmt.Sprintf(`
store: %q
server: { tokens: [%q] }
systems:
  shop: { url: %q }
  erp: { url: %q }
routes:
  customers:
    source:
      http: { system: shop, path: /customers, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/customers/${key}" }
    retry: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
  orders:
    depends_on: [customers]
    source:
      http: { system: shop, path: /orders, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
%s`, filepath.Join(dir, "ferry.db"), remoteToken, shop.URL, erp.URL, routes)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	w.tokenFile = writeFile(t, "token", remoteToken+"\n")
	w.cfg = cfg
	w.srv = startServeLog(t, cfg, level)
	w.url = "http://" + w.srv.addr
	return w
}

// startServeLog is startServeApp on 127.0.0.1:0 with a log level.
func startServeLog(t *testing.T, cfg, level string) *servedApp {
	t.Helper()
	s := &servedApp{out: &syncBuffer{}, sigs: make(chan os.Signal, 2), done: make(chan error, 1)}
	ready := make(chan string, 1)
	a := &app{stdout: s.out, stderr: s.out, configPath: cfg, logLevel: level, logFormat: "text"}
	go func() {
		s.done <- a.serve(context.Background(), serveOptions{listen: "127.0.0.1:0", signals: s.sigs, ready: func(_ *service.Service, addr string) { ready <- addr }})
	}()
	select {
	case s.addr = <-ready:
	case err := <-s.done:
		t.Fatalf("serve ended before listening: %v\n%s", err, s.out)
	}
	t.Cleanup(func() {
		s.sigs <- syscall.SIGTERM
		<-s.done
	})
	return s
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// holdERP makes the ERP keep requests waiting until release.
func (w *remoteWorld) holdERP() {
	w.mu.Lock()
	w.hold = make(chan struct{})
	w.mu.Unlock()
}

func (w *remoteWorld) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hold != nil {
		close(w.hold)
		w.hold = nil
	}
}

// args is a ferry run against the world's server with its token.
func (w *remoteWorld) args(extra ...string) []string {
	return append([]string{"run", "--server", w.url, "--token-file", w.tokenFile}, extra...)
}

// apiRun reads a run over the API.
func (w *remoteWorld) apiRun(t *testing.T, id int64) store.Run {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/runs/%d", w.url, id), nil)
	req.Header.Set("Authorization", "Bearer "+remoteToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r store.Run
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// cliRun is ferry running in a goroutine with a context the test may
// cancel (as Ctrl-C does), its output readable while it runs.
type cliRun struct {
	out, errOut *syncBuffer
	done        chan int
}

func startCLI(ctx context.Context, args ...string) *cliRun {
	c := &cliRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	go func() {
		a := &app{stdin: strings.NewReader(""), stdout: c.out, stderr: c.errOut}
		root := a.rootCommand()
		root.SetArgs(args)
		root.SetOut(c.out)
		root.SetErr(c.errOut)
		err := root.ExecuteContext(ctx)
		if err != nil && err.Error() != "" {
			fmt.Fprintln(c.errOut, "ferry:", err)
		}
		c.done <- cliExitCode(ctx, err)
	}()
	return c
}

// cliExitCode maps a command's error to its exit code as Main does.
func cliExitCode(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case ctx.Err() != nil:
		return ExitCancelled
	case errors.As(err, &ee):
		return ee.code
	}
	return ExitUsage
}

func (c *cliRun) wait(t *testing.T) int {
	t.Helper()
	code := <-c.done
	t.Logf("exit %d\nstdout:\n%s\nstderr:\n%s", code, c.out, c.errOut)
	return code
}

var summaryRun = regexp.MustCompile(`(?m)^(\w+): [a-z ]+ in \S+ \(run #(\d+), (incremental|full),`)

// ferry run --server runs the routes on the server, dependencies first,
// and prints a local run's summary with the local exit codes.
func TestRunServer(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		reject string
		code   int
		want   []string // summary lines' route, run and mode, in order
		more   []string
	}{
		{"one route", []string{"customers"}, "", ExitOK, []string{"customers #1 incremental"},
			[]string{"customers: succeeded", "collected 3   delivered 3", "queue now: 0 pending, 0 error, 0 dead letters"}},
		{"full", []string{"customers", "--full"}, "", ExitOK, []string{"customers #1 full"}, nil},
		{"dependencies first", []string{"orders", "customers"}, "", ExitOK, []string{"customers #1 incremental", "orders #2 incremental"}, nil},
		{"all", []string{"--all"}, "", ExitOK, []string{"customers #1 incremental", "orders #2 incremental"}, nil},
		{"records failed", []string{"customers"}, "2", ExitPartial, []string{"customers #1 incremental"},
			[]string{"customers: partially failed", "delivered 2", "dead 1", "ferry history customers --dead"}},
		{"a failed dependency skips", []string{"--all"}, "1 2 3", ExitFailed, []string{"customers #1 incremental"},
			[]string{"customers: failed", "orders: skipped, because customers (which it depends on) failed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newRemoteWorld(t)
			for _, k := range strings.Fields(c.reject) {
				w.reject[k] = true
			}
			code, out, errOut := ferry(t, w.args(c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			var got []string
			for _, m := range summaryRun.FindAllStringSubmatch(out, -1) {
				got = append(got, fmt.Sprintf("%s #%s %s", m[1], m[2], m[3]))
			}
			if strings.Join(got, "; ") != strings.Join(c.want, "; ") {
				t.Errorf("summaries %q, want %q:\n%s", got, c.want, out)
			}
			for _, s := range c.more {
				if !strings.Contains(out, s) {
					t.Errorf("the output lacks %q:\n%s", s, out)
				}
			}
			if strings.Contains(out+errOut, remoteToken) {
				t.Errorf("the token was printed")
			}
		})
	}
}

// A route already running on the server: the request queues behind its
// run, and the command waits for its own run, not the one going on.
func TestRunServerWaitsBehindRunningRun(t *testing.T) {
	w := newRemoteWorld(t)
	w.holdERP()
	first := startCLI(context.Background(), w.args("customers")...)
	<-w.arrived // run #1 is sending
	second := startCLI(context.Background(), w.args("customers")...)
	waitFor(t, "the second request to queue", func() bool {
		return strings.Contains(second.errOut.String(), "customers: run #1 (api, started")
	})
	if !strings.Contains(second.errOut.String(), "waits behind it") {
		t.Fatalf("no waiting notice:\n%s", second.errOut)
	}
	w.release()
	if code := first.wait(t); code != ExitOK || !strings.Contains(first.out.String(), "(run #1, ") {
		t.Fatalf("first: exit %d:\n%s", code, first.out)
	}
	if code := second.wait(t); code != ExitOK || !strings.Contains(second.out.String(), "(run #2, ") {
		t.Fatalf("second: exit %d, want its own run #2:\n%s", code, second.out)
	}
	if !strings.Contains(second.errOut.String(), "customers: run #2 started on "+w.url) {
		t.Errorf("the second command did not name its run:\n%s", second.errOut)
	}
}

// Ctrl-C stops waiting (exit 130); the run goes on on the server unless
// --cancel-on-interrupt, which cancels it.
func TestRunServerInterrupt(t *testing.T) {
	for _, c := range []struct {
		name   string
		flags  []string
		say    string
		status store.RunStatus // the run's status once the ERP answers
	}{
		{"the run goes on", nil, "run #1 of customers goes on on", store.RunSucceeded},
		{"--cancel-on-interrupt", []string{"--cancel-on-interrupt"}, "run #1 of customers cancelled on", store.RunCancelled},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newRemoteWorld(t)
			w.holdERP()
			ctx, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			run := startCLI(ctx, w.args(append([]string{"customers"}, c.flags...)...)...)
			waitFor(t, "the run to start", func() bool { return strings.Contains(run.errOut.String(), "customers: run #1 started") })
			interrupt()
			if code := run.wait(t); code != ExitCancelled {
				t.Fatalf("exit %d, want %d", code, ExitCancelled)
			}
			if !strings.Contains(run.errOut.String(), c.say) {
				t.Errorf("stderr lacks %q:\n%s", c.say, run.errOut)
			}
			if c.status == store.RunSucceeded {
				if st := w.apiRun(t, 1).Status; st != store.RunRunning {
					t.Errorf("after the interrupt the run is %s, want running", st)
				}
			}
			w.release()
			waitFor(t, "the run to end", func() bool { return w.apiRun(t, 1).Status != store.RunRunning })
			if st := w.apiRun(t, 1).Status; st != c.status {
				t.Errorf("the run ended %s, want %s", st, c.status)
			}
		})
	}
}

// Mistakes end with exit 2 and a message saying what is wrong (the
// server's problem documents as "title: detail"); a server that does not
// answer with exit 1, naming its URL.
func TestRunServerErrors(t *testing.T) {
	w := newRemoteWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	notFerry := httptest.NewServer(http.NotFoundHandler())
	defer notFerry.Close()
	wrong := writeFile(t, "wrong", "not-the-token")
	empty := writeFile(t, "empty", "\n")

	for _, c := range []struct {
		name string
		env  string // FERRY_SERVER
		args []string
		code int
		want string
	}{
		{"unknown route", "", w.args("nosuch"), ExitUsage, `ferry: Not Found: route "nosuch": unknown route`},
		{"no token", "", []string{"run", "customers", "--server", w.url}, ExitUsage,
			"ferry: Unauthorized: a valid API token is required"},
		{"no token hint", "", []string{"run", "customers", "--server", w.url}, ExitUsage, "put one of its server.tokens in a file for --token-file, or in FERRY_API_TOKEN"},
		{"wrong token", "", []string{"run", "customers", "--server", w.url, "--token-file", wrong}, ExitUsage,
			"(the token from --token-file " + wrong + " is not one of the server's server.tokens)"},
		{"empty token file", "", []string{"run", "customers", "--server", w.url, "--token-file", empty}, ExitUsage, "the file is empty"},
		{"server down", "", []string{"run", "customers", "--server", down}, ExitFailed, "cannot reach the ferry server at " + down},
		{"not a ferry server", "", []string{"run", "customers", "--server", notFerry.URL}, ExitUsage, "not with a ferry problem document"},
		{"no scheme", "", []string{"run", "customers", "--server", "127.0.0.1:8080"}, ExitUsage, "expected the address of a ferry serve"},
		{"user in the URL", "", []string{"run", "customers", "--server", "http://me:secret@127.0.0.1:8080"}, ExitUsage, "without user, query or fragment"},
		{"dry run", "", w.args("customers", "--dry-run"), ExitUsage, "--dry-run runs here, reading the source with the local config: it cannot be combined with --server"},
		{"dry run, env", w.url, []string{"run", "customers", "--dry-run"}, ExitUsage, `FERRY_SERVER is set; --server "" runs here`},
		{"token file alone", "", []string{"run", "customers", "--token-file", wrong}, ExitUsage, "--token-file only applies with --server"},
		{"cancel alone", "", []string{"run", "customers", "--cancel-on-interrupt"}, ExitUsage, "--cancel-on-interrupt only applies with --server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("FERRY_SERVER", c.env)
			code, out, errOut := ferry(t, c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
			if strings.Contains(out+errOut, "secret") || strings.Contains(out+errOut, remoteToken) {
				t.Errorf("a secret was printed:\n%s%s", out, errOut)
			}
		})
	}
}

// FERRY_SERVER and FERRY_API_TOKEN do what the flags do.
func TestRunServerFromEnv(t *testing.T) {
	w := newRemoteWorld(t)
	t.Setenv("FERRY_SERVER", w.url)
	t.Setenv("FERRY_API_TOKEN", remoteToken)
	code, out, errOut := ferry(t, "run", "customers")
	if code != ExitOK || !strings.Contains(out, "customers: succeeded") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
}

// Without the event stream (a proxy that does not pass it, say), the
// command finds its run and its end by polling the API.
func TestRunServerWithoutEvents(t *testing.T) {
	w := newRemoteWorld(t)
	target, _ := url.Parse(w.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/events" {
			http.NotFound(rw, r)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	defer front.Close()
	code, out, errOut := ferry(t, "run", "customers", "--server", front.URL, "--token-file", w.tokenFile)
	if code != ExitOK || !strings.Contains(out, "customers: succeeded") || !strings.Contains(out, "(run #1, ") ||
		!strings.Contains(errOut, "customers: run #1 started on "+front.URL) {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
}

// A request the server drops without a run (the route was being run by
// another process) ends the command with exit 1 and says so, rather
// than waiting for ever.
func TestRunServerRequestDropped(t *testing.T) {
	w := newRemoteWorldWith(t, "info", "")
	w.holdERP()
	local := startCLI(context.Background(), "-c", w.cfg, "run", "customers")
	<-w.arrived // the local run holds the route
	remote := startCLI(context.Background(), w.args("customers")...)
	waitFor(t, "the server to drop the request", func() bool {
		return strings.Contains(w.srv.out.String(), "request dropped")
	})
	w.release()
	if code := local.wait(t); code != ExitOK {
		t.Fatalf("the local run: exit %d", code)
	}
	if code := remote.wait(t); code != ExitFailed || !strings.Contains(remote.errOut.String(), "the server ended the request without a run: request 1 (another process") {
		t.Fatalf("remote: exit %d, want %d with the reason", code, ExitFailed)
	}
}

// A gateway that fails for a moment while the command waits (a proxy
// restarting) does not end the wait.
func TestRunServerOutlivesAGatewayBlip(t *testing.T) {
	w := newRemoteWorld(t)
	target, _ := url.Parse(w.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var down atomic.Bool
	var refused atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			refused.Add(1)
			http.Error(rw, "<html>502 Bad Gateway</html>", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	defer front.Close()
	defer front.CloseClientConnections() // the event stream it passes on
	w.holdERP()
	run := startCLI(context.Background(), "run", "customers", "--server", front.URL, "--token-file", w.tokenFile)
	waitFor(t, "the run to start", func() bool { return strings.Contains(run.errOut.String(), "customers: run #1 started") })
	down.Store(true)
	front.CloseClientConnections() // the event stream breaks too
	waitFor(t, "a refused poll", func() bool { return refused.Load() > 0 })
	down.Store(false)
	w.release()
	if code := run.wait(t); code != ExitOK || !strings.Contains(run.out.String(), "customers: succeeded") {
		t.Fatalf("exit %d", code)
	}
}

// heldRoutes returns how many routes' requests the held ERP keeps.
func (w *remoteWorld) heldRoutes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// Routes named together that may run side by side (concurrent: true)
// are asked for at once, and the server runs them alongside.
func TestRunServerConcurrentRoutes(t *testing.T) {
	w := newRemoteWorldWith(t, "warn", `
  stock:
    concurrent: true
    source:
      http: { system: shop, path: /stock, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/stock/${key}" }
  prices:
    concurrent: true
    source:
      http: { system: shop, path: /prices, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/prices/${key}" }
`)
	w.holdERP()
	run := startCLI(context.Background(), w.args("stock", "prices")...)
	waitFor(t, "both routes at the ERP at once", func() bool { return w.heldRoutes() == 2 })
	w.release()
	if code := run.wait(t); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"stock: succeeded", "prices: succeeded", "collected 3   delivered 3"} {
		if !strings.Contains(run.out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
}

// The run answering a request: the route's first run newer than the
// request, in the mode asked, started by the API unless the request
// joined one already waiting (whose trigger the run keeps).
func TestRemoteWaitRecognisesItsRun(t *testing.T) {
	run := func(id int64, route, mode, trigger string) store.Run {
		return store.Run{ID: id, Route: route, Mode: mode, Trigger: trigger}
	}
	for _, c := range []struct {
		name  string
		state string // the ticket's
		run   store.Run
		ours  bool
	}{
		{"api run after the request", "queued", run(8, "orders", "incremental", "api"), true},
		{"the run going on before", "queued", run(7, "orders", "incremental", "api"), false},
		{"another route", "queued", run(8, "stock", "incremental", "api"), false},
		{"another mode", "queued", run(8, "orders", "full", "api"), false},
		{"a scheduled run", "queued", run(8, "orders", "incremental", "schedule"), false},
		{"merged into a scheduled request", "merged", run(8, "orders", "incremental", "schedule"), true},
		{"merged, another mode", "merged", run(8, "orders", "full", "schedule"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &remoteWait{route: "orders", mode: "incremental", base: 7}
			w.ticket.State = c.state
			if got := w.ours(c.run); got != c.ours {
				t.Errorf("ours(%+v) = %v, want %v", c.run, got, c.ours)
			}
		})
	}
}

// Server-sent events: comments skipped, data lines joined, a dropped
// notice passed on, what cannot be read left to the poll.
func TestReadSSE(t *testing.T) {
	stream := ": ferry events\n\n" +
		"event: run.started\ndata: {\"type\":\"run.started\",\"route\":\"orders\",\"run_id\":8,\n" +
		"data: \"run\":{\"id\":8,\"route\":\"orders\",\"status\":\"running\"}}\n\n" +
		": ping\n\n" +
		"event: dropped\ndata: {\"dropped\": 3}\n\n" +
		"event: run.progress\ndata: {not json\n\n" +
		"event: run.finished\ndata: {\"type\":\"run.finished\",\"route\":\"orders\",\"run_id\":8,\"run\":{\"id\":8,\"status\":\"succeeded\"}}\n\n"
	ch := make(chan events.Event, 10)
	readSSE(context.Background(), strings.NewReader(stream), ch)
	close(ch)
	var got []string
	for ev := range ch {
		s := string(ev.Type)
		if ev.Run != nil {
			s += fmt.Sprintf(" #%d %s", ev.Run.ID, ev.Run.Status)
		}
		got = append(got, s)
	}
	want := []string{"run.started #8 running", "dropped", "run.finished #8 succeeded"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("events %q, want %q", got, want)
	}
}
