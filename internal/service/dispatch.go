package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// coalesce is how long a webhook route's run lets pushed records gather
// before it leases a batch that would be less than half full (not for
// respond: sync routes, whose callers wait).
const coalesce = 20 * time.Millisecond

// agingStep is how long a waiting request takes to gain one priority
// point, so lower priorities are not starved when workers are scarce.
const agingStep = 30 * time.Second

// dispatcher is the queue of run requests and the runs going on. It is
// guarded by Service.mu.
type dispatcher struct {
	waiting []*request
	running map[string]*activeRun // by route
	byRunID map[int64]*activeRun
	serial  bool // a non-concurrent route is running
	busy    int  // runs going on (bounded by workers)
	nextID  int64
	cycles  int64
}

func (d *dispatcher) init() {
	d.running = map[string]*activeRun{}
	d.byRunID = map[int64]*activeRun{}
}

// request is one run asked for and not started yet.
type request struct {
	id      int64
	route   string
	full    bool
	trigger string
	// sendOnly: the run sends what is queued and does not read the
	// source (webhook pushes, the sweep of queued work).
	sendOnly bool
	// cycles are the cycles the request was asked in: a request merged
	// into a waiting one joins its cycle too, so dependents of either
	// cycle see it end.
	cycles []*cycle
	queued time.Time
	// tick is the schedule tick the request fired for (zero: none): put
	// back when the request is dropped at Stop, so it fires after the
	// restart.
	tick time.Time
}

// ask says how routes are asked for.
type ask struct {
	full     bool
	trigger  string
	sendOnly bool
	tick     time.Time
}

// cycle is the set of routes triggered together (one tick instant, one
// API call): depends_on orders routes within it, and a route whose
// dependency failed in it is skipped.
type cycle struct {
	id     int64
	routes map[string]bool // routes of the cycle
	ended  map[string]bool // routes of the cycle whose run ended
	failed map[string]bool // ... and failed (or read only part of their source)
}

// activeRun is a run going on in this process.
type activeRun struct {
	req      *request
	gen      *generation
	cancel   context.CancelFunc
	runID    int64
	started  time.Time
	progress engine.Progress
	hasProg  bool
	// wake tells the run of a webhook route that records were pushed
	// (buffered 1; nil for other routes).
	wake chan struct{}
	// inbox takes pushed records queued leased to the run of a webhook
	// route (nil for other routes).
	inbox *engine.Inbox
}

// dropWaiting forgets every waiting request (stopping).
func (d *dispatcher) dropWaiting() { d.waiting = nil }

// forgetRemoved drops waiting requests of routes a reload removed.
func (d *dispatcher) forgetRemoved(cfg *config.Config) {
	d.waiting = slices.DeleteFunc(d.waiting, func(r *request) bool { return cfg.Routes[r.route] == nil })
}

// waitingFor returns the waiting request of route in the given mode.
func (d *dispatcher) waitingFor(route string, full bool) *request {
	for _, r := range d.waiting {
		if r.route == route && r.full == full {
			return r
		}
	}
	return nil
}

// Trigger asks for runs of the routes, together as one cycle. A route
// with a request of the same mode already waiting is merged into it; a
// route that is running gets a request that waits behind its run.
func (s *Service) Trigger(ctx context.Context, req StartRequest) ([]Ticket, error) {
	if req.Trigger == "" {
		req.Trigger = "api"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, ErrStopping
	}
	cfg := s.gen.cfg
	for _, name := range req.Routes {
		if cfg.Routes[name] == nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownRoute, name)
		}
	}
	tickets := s.enqueueLocked(req.Routes, ask{full: req.Full, trigger: req.Trigger})
	s.poke()
	return tickets, nil
}

// enqueueLocked adds requests for routes as one cycle (s.mu held).
// Routes the config in force does not have (a reload removed them) are
// left out. A route with a request of the same mode waiting is merged
// into it: that request joins this cycle too.
func (s *Service) enqueueLocked(routes []string, a ask) []Ticket {
	d := &s.d
	d.cycles++
	c := &cycle{id: d.cycles, routes: map[string]bool{}, ended: map[string]bool{}, failed: map[string]bool{}}
	for _, r := range routes {
		c.routes[r] = true
	}
	now := s.now()
	cfg := s.gen.cfg
	tickets := make([]Ticket, 0, len(routes))
	for _, name := range routes {
		if cfg.Routes[name] == nil {
			c.ended[name] = true
			continue
		}
		if w := d.waitingFor(name, a.full); w != nil {
			w.cycles = append(w.cycles, c)
			w.sendOnly = w.sendOnly && a.sendOnly // a full request reads the source
			tickets = append(tickets, Ticket{Route: name, State: "merged", Request: w.id})
			continue
		}
		d.nextID++
		r := &request{id: d.nextID, route: name, full: a.full, trigger: a.trigger, sendOnly: a.sendOnly, cycles: []*cycle{c}, queued: now, tick: a.tick}
		d.waiting = append(d.waiting, r)
		tickets = append(tickets, Ticket{Route: name, State: "queued", Request: r.id})
	}
	return tickets
}

// dispatchLoop starts waiting requests whenever something changed.
func (s *Service) dispatchLoop(ctx context.Context) {
	// Aging changes the order over time, so look now and then too.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.dispatch()
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// dispatch starts as many waiting requests as the rules allow: a route
// never runs twice at once; at most one non-concurrent route runs at a
// time; a route waits for the routes it depends on in its cycle (and is
// skipped when one failed); at most `workers` runs go on. Among those
// that may start, the highest priority goes first, a point higher for
// every agingStep waited; then concurrent routes without dependencies;
// then the oldest.
func (s *Service) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	d := &s.d
	cfg := s.gen.cfg
	now := s.now()
	workers := max(cfg.Workers, 1)
	d.waiting = slices.DeleteFunc(d.waiting, func(r *request) bool {
		if cfg.Routes[r.route] == nil { // removed by a reload
			r.end(false)
			return true
		}
		return s.skipIfDependencyFailed(r, cfg)
	})
	order := slices.Clone(d.waiting)
	rank := func(r *request) int {
		return cfg.Routes[r.route].Priority + int(now.Sub(r.queued)/agingStep)
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra > rb
		}
		if fa, fb := s.free(a, cfg), s.free(b, cfg); fa != fb {
			return fa
		}
		return a.id < b.id
	})
	for _, r := range order {
		if d.busy >= workers {
			return
		}
		rc := cfg.Routes[r.route]
		if d.running[r.route] != nil || (!rc.IsConcurrent() && d.serial) || s.waitsForDependency(r, rc) {
			continue
		}
		s.startLocked(r, rc)
	}
}

// free reports whether a request's route runs beside anything: marked
// concurrent and without dependencies.
func (s *Service) free(r *request, cfg *config.Config) bool {
	rc := cfg.Routes[r.route]
	return rc.IsConcurrent() && len(rc.DependsOn) == 0
}

// waitsForDependency reports whether a route the request's route depends
// on, asked for in one of its cycles, has not ended yet.
func (s *Service) waitsForDependency(r *request, rc *config.Route) bool {
	for _, dep := range rc.DependsOn {
		for _, c := range r.cycles {
			if c.routes[dep] && !c.ended[dep] {
				return true
			}
		}
	}
	return false
}

// skipIfDependencyFailed drops a request whose dependency failed in one
// of its cycles: orders are not sent for customers that are not there yet.
func (s *Service) skipIfDependencyFailed(r *request, cfg *config.Config) bool {
	for _, dep := range cfg.Routes[r.route].DependsOn {
		for _, c := range r.cycles {
			if c.failed[dep] {
				s.log.Warn("run skipped: a route it depends on failed in the same cycle", "route", r.route, "dependency", dep)
				r.end(true) // what depends on it waits too
				return true
			}
		}
	}
	return false
}

// end marks the request's route ended (and failed) in its cycles.
func (r *request) end(failed bool) {
	for _, c := range r.cycles {
		c.ended[r.route] = true
		if failed {
			c.failed[r.route] = true
		}
	}
}

// startLocked starts a run for r on a new goroutine (s.mu held).
func (s *Service) startLocked(r *request, rc *config.Route) {
	d := &s.d
	d.waiting = slices.DeleteFunc(d.waiting, func(w *request) bool { return w == r })
	ctx, cancel := context.WithCancel(s.runsCtx)
	ar := &activeRun{req: r, gen: s.gen, cancel: cancel, started: s.now()}
	if rc.Webhook != nil {
		ar.wake = make(chan struct{}, 1)
		ar.inbox = ar.gen.eng.NewInbox(r.route)
	}
	ar.gen.users++
	d.running[r.route] = ar
	d.busy++
	serial := !rc.IsConcurrent()
	if serial {
		d.serial = true
	}
	s.runs.Add(1)
	go func() {
		defer s.runs.Done()
		defer cancel()
		res, err := s.execute(ctx, ar)
		s.finished(ar, serial, res, err)
	}()
}

// execute runs one request on its generation's engine.
func (s *Service) execute(ctx context.Context, ar *activeRun) (engine.Result, error) {
	r := ar.req
	opts := engine.RunOptions{
		Full: r.full, Trigger: r.trigger, SendOnly: r.sendOnly, Request: r.id,
		Started: func(run store.Run) {
			s.mu.Lock()
			ar.runID = run.ID
			s.d.byRunID[run.ID] = ar
			s.mu.Unlock()
		},
		Progress: func(p engine.Progress) {
			s.mu.Lock()
			ar.progress, ar.hasProg = p, true
			s.mu.Unlock()
		},
	}
	if ar.wake != nil {
		opts.Wake, opts.Linger, opts.Inbox = ar.wake, s.opts.Linger, ar.inbox
		if rc := ar.gen.cfg.Routes[r.route]; rc != nil && rc.Webhook.Respond != config.RespondSync {
			opts.Coalesce = coalesce
		}
	}
	return ar.gen.eng.Run(ctx, r.route, opts)
}

// finished records a run's end and lets the dispatcher go on.
func (s *Service) finished(ar *activeRun, serial bool, res engine.Result, err error) {
	r := ar.req
	busy := errors.Is(err, engine.ErrRouteBusy)
	switch {
	case busy:
		// Another process runs the route: this request is done; its
		// run picks up what is queued.
		s.log.Info("route is running in another process; request dropped", "route", r.route, "trigger", r.trigger)
	case err != nil && res.ID == 0:
		s.log.Error("run could not start", "route", r.route, "err", err)
	}
	failed := res.Status == store.RunFailed || res.Status == store.RunCancelled || res.SourceError != "" || (err != nil && res.ID == 0 && !busy)
	s.mu.Lock()
	d := &s.d
	delete(d.running, r.route)
	delete(d.byRunID, ar.runID)
	d.busy--
	if serial {
		d.serial = false
	}
	r.end(failed)
	if (len(ar.wake) > 0 || ar.inbox.Left() > 0) && !s.stopping && d.waitingFor(r.route, false) == nil {
		// Records were pushed after the run stopped waiting for them
		// (or handed to it and released when it ended).
		s.enqueueLocked([]string{r.route}, ask{trigger: "webhook", sendOnly: true})
	}
	s.mu.Unlock()
	s.release(ar.gen)
	s.poke()
}

// Cancel cancels a run going on in this process (ErrNotRunning when it
// is not running here). The run releases its leases and records itself
// cancelled.
func (s *Service) Cancel(ctx context.Context, runID int64) error {
	s.mu.Lock()
	ar := s.d.byRunID[runID]
	s.mu.Unlock()
	if ar == nil {
		return fmt.Errorf("%w: run %d", ErrNotRunning, runID)
	}
	ar.cancel()
	return nil
}

// inboxOf returns the inbox of route's run going on in this process, or
// nil. A run of an earlier config (a reload came since it started) gets
// no more pushes in memory: the route may have become respond: sync or
// gained entry_priority, which take none.
func (s *Service) inboxOf(route string) *engine.Inbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ar := s.d.running[route]; ar != nil && ar.gen == s.gen {
		return ar.inbox
	}
	return nil
}

// wakeRoute tells the route that records were pushed: its run going on
// in this process sends them (it waits for them a moment before ending),
// otherwise a run is asked for unless one already waits.
func (s *Service) wakeRoute(route, trigger string) {
	s.mu.Lock()
	if ar := s.d.running[route]; ar != nil && ar.wake != nil {
		select {
		case ar.wake <- struct{}{}:
		default:
		}
	} else if !s.stopping && s.d.waitingFor(route, false) == nil {
		s.enqueueLocked([]string{route}, ask{trigger: trigger, sendOnly: true})
	}
	s.mu.Unlock()
	s.poke()
}
