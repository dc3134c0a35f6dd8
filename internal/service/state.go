package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/feeds"
	"github.com/ferry-dev/ferry/internal/store"
)

// Routes returns the state of every route, in config order.
func (s *Service) Routes(ctx context.Context) ([]RouteState, error) {
	cfg := s.config()
	ticks, err := s.ticks(ctx)
	if err != nil {
		return nil, err
	}
	names := cfg.RouteNames()
	out := make([]RouteState, len(names))
	errs := make([]error, len(names))
	// Each route's state is a few reads (queue counts, runs); with many
	// routes and big queues they add up, so they run a few at a time:
	// the store reads in parallel (SQLite's readers, PostgreSQL's pool).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(routesReaders, len(names)) {
		wg.Go(func() {
			for i := range next {
				if out[i], errs[i] = s.routeState(ctx, cfg, names[i], ticks); errs[i] != nil {
					cancel() // the others stop at their next read
				}
			}
		})
	}
feed:
	for i := range names {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// routesReaders is how many routes' states Routes reads at once.
const routesReaders = 4

// Route returns one route's state (ErrUnknownRoute).
func (s *Service) Route(ctx context.Context, name string) (RouteState, error) {
	cfg := s.config()
	if cfg.Routes[name] == nil {
		return RouteState{}, fmt.Errorf("%w: %q", ErrUnknownRoute, name)
	}
	ticks, err := s.ticks(ctx)
	if err != nil {
		return RouteState{}, err
	}
	return s.routeState(ctx, cfg, name, ticks)
}

func (s *Service) ticks(ctx context.Context) (map[string]store.Tick, error) {
	list, err := s.opts.Store.Ticks(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schedules: %w", err)
	}
	m := make(map[string]store.Tick, len(list))
	for _, t := range list {
		m[t.Route] = t
	}
	return m, nil
}

func (s *Service) routeState(ctx context.Context, cfg *config.Config, name string, ticks map[string]store.Tick) (RouteState, error) {
	rc := cfg.Routes[name]
	st := RouteState{
		Name: name, Description: rc.Description, Priority: rc.Priority, DependsOn: rc.DependsOn,
		Concurrent: rc.IsConcurrent(), Webhook: rc.Webhook != nil, FreshWithin: rc.FreshWithin.D(),
	}
	if sched, ok := rc.Trigger(); ok {
		st.Schedule = sched.String()
		if t, ok := ticks[name]; ok && t.Spec == st.Schedule {
			st.NextRun, st.SkippedTicks = t.Next, t.Skipped
		}
	}
	var err error
	if st.Queue, err = s.opts.Store.Counts(ctx, name); err != nil {
		return st, fmt.Errorf("route %q: queue: %w", name, err)
	}
	runs, err := s.opts.Store.ListRuns(ctx, store.RunFilter{Route: name, Limit: 2})
	if err != nil {
		return st, fmt.Errorf("route %q: runs: %w", name, err)
	}
	for i := range runs {
		r := runs[i]
		if r.Status == store.RunRunning {
			if st.Running == nil {
				st.Running = &r // flushed counters: a run of any process
			}
			continue
		}
		if st.LastRun == nil {
			st.LastRun = &r
		}
	}
	if st.LastSuccess, err = s.lastSuccess(ctx, name); err != nil {
		return st, fmt.Errorf("route %q: last success: %w", name, err)
	}
	st.Stale = s.isStale(st.FreshWithin, st.LastSuccess, s.now())

	s.mu.Lock()
	ar := s.d.running[name]
	var arRun int64 // read under the lock: Started sets it
	if ar != nil {
		arRun = ar.runID
	}
	waiting := s.d.waitingFor(name, false) != nil || s.d.waitingFor(name, true) != nil
	if ar != nil && ar.hasProg && st.Running != nil && st.Running.ID == ar.runID {
		live := *st.Running // this process has fresher counters than the store
		p := ar.progress
		live.Iterations, live.Collected, live.Sent, live.Done = p.Iteration, p.Collected, p.Sent, p.Done
		live.Failed, live.Dead, live.Skipped, live.Unchanged, live.Pruned = p.Failed, p.Dead, p.Skipped, p.Unchanged, p.Pruned
		st.Running = &live
	}
	s.mu.Unlock()

	// The engine publishes run.finished (and the store holds the run's
	// outcome) a moment before the dispatcher lets go of the run: a run
	// whose outcome is stored is over, whatever the dispatcher holds.
	ended := ar != nil && arRun != 0 && st.Running == nil && st.LastRun != nil && st.LastRun.ID == arRun
	switch {
	case (ar != nil && !ended) || st.Running != nil:
		st.State = StateRunning
	case waiting:
		st.State = StateQueued
	case st.LastRun != nil && (st.LastRun.Status == store.RunFailed || st.LastRun.Status == store.RunPartiallyFailed),
		st.Queue.Error > 0 || st.Queue.Dead > 0:
		st.State = StateFailing
	default:
		st.State = StateIdle
	}
	return st, nil
}

// Feeds lists the file feeds of a route (for internal/feeds): the files
// its file destinations published per run. An unknown route wraps
// feeds.ErrUnknownRoute.
func (s *Service) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	gen := s.acquire()
	defer s.release(gen)
	if gen.cfg.Routes[route] == nil {
		return nil, fmt.Errorf("%w: %q", feeds.ErrUnknownRoute, route)
	}
	return gen.eng.Feeds(ctx, route)
}

// Preview is what the route's steps and destination would make of a
// queued record now (see engine.Engine.Preview). An unknown route wraps
// ErrUnknownRoute.
func (s *Service) Preview(ctx context.Context, route string, en store.Entry) (engine.DryRecord, error) {
	gen := s.acquire()
	defer s.release(gen)
	if gen.cfg.Routes[route] == nil {
		return engine.DryRecord{}, fmt.Errorf("%w: %q", ErrUnknownRoute, route)
	}
	return gen.eng.Preview(ctx, route, en)
}
