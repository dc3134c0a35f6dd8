package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// The overview's throughput charts cover chartHours in chartBuckets bars.
const (
	chartHours   = 6
	chartBuckets = 24
	// overviewRuns caps the runs read for the charts: one query for all
	// routes, newest first.
	overviewRuns = 5000
)

// overviewData is the overview page: every route and the totals.
type overviewData struct {
	Routes    []routeRow
	Attention []routeRow // failing, stale or behind: listed first
	Totals    store.Counts
	Running   int
	Failing   int
	Chart     chart // all routes, delivered and failed per bar
	Hours     int
}

// routeRow is one route of the overview.
type routeRow struct {
	service.RouteState
	Spark    chart
	Problem  string // why the route needs attention ("" when it does not)
	LastRun  *store.Run
	InConfig bool
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	data, err := d.loadOverview(r.Context())
	if err != nil {
		d.serverError(w, r, "read the routes", err)
		return
	}
	d.render(w, r, "overview", "", view{Title: "Overview", Nav: "overview", Data: data})
}

// overviewTable is the routes table alone: the overview refreshes it when
// the event stream says a run started or ended.
func (d *Dashboard) overviewTable(w http.ResponseWriter, r *http.Request) {
	data, err := d.loadOverview(r.Context())
	if err != nil {
		d.serverError(w, r, "read the routes", err)
		return
	}
	d.render(w, r, "overview", "overview-body", view{Data: data})
}

// overviewCache is one reading of the overview, shared by its viewers.
type overviewCache struct {
	mu   sync.Mutex // held while reading afresh: viewers wait for one reading
	data overviewData
	at   time.Time
	gen  uint64         // Dashboard.changes at the reading
	cfg  *config.Config // the config it was read under: a reload reads afresh
	ok   bool
}

// loadOverview returns the overview's data: the shared reading when it is
// younger than OverviewMaxAge and no run started or ended since, else a
// new one.
func (d *Dashboard) loadOverview(ctx context.Context) (overviewData, error) {
	if d.opts.OverviewMaxAge < 0 {
		return d.readOverview(ctx)
	}
	c := &d.overviewCache
	c.mu.Lock()
	defer c.mu.Unlock()
	now, gen, cfg := d.opts.Now(), d.changes.Load(), d.svc.Config()
	if c.ok && c.gen == gen && c.cfg == cfg && now.Sub(c.at) < d.opts.OverviewMaxAge && !now.Before(c.at) {
		return c.data, nil
	}
	data, err := d.readOverview(ctx)
	if err != nil {
		return data, err
	}
	c.data, c.at, c.gen, c.cfg, c.ok = data, now, gen, cfg, true
	return data, nil
}

// readOverview reads every route's state and recent runs.
func (d *Dashboard) readOverview(ctx context.Context) (overviewData, error) {
	// The charts' runs are read beside the routes' states.
	var (
		runs    []store.Run
		runsErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { runs, runsErr = d.svc.Store().ListRuns(ctx, store.RunFilter{Limit: overviewRuns}) })
	states, err := d.svc.Routes(ctx)
	wg.Wait()
	if err != nil {
		return overviewData{}, err
	}
	if runsErr != nil {
		return overviewData{}, fmt.Errorf("read recent runs: %w", runsErr)
	}
	now := d.opts.Now()
	since := now.Add(-chartHours * time.Hour)
	byRoute := map[string][]store.Run{}
	for _, run := range runs {
		if !run.EndedAt.IsZero() && run.EndedAt.Before(since) {
			continue
		}
		byRoute[run.Route] = append(byRoute[run.Route], run)
	}
	data := overviewData{Hours: chartHours}
	all := newBuckets(since, now, chartBuckets)
	for _, st := range states {
		row := routeRow{RouteState: st, LastRun: st.LastRun, InConfig: true}
		b := newBuckets(since, now, chartBuckets)
		for _, run := range byRoute[st.Name] {
			b.addRun(run, now)
			all.addRun(run, now)
		}
		row.Spark = b.spark()
		row.Problem = problemOf(st, now)
		add(&data.Totals, st.Queue)
		switch st.State {
		case service.StateRunning:
			data.Running++
		case service.StateFailing:
			data.Failing++
		}
		data.Routes = append(data.Routes, row)
		if row.Problem != "" {
			data.Attention = append(data.Attention, row)
		}
	}
	data.Chart = all.bars(fmt.Sprintf("Records delivered and failed per %d minutes, last %d hours, all routes", chartHours*60/chartBuckets, chartHours))
	return data, nil
}

// problemOf says in a few words why a route needs attention, "" when it
// does not.
func problemOf(st service.RouteState, now time.Time) string {
	switch {
	case st.LastRun != nil && st.LastRun.Status == store.RunFailed:
		return "last run failed: " + excerpt(120, st.LastRun.Error)
	case st.Queue.Dead > 0 && st.Queue.Error > 0:
		return fmt.Sprintf("%s dead letters, %s records in error", humanNumber(st.Queue.Dead), humanNumber(st.Queue.Error))
	case st.Queue.Dead > 0:
		return humanNumber(st.Queue.Dead) + " dead letters"
	case st.Queue.Error > 0:
		return humanNumber(st.Queue.Error) + " records in error"
	case st.Stale:
		return "stale: no successful run for " + humanDuration(now.Sub(st.LastSuccess))
	case st.Queue.OutboxDead > 0:
		return humanNumber(st.Queue.OutboxDead) + " final operations given up"
	case st.LastRun != nil && st.LastRun.Status == store.RunPartiallyFailed:
		return "last run partially failed"
	case st.LastRun != nil && st.LastRun.Status == store.RunAbandoned:
		return "last run was abandoned (its process died)"
	}
	return ""
}

func add(total *store.Counts, c store.Counts) {
	total.Pending += c.Pending
	total.Error += c.Error
	total.Leased += c.Leased
	total.Dead += c.Dead
	total.Outbox += c.Outbox
	total.OutboxDead += c.OutboxDead
}
