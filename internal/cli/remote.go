package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// ferry run --server: the routes run on a ferry serve, which queues the
// requests behind or beside its own runs by the same rules as schedules
// and the API (one run of a route at a time, workers, priorities); this
// command asks for the runs over the REST API and waits for them.

const (
	// apiTimeout bounds one API call (not the event stream).
	apiTimeout = 30 * time.Second
	// pollEvery is how often the run is also looked up over the API: the
	// events are the fast path, the poll catches what a lost or dropped
	// event stream would miss.
	pollEvery = 2 * time.Second
	// maxAnswer bounds an API answer read into memory.
	maxAnswer = 8 << 20
)

// remoteOptions are ferry run's settings for a run on a server.
type remoteOptions struct {
	server            string
	tokenFile         string
	full, noProgress  bool
	cancelOnInterrupt bool
	// tty: draw a progress bar (one route, on a terminal).
	tty bool
}

// apiClient calls the REST API of one ferry serve.
type apiClient struct {
	base *url.URL
	// token is the bearer API token ("" when none); never printed.
	token string
	// tokenFrom says where the token came from, for messages.
	tokenFrom string
	http      *http.Client
}

// newAPIClient checks the server URL and reads the token: --token-file,
// else FERRY_API_TOKEN. Mistakes are usage errors naming the flag.
func newAPIClient(server, tokenFile string) (*apiClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, withCode(ExitUsage, fmt.Errorf("--server %q: expected the address of a ferry serve, such as http://127.0.0.1:8080", server))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// A token in the URL would show in ps and in messages.
		return nil, withCode(ExitUsage, errors.New("--server: expected scheme://host:port[/prefix] without user, query or fragment; give the API token with --token-file or FERRY_API_TOKEN"))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &apiClient{base: u, http: &http.Client{}}
	switch {
	case tokenFile != "":
		data, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, withCode(ExitUsage, fmt.Errorf("--token-file: %w", err))
		}
		c.token = strings.TrimSpace(string(data))
		if c.token == "" {
			return nil, withCode(ExitUsage, fmt.Errorf("--token-file %s: the file is empty; it should hold one of the server's server.tokens", tokenFile))
		}
		c.tokenFrom = "--token-file " + tokenFile
	case os.Getenv("FERRY_API_TOKEN") != "":
		c.token = strings.TrimSpace(os.Getenv("FERRY_API_TOKEN"))
		c.tokenFrom = "FERRY_API_TOKEN"
	}
	return c, nil
}

// problemError is an error answer of the server: an RFC 9457 problem
// document, shown as "<title>: <detail>".
type problemError struct {
	Status int    `json:"status"`
	Type   string `json:"type"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	hint   string
}

func (e *problemError) Error() string {
	msg := e.Title
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

// exitCode says how a command ends on this problem: what the caller
// asked was wrong (unknown route, bad token, bad parameter) is a usage
// error; the server failing or stopping is a failure.
func (e *problemError) exitCode() int {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return ExitUsage
	}
	return ExitFailed
}

// remoteError gives err its exit code: problems by status, anything else
// (server unreachable, a broken answer) is a failure.
func remoteError(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var pe *problemError
	if errors.As(err, &pe) {
		return withCode(pe.exitCode(), err)
	}
	return withCode(ExitFailed, err)
}

func (c *apiClient) endpoint(path string) string { return c.base.String() + path }

func (c *apiClient) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint(path), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "ferry/"+Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// call sends one API request and decodes a 2xx answer into out (when not
// nil); other answers come back as *problemError.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return c.unreachable(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		return c.problem(req, res)
	}
	if out == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return c.unreachable(ctx, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON of ferry's API (%v); is %s a ferry serve?", method, c.endpoint(path), err, c.base)
	}
	return nil
}

// unreachable explains a failed connection, naming the server.
func (c *apiClient) unreachable(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("cannot reach the ferry server at %s: %w (is ferry serve running there? see --server or FERRY_SERVER)", c.base, err)
}

// problem reads an error answer: the server's problem document, with a
// hint for a refused token; anything else names what answered.
func (c *apiClient) problem(req *http.Request, res *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var p problemError
	if err := json.Unmarshal(data, &p); err != nil || p.Title == "" {
		excerpt := strings.TrimSpace(string(data))
		if len(excerpt) > 200 {
			excerpt = excerpt[:200] + "..."
		}
		return &problemError{Status: res.StatusCode, Title: http.StatusText(res.StatusCode),
			Detail: fmt.Sprintf("%s %s answered %s, not with a ferry problem document (%q); is %s a ferry serve?", req.Method, req.URL.Redacted(), res.Status, excerpt, c.base)}
	}
	p.Status = res.StatusCode
	if p.Status == http.StatusUnauthorized {
		if c.token == "" {
			p.hint = "the server wants an API token: put one of its server.tokens in a file for --token-file, or in FERRY_API_TOKEN"
		} else {
			p.hint = "the token from " + c.tokenFrom + " is not one of the server's server.tokens"
		}
	}
	return &p
}

// The API's answers, as far as this command reads them (see
// internal/server/views.go; runs decode into store.Run, whose JSON
// names are the API's).
type apiRoute struct {
	Name      string     `json:"name"`
	State     string     `json:"state"`
	Priority  int        `json:"priority"`
	DependsOn []string   `json:"depends_on"`
	Running   *store.Run `json:"running"`
	Queue     struct {
		Pending    int `json:"pending"`
		Error      int `json:"error"`
		Leased     int `json:"leased"`
		Dead       int `json:"dead"`
		Outbox     int `json:"outbox"`
		OutboxDead int `json:"outbox_dead"`
	} `json:"queue"`
}

func (r apiRoute) counts() store.Counts {
	q := r.Queue
	return store.Counts{Pending: q.Pending, Error: q.Error, Leased: q.Leased, Dead: q.Dead, Outbox: q.Outbox, OutboxDead: q.OutboxDead}
}

type apiList[T any] struct {
	Items []T `json:"items"`
}

func (c *apiClient) routes(ctx context.Context) ([]apiRoute, error) {
	var l apiList[apiRoute]
	if err := c.call(ctx, http.MethodGet, "/api/v1/routes", nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (c *apiClient) route(ctx context.Context, name string) (apiRoute, error) {
	var r apiRoute
	err := c.call(ctx, http.MethodGet, "/api/v1/routes/"+url.PathEscape(name), nil, &r)
	return r, err
}

// runs lists the newest runs of a route, newest first.
func (c *apiClient) runs(ctx context.Context, route string, limit int) ([]store.Run, error) {
	var l apiList[store.Run]
	q := url.Values{"route": {route}, "limit": {strconv.Itoa(limit)}}
	if err := c.call(ctx, http.MethodGet, "/api/v1/runs?"+q.Encode(), nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (c *apiClient) run(ctx context.Context, id int64) (store.Run, error) {
	var r store.Run
	err := c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/runs/%d", id), nil, &r)
	return r, err
}

func (c *apiClient) startRun(ctx context.Context, route string, full bool) (service.Ticket, error) {
	mode := "incremental"
	if full {
		mode = "full"
	}
	var t service.Ticket
	err := c.call(ctx, http.MethodPost, "/api/v1/routes/"+url.PathEscape(route)+"/runs", map[string]string{"mode": mode}, &t)
	return t, err
}

func (c *apiClient) cancelRun(ctx context.Context, id int64) error {
	return c.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/runs/%d/cancel", id), nil, nil)
}

// events follows the server's event stream of one route. It returns once
// the server answered, so the subscription is in place: nothing that
// happens afterwards is missed (unless the server drops events for a
// slow reader, which it says). The channel closes when the stream ends.
func (c *apiClient) events(ctx context.Context, route string) (<-chan events.Event, error) {
	// The stream has no deadline, the wait for its answer has.
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(apiTimeout, cancel)
	req, err := c.request(sctx, http.MethodGet, "/api/v1/events?"+url.Values{"route": {route}}.Encode(), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.http.Do(req)
	if !timer.Stop() && err == nil {
		err = fmt.Errorf("no answer within %s", apiTimeout)
		res.Body.Close()
	}
	if err != nil {
		cancel()
		return nil, c.unreachable(ctx, err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		return nil, c.problem(req, res)
	}
	ch := make(chan events.Event, 64)
	go func() {
		defer close(ch)
		defer cancel()
		defer res.Body.Close()
		readSSE(sctx, res.Body, ch)
	}()
	return ch, nil
}

// readSSE parses server-sent events into ch until the stream ends. A
// "dropped" notice comes through as an event of that type.
func readSSE(ctx context.Context, r io.Reader, ch chan<- events.Event) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxAnswer) // entry.settled carries request and response excerpts
	var typ string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if typ == "" && data.Len() == 0 {
				continue
			}
			ev := events.Event{Type: events.Type(typ)}
			if typ != "dropped" {
				if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
					ev = events.Event{} // not ours to understand; polling covers it
				}
			}
			typ = ""
			data.Reset()
			if ev.Type == "" {
				continue
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		case strings.HasPrefix(line, ":"): // a comment (": ping")
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
}

// runRemote is ferry run --server. The API starts one route per call,
// so the command keeps the order of a cycle itself: every named route
// whose dependencies (among those named) ended is asked for at once, so
// the server runs them by its rules (side by side when concurrent, one
// after the other otherwise); a route waits until the routes it depends
// on ended, and is skipped when one failed, as in a local run.
func (a *app) runRemote(cmd *cobra.Command, args []string, all bool, o remoteOptions) error {
	ctx := cmd.Context()
	c, err := newAPIClient(o.server, o.tokenFile)
	if err != nil {
		return err
	}
	ordered, err := remoteOrder(ctx, c, args, all)
	if err != nil {
		return remoteError(err)
	}
	// Runs going on side by side share the output: one line (or one
	// summary) at a time, and a bar only for a single route.
	o.tty = len(ordered) == 1 && !o.noProgress && isTerminal(a.stderr)
	out := *a
	out.stdout = &lockedWriter{w: a.stdout}
	out.stderr = out.stdout
	if a.stderr != a.stdout {
		out.stderr = &lockedWriter{w: a.stderr}
	}

	type result struct {
		route   string
		code    int
		readAll bool
		err     error
	}
	results := make(chan result)
	ended, failed, asked := map[string]bool{}, map[string]bool{}, map[string]bool{}
	running, worst, cancelled := 0, ExitOK, false
	var firstErr error
	stop := false // no new requests: interrupted, cancelled or an API error
	for {
		for progress := true; progress && !stop; {
			progress = false
			for _, rt := range ordered {
				if asked[rt.Name] || !depsEnded(rt.DependsOn, ordered, ended) {
					continue
				}
				asked[rt.Name], progress = true, true
				if dep := failedDependency(rt.DependsOn, failed); dep != "" {
					fmt.Fprintf(out.stdout, "%s: skipped, because %s (which it depends on) failed or could not read its whole source\n", rt.Name, dep)
					ended[rt.Name], failed[rt.Name] = true, true
					worst = worse(worst, ExitFailed)
					continue
				}
				running++
				go func(name string) {
					code, readAll, err := out.runRemoteOne(ctx, c, name, o)
					results <- result{name, code, readAll, err}
				}(rt.Name)
			}
		}
		if running == 0 {
			break
		}
		r := <-results
		running--
		ended[r.route] = true
		switch {
		case r.err != nil:
			if firstErr == nil {
				firstErr = r.err
			}
			failed[r.route], stop = true, true
		case r.code == ExitCancelled:
			cancelled, stop = true, true
		default:
			if r.code == ExitFailed || !r.readAll {
				failed[r.route] = true
			}
			worst = worse(worst, r.code)
		}
		if ctx.Err() != nil {
			stop = true
		}
	}
	switch {
	case firstErr != nil:
		return remoteError(firstErr)
	case cancelled || ctx.Err() != nil:
		return withCode(ExitCancelled, errors.New(""))
	case worst != ExitOK:
		return withCode(worst, errors.New(""))
	}
	return nil
}

// depsEnded reports whether every route of deps that is among routes
// has ended.
func depsEnded(deps []string, routes []apiRoute, ended map[string]bool) bool {
	for _, d := range deps {
		for _, r := range routes {
			if r.Name == d && !ended[d] {
				return false
			}
		}
	}
	return true
}

// remoteOrder asks the server for its routes and orders the named ones
// (all of them with --all) by depends_on and priority, as the server's
// config says. A name the server does not know gets the server's own
// answer for it (404 with its message).
func remoteOrder(ctx context.Context, c *apiClient, names []string, all bool) ([]apiRoute, error) {
	list, err := c.routes(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]apiRoute{}
	cfg := &config.Config{Routes: map[string]*config.Route{}}
	for _, r := range list {
		byName[r.Name] = r
		cfg.RouteOrder = append(cfg.RouteOrder, r.Name)
		cfg.Routes[r.Name] = &config.Route{Priority: r.Priority, DependsOn: r.DependsOn}
	}
	if all {
		names = cfg.RouteNames()
	}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			if _, err := c.route(ctx, n); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("route %q is not in the server's list of routes (a reload going on?); try again", n)
		}
	}
	ordered, err := cfg.Order(names)
	if err != nil {
		return nil, fmt.Errorf("the server's routes: %w", err)
	}
	out := make([]apiRoute, len(ordered))
	for i, n := range ordered {
		out[i] = byName[n]
	}
	return out, nil
}

// runRemoteOne asks the server for a run of route, waits for it with
// progress, and prints its summary. It returns the exit code and whether
// the source was surely read to its end; err is for the API failing.
func (a *app) runRemoteOne(ctx context.Context, c *apiClient, route string, o remoteOptions) (code int, readAll bool, err error) {
	// Subscribe first, then see which run is newest, then ask: the run
	// that answers the request starts after both, so neither the stream
	// nor the poll can miss it.
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	evs, err := c.events(evCtx, route)
	var pe *problemError
	if errors.As(err, &pe) && (pe.Status == http.StatusNotFound || pe.Status == http.StatusMethodNotAllowed) {
		// A server (or a proxy in front of it) without the event
		// stream: the poll alone finds the run, only later.
		evs, err = nil, nil
	}
	if err != nil {
		return 0, false, err
	}
	w := &remoteWait{c: c, route: route, mode: "incremental"}
	if o.full {
		w.mode = "full"
	}
	recent, err := c.runs(ctx, route, 1)
	if err != nil {
		return 0, false, err
	}
	if len(recent) > 0 {
		w.base = recent[0].ID
	}
	if w.ticket, err = c.startRun(ctx, route, o.full); err != nil {
		return 0, false, err
	}
	a.sayQueued(ctx, w)

	p := &remoteProgress{w: a.stderr, tty: o.tty}
	run, err := w.wait(ctx, evs, func(id int64) {
		fmt.Fprintf(a.stderr, "%s: run #%d started on %s\n", route, id, c.base)
	}, p.update)
	p.finish()
	if ctx.Err() != nil {
		a.interrupted(ctx, w, o.cancelOnInterrupt)
		return ExitCancelled, false, nil
	}
	if err != nil && w.id != 0 {
		return 0, false, fmt.Errorf("waiting for run #%d of %s: %w", w.id, route, err)
	}
	if err != nil {
		return 0, false, err
	}
	res := engine.Result{Run: run}
	if rt, err := c.route(ctx, route); err == nil {
		res.Queue = rt.counts()
	} else {
		res.StoreError = "the queue's counts could not be read from the server: " + err.Error()
	}
	var summary bytes.Buffer // one write: other routes' lines stay out of it
	printSummary(&summary, res)
	_, _ = a.stdout.Write(summary.Bytes())
	// The API does not say apart a source that broke off from other
	// notes of a partly failed run: its dependents wait, to be safe.
	readAll = !(run.Status == store.RunPartiallyFailed && run.Error != "")
	switch run.Status {
	case store.RunSucceeded:
		return ExitOK, readAll, nil
	case store.RunPartiallyFailed:
		return ExitPartial, readAll, nil
	case store.RunCancelled:
		fmt.Fprintf(a.stderr, "ferry: run #%d of %s was cancelled on the server\n", run.ID, route)
		return ExitCancelled, false, nil
	}
	return ExitFailed, false, nil
}

// sayQueued tells, on stderr, when the request waits: behind a run of
// the route going on, or merged into a request already waiting.
func (a *app) sayQueued(ctx context.Context, w *remoteWait) {
	if w.ticket.State == "merged" {
		fmt.Fprintf(a.stderr, "%s: a request for this route was already waiting on the server; this one joins it (request %d)\n", w.route, w.ticket.Request)
	}
	rt, err := w.c.route(ctx, w.route)
	if err != nil || rt.Running == nil || rt.Running.ID > w.base {
		return
	}
	r := rt.Running
	fmt.Fprintf(a.stderr, "%s: run #%d (%s, started %s) is going on; request %d waits behind it\n",
		w.route, r.ID, r.Trigger, r.StartedAt.Local().Format("15:04:05"), w.ticket.Request)
}

// interrupted ends the wait on Ctrl-C: the run goes on on the server,
// unless --cancel-on-interrupt.
func (a *app) interrupted(ctx context.Context, w *remoteWait, cancelRun bool) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	if cancelRun && w.id == 0 {
		// It may have started in the meantime.
		_, _ = w.poll(bg)
	}
	switch {
	case w.id == 0:
		extra := ""
		if cancelRun {
			extra = " (the API cannot withdraw a request that has not started)"
		}
		fmt.Fprintf(a.stderr, "ferry: interrupted: stopped waiting; request %d for %s stays queued on %s and runs when its turn comes%s\n", w.ticket.Request, w.route, w.c.base, extra)
	case !cancelRun:
		fmt.Fprintf(a.stderr, "ferry: interrupted: stopped waiting; run #%d of %s goes on on %s (--cancel-on-interrupt cancels it)\n", w.id, w.route, w.c.base)
	default:
		err := w.c.cancelRun(bg, w.id)
		var pe *problemError
		switch {
		case err == nil:
			fmt.Fprintf(a.stderr, "ferry: interrupted: run #%d of %s cancelled on %s; its entries go back to the queue\n", w.id, w.route, w.c.base)
		case errors.As(err, &pe) && pe.Status == http.StatusConflict:
			fmt.Fprintf(a.stderr, "ferry: interrupted: run #%d of %s had ended already\n", w.id, w.route)
		default:
			fmt.Fprintf(a.stderr, "ferry: interrupted: cancelling run #%d of %s: %v\n", w.id, w.route, err)
		}
	}
}

// remoteWait finds the run that answers one request and waits for its
// end. The API names the run only once it starts (run.started, without
// the request), so the run is recognised as the first of the route
// newer than base, in the mode asked, started by the API unless the
// request was merged into one already waiting (whose trigger it keeps).
type remoteWait struct {
	c      *apiClient
	route  string
	mode   string
	base   int64 // the newest run of the route before the request
	ticket service.Ticket
	id     int64 // the run, once known
	// failingSince is when polls began to fail to connect (zero: they
	// do not).
	failingSince time.Time
}

func (w *remoteWait) ours(r store.Run) bool {
	return r.Route == w.route && r.ID > w.base && r.Mode == w.mode &&
		(w.ticket.State == "merged" || r.Trigger == "api")
}

// wait follows events (and polls, in case the stream is lost or drops
// events) until the run ends, and returns it as it ended. started is
// called once the run is known, progress as it goes.
func (w *remoteWait) wait(ctx context.Context, evs <-chan events.Event, started func(int64), progress func(engine.Progress)) (store.Run, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var seen *store.Run // the run as an event or the poll shows it
		var phase string
		at := time.Now()
		known := w.id
		select {
		case <-ctx.Done():
			return store.Run{}, ctx.Err()
		case ev, ok := <-evs:
			if !ok {
				evs = nil // the stream ended: polling carries on
				continue
			}
			if ev.Run == nil {
				continue
			}
			if w.id == 0 && ev.Type == events.RunStarted && (ev.Request == w.ticket.Request || ev.Request == 0 && w.ours(*ev.Run)) {
				// The request number names our run exactly; servers
				// that do not send it are matched by route, mode and time.
				w.id = ev.Run.ID
			}
			if w.id == 0 || ev.Run.ID != w.id {
				continue
			}
			seen, phase, at = ev.Run, ev.Phase, ev.At
			if ev.Type == events.RunFinished {
				seen.Status = finalStatus(seen.Status)
			}
		case <-tick.C:
			r, err := w.poll(ctx)
			if err != nil && !w.tolerate(err, at) {
				return store.Run{}, err
			}
			seen = r
		}
		if known == 0 && w.id != 0 {
			started(w.id)
		}
		switch {
		case seen == nil:
		case seen.Status != store.RunRunning:
			return *seen, nil
		case seen.Iterations > 0 || seen.Collected > 0: // the run started: nothing to show yet before
			progress(runProgress(*seen, phase, at))
		}
	}
}

// finalStatus is the status of a run that finished: never "running" (a
// finished event's run that does not say how it ended failed).
func finalStatus(st store.RunStatus) store.RunStatus {
	if st == "" || st == store.RunRunning {
		return store.RunFailed
	}
	return st
}

// tolerate reports whether a failed poll may be retried: a connection
// that fails, or a gateway that answers 502, 503 or 504 (a network blip,
// a proxy restarting), for less than apiTimeout in a row; not another
// answer of the server.
func (w *remoteWait) tolerate(err error, now time.Time) bool {
	var pe *problemError
	if errors.Is(err, errRequestEnded) || (errors.As(err, &pe) && pe.Status != http.StatusBadGateway &&
		pe.Status != http.StatusServiceUnavailable && pe.Status != http.StatusGatewayTimeout) {
		return false
	}
	if w.failingSince.IsZero() {
		w.failingSince = now
	}
	return now.Sub(w.failingSince) < apiTimeout
}

// errRequestEnded: the server ended the request without a run.
var errRequestEnded = errors.New("the server ended the request without a run")

// poll looks the run up over the API: found (and its state) once it
// started, or an error when the server ended the request without a run.
func (w *remoteWait) poll(ctx context.Context) (*store.Run, error) {
	r, err := w.pollOnce(ctx)
	if err == nil {
		w.failingSince = time.Time{}
	}
	return r, err
}

func (w *remoteWait) pollOnce(ctx context.Context) (*store.Run, error) {
	if w.id != 0 {
		r, err := w.c.run(ctx, w.id)
		if err != nil {
			return nil, err
		}
		return &r, nil
	}
	// The route's state first: when it is neither queued nor running,
	// the request is over, and a run it had is in the list read after.
	rt, err := w.c.route(ctx, w.route)
	if err != nil {
		return nil, err
	}
	runs, err := w.c.runs(ctx, w.route, 50)
	if err != nil {
		return nil, err
	}
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		if w.ours(runs[i]) {
			w.id = runs[i].ID
			return &runs[i], nil
		}
	}
	if rt.State != service.StateQueued && rt.State != service.StateRunning {
		return nil, fmt.Errorf("route %q: %w: request %d (another process was running the route, a route it depends on failed, or a reload removed it; see the server's log)", w.route, errRequestEnded, w.ticket.Request)
	}
	return nil, nil
}

// runProgress turns a run's counters into a progress line's figures.
func runProgress(r store.Run, phase string, at time.Time) engine.Progress {
	if phase == "" {
		phase = "running"
	}
	return engine.Progress{
		Route: r.Route, RunID: r.ID, Phase: phase, Iteration: r.Iterations,
		Collected: r.Collected, Sent: r.Sent, Done: r.Done, Failed: r.Failed, Dead: r.Dead,
		Skipped: r.Skipped, Unchanged: r.Unchanged, Pruned: r.Pruned, Elapsed: at.Sub(r.StartedAt),
	}
}

// remoteProgress shows a server run's progress with a local run's lines
// (a redrawn bar on a terminal, a plain line every 2 s otherwise). The
// API does not tell the route's max_iterations: the iteration shows alone.
type remoteProgress struct {
	w         io.Writer
	tty       bool
	drawn     bool
	lastPlain time.Time
}

func (p *remoteProgress) update(pr engine.Progress) {
	line := strings.Replace(progressLine(pr, p.tty), fmt.Sprintf("iter %d/0 ", pr.Iteration), fmt.Sprintf("iter %d ", pr.Iteration), 1)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if time.Since(p.lastPlain) < 2*time.Second {
		return
	}
	p.lastPlain = time.Now()
	fmt.Fprintln(p.w, line)
}

func (p *remoteProgress) finish() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// serverFlags refuses flags that need --server without it, and --dry-run
// with it (a dry run reads the source here and sends nothing: there is
// nothing for a server to do).
func serverFlags(cmd *cobra.Command, server string, dryRun bool) error {
	if server == "" {
		for _, name := range []string{"token-file", "cancel-on-interrupt"} {
			if cmd.Flags().Changed(name) {
				return withCode(ExitUsage, fmt.Errorf("--%s only applies with --server (or FERRY_SERVER)", name))
			}
		}
		return nil
	}
	if dryRun {
		msg := "--dry-run runs here, reading the source with the local config: it cannot be combined with --server"
		if !cmd.Flags().Changed("server") {
			msg += " (FERRY_SERVER is set; --server \"\" runs here)"
		}
		return withCode(ExitUsage, errors.New(msg))
	}
	if cmd.Flags().Changed("token-file") && cmd.Flags().Lookup("token-file").Value.String() == "" {
		return withCode(ExitUsage, errors.New("--token-file \"\": expected the path of a file holding the API token"))
	}
	return nil
}
