package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

const (
	// liveEvery is the most often a page is told of progress: the bus
	// may report a run many times a second.
	liveEvery = 250 * time.Millisecond
	// countsEvery is the most often the live block re-reads the queue
	// counts (a count reads an index; progress events are cheap).
	countsEvery = 2 * time.Second
	// overviewEvery is the most often the overview's table is sent: it
	// reads every route.
	overviewEvery = time.Second
	// keepAlive is how often an idle stream sends a comment, so proxies
	// do not close it.
	keepAlive = 15 * time.Second
	// writeTimeout bounds one write to a stream's client.
	writeTimeout = 10 * time.Second
)

// liveEvents streams server-sent events for the pages, each carrying a
// rendered block the page swaps in (htmx's sse-swap): with ?route=NAME,
// "live" (the progress block) as the run goes, then "runs" and "chart"
// when it ends; without, "overview" (the routes table) when a route
// changed. Progress is sent at most every liveEvery, the overview at
// most every overviewEvery.
func (d *Dashboard) liveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	route := r.URL.Query().Get("route")
	sub := d.svc.Events().Subscribe(256, func(ev events.Event) bool {
		if route == "" {
			return ev.Type != events.EntrySettled // one per record: runs say enough
		}
		return ev.Route == route
	})
	defer sub.Close()

	// The token for the forms in the blocks sent (the cookie, when new,
	// goes out with these headers).
	csrf := d.auth.csrfToken(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": ferry live events\nretry: 2000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		d.log.Warn("dashboard: this server cannot stream events", "error", err)
		return
	}
	s := &liveStream{d: d, r: r, w: w, rc: rc, route: route, csrf: csrf}
	s.loop(r.Context(), sub)
}

// liveStream is one client's event stream.
type liveStream struct {
	d     *Dashboard
	r     *http.Request // its session is checked again on every tick
	csrf  string
	w     http.ResponseWriter
	rc    *http.ResponseController
	route string

	run       *store.Run // newest run state seen
	phase     string
	dirty     bool // something to tell
	finished  bool // a run ended since the last send
	counts    store.Counts
	countedAt time.Time
	sentAt    time.Time // the last overview sent
}

func (s *liveStream) loop(ctx context.Context, sub *events.Subscription) {
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	idle := time.NewTimer(keepAlive)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.d.done:
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			s.note(ev)
		case <-tick.C:
			if !s.d.Authorized(s.r) {
				return // the session expired or the password changed
			}
			if !s.dirty {
				continue
			}
			if err := s.send(ctx); err != nil {
				return
			}
			idle.Reset(keepAlive)
		case <-idle.C:
			_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := fmt.Fprint(s.w, ": keep-alive\n\n"); err != nil {
				return
			}
			if err := s.rc.Flush(); err != nil {
				return
			}
			_ = s.rc.SetWriteDeadline(time.Time{})
			idle.Reset(keepAlive)
		}
	}
}

func (s *liveStream) note(ev events.Event) {
	s.dirty = true
	if ev.Run != nil && s.route != "" {
		run := *ev.Run
		s.run = &run
		if ev.Phase != "" {
			s.phase = ev.Phase
		}
	}
	switch ev.Type {
	case events.RunFinished:
		s.finished, s.phase = true, ""
		s.countedAt = time.Time{} // the queue changed: count again
	case events.RunStarted:
		s.phase = ""
	}
}

// send writes what changed since the last send.
func (s *liveStream) send(ctx context.Context) error {
	now := s.d.opts.Now()
	if s.route == "" {
		if now.Sub(s.sentAt) < overviewEvery {
			return nil // still dirty: sent at a later tick
		}
		s.dirty, s.sentAt = false, now
		data, err := s.d.loadOverview(ctx)
		if err != nil {
			s.d.log.Warn("dashboard: live overview", "error", err)
			return nil
		}
		return s.block("overview", "overview", "overview-body", data)
	}
	s.dirty = false
	if s.run != nil {
		if now.Sub(s.countedAt) >= countsEvery {
			c, err := s.d.svc.Store().Counts(ctx, s.route)
			if err != nil {
				s.d.log.Warn("dashboard: live counts", "route", s.route, "error", err)
			} else {
				s.counts, s.countedAt = c, now
			}
		}
		live := liveData{
			Route: s.route, Run: s.run, Running: s.run.Status == store.RunRunning, Phase: s.phase,
			MaxIterations: maxIterations(s.d.svc.Config(), s.route), Queue: s.counts,
			State: "running", StateOOB: true,
		}
		if !live.Running {
			// The run ended: the route's state (idle, failing, queued)
			// and counts as the service sees them now.
			if st, err := s.d.svc.Route(ctx, s.route); err == nil {
				live.State, live.Queue = st.State, st.Queue
				s.counts, s.countedAt = st.Queue, now
			} else {
				live.StateOOB = false
			}
		}
		if err := s.block("live", "route", "route-live", routeData{Name: s.route, Live: live}); err != nil {
			return err
		}
	}
	if !s.finished {
		return nil
	}
	// A run ended: its row in the runs table and its records in the chart.
	s.finished = false
	data := routeData{Name: s.route}
	var err error
	if data.Runs, err = s.d.runRows(ctx, s.route); err != nil {
		s.d.log.Warn("dashboard: live runs", "route", s.route, "error", err)
		return nil
	}
	if data.Chart, data.Capped, err = s.d.minuteChart(ctx, s.route); err != nil {
		s.d.log.Warn("dashboard: live chart", "route", s.route, "error", err)
		return nil
	}
	if err := s.block("runs", "route", "route-runs", data); err != nil {
		return err
	}
	return s.block("chart", "route", "route-chart", data)
}

// block renders a page's block and sends it as event name.
func (s *liveStream) block(name, page, block string, data any) error {
	html, err := s.d.fragment(page, block, view{CSRF: s.csrf, Data: data})
	if err != nil {
		s.d.log.Error("dashboard: live "+name, "error", err)
		return err
	}
	return s.event(name, html)
}

// event writes one server-sent event; data may span lines.
func (s *liveStream) event(name, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteByte('\n')
	// Browsers end a line at \r too: a \r in a record or an error must
	// not end the data early nor start an event of its own.
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	// A client that stops reading must not hold the stream (and a
	// shutdown) for ever.
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := fmt.Fprint(s.w, b.String()); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	// Cleared once written: over HTTP/2 a deadline left set ends the
	// stream when it passes, written to or not.
	return s.rc.SetWriteDeadline(time.Time{})
}

// fragment renders a block of a page to a string (for event data).
func (d *Dashboard) fragment(name, block string, v view) (string, error) {
	t, ok := d.pages.byName[name]
	if !ok {
		return "", fmt.Errorf("no template %s", name)
	}
	v.Now = d.opts.Now()
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", name, block, err)
	}
	return buf.String(), nil
}
