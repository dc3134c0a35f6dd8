package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

const (
	// routeRuns is how many rows the route page's runs table has; runs
	// that had nothing to do are folded, so up to readRuns are read.
	routeRuns = 20
	readRuns  = 200
	// chartAttempts caps the attempts read for the per-minute charts
	// (the newest ones, through the route's index).
	chartAttempts = 10000
	chartMinutes  = 60
)

// routeData is the route page.
type routeData struct {
	Name     string
	State    service.RouteState
	InConfig bool
	Summary  []fact // the config, in a few lines
	Live     liveData
	Runs     []runRow
	Chart    chart
	Capped   bool // the chart shows the newest chartAttempts attempts only
}

// fact is one line of the config summary.
type fact struct{ Name, Value string }

// liveData is the live progress block: the running run, else the last.
type liveData struct {
	Route         string
	Run           *store.Run
	Running       bool
	Phase         string
	MaxIterations int
	Queue         store.Counts
	// State is the route's state; StateOOB sends it out of band to the
	// page's heading (event-stream updates only: the page has its own).
	State    string
	StateOOB bool
}

func (d *Dashboard) routePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	data, ok := d.loadRoute(w, r, name)
	if !ok {
		return
	}
	d.render(w, r, "route", "", view{Title: name, Nav: "overview", Data: data})
}

// routeLive renders one part of the route page for htmx: ?part=runs (the
// runs table) or live (the progress block, the default).
func (d *Dashboard) routeLive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	data, ok := d.loadRoute(w, r, name)
	if !ok {
		return
	}
	block := "route-live"
	switch r.URL.Query().Get("part") {
	case "runs":
		block = "route-runs"
	case "chart":
		block = "route-chart"
	}
	d.render(w, r, "route", block, view{Data: data})
}

// loadRoute reads what the route page shows. A route no longer in the
// config still shows its runs and queue (read-only); a name nothing
// knows is a 404.
func (d *Dashboard) loadRoute(w http.ResponseWriter, r *http.Request, name string) (routeData, bool) {
	ctx := r.Context()
	cfg := d.svc.Config()
	data := routeData{Name: name, InConfig: cfg.Routes[name] != nil}
	st, err := d.svc.Route(ctx, name)
	switch {
	case err == nil:
		data.State = st
	case errors.Is(err, service.ErrUnknownRoute):
		st, found, err := d.removedRoute(ctx, name)
		if err != nil {
			d.serverError(w, r, "read route "+name, err)
			return data, false
		}
		if !found {
			d.fail(w, r, http.StatusNotFound, "No such route", fmt.Sprintf("No route %q in the config, and the store has nothing of it.", name))
			return data, false
		}
		data.State = st
	default:
		d.serverError(w, r, "read route "+name, err)
		return data, false
	}
	if rc := cfg.Routes[name]; rc != nil {
		data.Summary = summarize(cfg, rc)
	}
	data.Live = liveData{Route: name, Run: data.State.Running, Running: data.State.Running != nil, Queue: data.State.Queue, MaxIterations: maxIterations(cfg, name)}
	if data.Live.Run == nil {
		data.Live.Run = data.State.LastRun
	}
	if data.Runs, err = d.runRows(ctx, name); err != nil {
		d.serverError(w, r, "read the runs of "+name, err)
		return data, false
	}
	if data.Chart, data.Capped, err = d.minuteChart(ctx, name); err != nil {
		d.serverError(w, r, "read the attempts of "+name, err)
		return data, false
	}
	return data, true
}

// removedRoute is the state of a route the config no longer has, from
// what the store still holds of it.
func (d *Dashboard) removedRoute(ctx context.Context, name string) (service.RouteState, bool, error) {
	st := service.RouteState{Name: name, State: "removed"}
	var err error
	if st.Queue, err = d.svc.Store().Counts(ctx, name); err != nil {
		return st, false, err
	}
	runs, err := d.svc.Store().ListRuns(ctx, store.RunFilter{Route: name, Limit: 1})
	if err != nil {
		return st, false, err
	}
	if len(runs) > 0 {
		st.LastRun = &runs[0]
	}
	q := st.Queue
	found := len(runs) > 0 || q.Pending+q.Error+q.Leased+q.Dead+q.Outbox+q.OutboxDead > 0
	return st, found, nil
}

func maxIterations(cfg *config.Config, name string) int {
	if rc := cfg.Routes[name]; rc != nil && rc.MaxIterations > 0 {
		return rc.MaxIterations
	}
	return 20
}

// minuteChart counts the route's delivered and failed attempts per minute
// over the last hour, from its newest attempts.
func (d *Dashboard) minuteChart(ctx context.Context, name string) (chart, bool, error) {
	now := d.opts.Now()
	from := now.Add(-chartMinutes * time.Minute).Truncate(time.Minute).Add(time.Minute)
	b := newBuckets(from, from.Add(chartMinutes*time.Minute), chartMinutes)
	attempts, err := d.svc.Store().RecentAttempts(ctx, name, chartAttempts)
	if err != nil {
		return chart{}, false, err
	}
	for _, a := range attempts {
		switch a.Outcome {
		case store.OutcomeDone:
			b.addAttempt(a.At, true)
		case store.OutcomeRetry, store.OutcomeDead:
			if a.Op == "" {
				b.addAttempt(a.At, false)
			}
		}
	}
	capped := len(attempts) == chartAttempts && attempts[len(attempts)-1].At.After(from)
	return b.bars("Records delivered and failed per minute, last hour"), capped, nil
}

// summarize describes the route's config in a few lines: kinds, systems,
// paths and tables, never option values that could be secrets (the
// config's redactor blanks any secret value that is part of a shown one).
func summarize(cfg *config.Config, rc *config.Route) []fact {
	red := cfg.Redactor()
	var out []fact
	addFact := func(name, value string) {
		if value != "" {
			out = append(out, fact{name, red.String(value)})
		}
	}
	if rc.Description != "" {
		addFact("Description", rc.Description)
	}
	switch {
	case rc.Webhook != nil:
		addFact("Source", "webhook POST /hooks/"+rc.Name+" (key "+rc.Webhook.Key+", respond "+orDefault(rc.Webhook.Respond, "async")+")")
	case rc.Source.Kind != "":
		addFact("Source", partSummary(rc.Source.Kind, rc.Source.Config))
	}
	if len(rc.Steps) > 0 {
		addFact("Steps", stepsSummary(rc.Steps))
	}
	names := make([]string, 0, len(rc.Destinations))
	for n := range rc.Destinations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		dst := rc.Destinations[n]
		label := "Destination"
		if len(names) > 1 {
			label = "Destination " + n
		}
		addFact(label, partSummary(dst.Kind, dst.Config))
	}
	if sched, ok := rc.Trigger(); ok {
		s := sched.String()
		if rc.Timezone != "" {
			s += " (" + rc.Timezone + ")"
		}
		addFact("Schedule", s)
	} else if rc.Webhook == nil {
		addFact("Schedule", "none: runs when asked (Run now, the API or ferry run)")
	}
	addFact("Priority", strconv.Itoa(rc.Priority))
	if len(rc.DependsOn) > 0 {
		addFact("Depends on", strings.Join(rc.DependsOn, ", "))
	}
	if rc.Batch > 0 {
		addFact("Batch", strconv.Itoa(rc.Batch)+" records per request")
	}
	if rc.Retry.Attempts > 0 {
		addFact("Retry", fmt.Sprintf("%d attempts, backoff %s", rc.Retry.Attempts, humanDuration(rc.Retry.Backoff.D())))
	}
	if len(rc.After) > 0 {
		addFact("Final operations", fmt.Sprintf("%d after each delivered record", len(rc.After)))
	}
	if len(rc.OnError) > 0 {
		addFact("On error", fmt.Sprintf("%d for each dead letter", len(rc.OnError)))
	}
	return out
}

// partSummary is "http · system sys · POST /dst/orders": the kind and the
// options that say where, read from the kind's config as JSON.
func partSummary(kind string, conf any) string {
	parts := []string{kind}
	m := partOptions(conf)
	for _, k := range []string{"system", "method", "path", "table", "query", "dir", "name", "format", "queue", "exchange", "subject", "topic", "glob"} {
		v, ok := m[k]
		if !ok || v == nil || v == "" {
			continue
		}
		parts = append(parts, k+" "+excerpt(80, summaryValue(v)))
	}
	return strings.Join(parts, " · ")
}

// partOptions is a connector kind's config as its YAML options (nil when
// it does not encode).
func partOptions(conf any) map[string]any {
	b, err := json.Marshal(conf)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func stepsSummary(steps []config.Step) string {
	kinds := make([]string, 0, len(steps))
	for _, s := range steps {
		switch {
		case s.Filter != "":
			kinds = append(kinds, "filter")
		case s.Map != nil:
			kinds = append(kinds, "map")
		case s.Set != nil:
			kinds = append(kinds, "set")
		case s.Drop != nil:
			kinds = append(kinds, "drop")
		case s.Validate != nil:
			kinds = append(kinds, "validate")
		case s.Switch != nil:
			kinds = append(kinds, "switch")
		default:
			kinds = append(kinds, "step")
		}
	}
	return strings.Join(kinds, " → ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runNow asks for a run of the route: incremental, or full with mode=full.
func (d *Dashboard) runNow(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("route")
	if d.svc.Config().Routes[name] == nil {
		d.fail(w, r, http.StatusNotFound, "No such route", fmt.Sprintf("Route %q is not in the config: it cannot run.", name))
		return
	}
	full := r.FormValue("mode") == "full"
	tickets, err := d.svc.Trigger(r.Context(), service.StartRequest{Routes: []string{name}, Full: full, Trigger: "dashboard"})
	if err != nil {
		d.serverError(w, r, "start a run of "+name, err)
		return
	}
	mode := "An incremental"
	if full {
		mode = "A full"
	}
	msg := fmt.Sprintf("%s run of %s was asked for.", mode, name)
	for _, t := range tickets {
		if t.State == "merged" {
			msg = fmt.Sprintf("A run of %s was already waiting; this request joined it.", name)
		}
	}
	d.flash(w, r, "/routes/"+url.PathEscape(name), msg)
}

// cancelRun cancels a running run.
func (d *Dashboard) cancelRun(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		d.fail(w, r, http.StatusNotFound, "No such run", "Run ids are positive numbers.")
		return
	}
	run, err := d.svc.Store().GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "No such run", fmt.Sprintf("There is no run %d.", id))
		return
	}
	if err != nil {
		d.serverError(w, r, fmt.Sprintf("read run %d", id), err)
		return
	}
	if err := d.svc.Cancel(r.Context(), id); err != nil {
		d.fail(w, r, http.StatusConflict, "Not cancelled", fmt.Sprintf("Run %d could not be cancelled: %v", id, err))
		return
	}
	d.flash(w, r, "/routes/"+url.PathEscape(run.Route), fmt.Sprintf("Run %d of %s is being cancelled: its in-flight requests finish and their answers are kept.", id, run.Route))
}

// flash answers an action: htmx requests get the message in the flash
// area; a plain form post is redirected to back, which shows the message
// once (a short-lived cookie, so no link can carry a made-up message).
func (d *Dashboard) flash(w http.ResponseWriter, r *http.Request, back, msg string) {
	if isHTMX(r) {
		w.Header().Set("HX-Retarget", "#flash")
		w.Header().Set("HX-Reswap", "innerHTML")
		d.render(w, r, "error", "flash-ok", view{Flash: msg})
		return
	}
	setFlash(w, msg)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// summaryValue writes an option's value as a person reads it: a map as
// "name=value, ...", sorted, rather than Go's map[...] form.
func summaryValue(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+fmt.Sprint(m[k]))
	}
	return strings.Join(parts, ", ")
}

// runRow is one row of the runs table: a run, or Idle runs in a row that
// succeeded with nothing to do (a route scheduled every 30 s has 120 of
// those an hour; the night's failures must not drown in them).
type runRow struct {
	store.Run
	Idle     int       // > 0: this row stands for that many idle runs
	IdleFrom time.Time // when the oldest of them started
}

// runRows reads the route's newest runs and folds the idle ones.
func (d *Dashboard) runRows(ctx context.Context, route string) ([]runRow, error) {
	runs, err := d.svc.Store().ListRuns(ctx, store.RunFilter{Route: route, Limit: readRuns})
	if err != nil {
		return nil, err
	}
	return foldIdleRuns(runs, routeRuns), nil
}

// foldIdleRuns turns runs (newest first) into at most n rows, each run of
// consecutive idle runs one row.
func foldIdleRuns(runs []store.Run, n int) []runRow {
	var rows []runRow
	for _, run := range runs {
		idle := run.Status == store.RunSucceeded && run.Collected == 0 && run.Sent == 0 && run.Skipped == 0 && run.Pruned == 0
		if idle && len(rows) > 0 && rows[len(rows)-1].Idle > 0 {
			last := &rows[len(rows)-1]
			last.Idle++
			last.IdleFrom = run.StartedAt
			continue
		}
		if len(rows) == n {
			break
		}
		row := runRow{Run: run}
		if idle {
			row.Idle, row.IdleFrom = 1, run.StartedAt
		}
		rows = append(rows, row)
	}
	return rows
}
