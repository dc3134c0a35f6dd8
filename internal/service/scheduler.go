package service

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/liveness"
	"github.com/ferry-dev/ferry/internal/store"
)

// leaderRole is the store leadership that schedules, rescues and checks
// freshness: one process at a time.
const leaderRole = "scheduler"

// leadPass renews this process's heartbeat and takes or renews the
// leadership. A leader that dies is replaced within leaderTerm; one on
// this host whose process is gone is replaced at once.
func (s *Service) leadPass(ctx context.Context) error {
	if err := s.syncClock(ctx); err != nil {
		return fmt.Errorf("read the store's clock: %w", err)
	}
	if err := s.beat(ctx); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	now := s.now()
	st := s.opts.Store
	holder, ok, err := st.Lead(ctx, leaderRole, s.owner, now, now.Add(leaderTerm), "")
	if err == nil && !ok && liveness.Dead(holder) {
		holder, ok, err = st.Lead(ctx, leaderRole, s.owner, now, now.Add(leaderTerm), holder)
	}
	s.mu.Lock()
	was := s.leader
	s.leader = err == nil && ok
	is := s.leader
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("leadership: %w", err)
	}
	switch {
	case is && !was:
		s.log.Info("this process leads: it runs the schedules and the rescuer")
		if s.opts.Every.Rescue >= 0 {
			// A leader that died may have held a run (a scheduled one,
			// often): its heartbeat ran out with its term, so the rescue
			// now frees the route at once instead of at the next period.
			if err := s.RescuePass(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("rescue at takeover failed", "err", err)
			}
		}
	case was && !is:
		s.log.Warn("leadership lost", "leader", holder)
	}
	return nil
}

// isLeader reports whether this process leads now.
func (s *Service) isLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader
}

// SchedulePass fires the ticks that are due (leader only). A route's
// next tick is claimed in the store before its run is asked for, so two
// schedulers never fire one tick. A tick that comes while the route is
// running (or waiting to) is skipped and counted. Ticks missed while no
// scheduler ran (downtime) fire once, not once per missed tick. Routes
// whose ticks fall on the same instant form one cycle: depends_on orders
// them.
func (s *Service) SchedulePass(ctx context.Context) error {
	if !s.isLeader() || s.isStopping() {
		return nil // a tick claimed now would be dropped by Stop
	}
	cfg := s.config()
	st := s.opts.Store
	ticks, err := st.Ticks(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: read ticks: %w", err)
	}
	stored := make(map[string]store.Tick, len(ticks))
	for _, t := range ticks {
		stored[t.Route] = t
	}
	now := s.now()
	due := map[time.Time][]string{} // tick instant -> routes
	for _, name := range cfg.RouteNames() {
		sched, ok := cfg.Routes[name].Trigger()
		if !ok {
			continue
		}
		spec := sched.String()
		t, have := stored[name]
		if !have || t.Spec != spec {
			// New or changed schedule: the next tick from now on.
			if _, err := st.ClaimTick(ctx, store.TickClaim{Route: name, Spec: spec, Prev: t.Next, Next: sched.Next(now), Outcome: store.TickReset, At: now}); err != nil {
				return fmt.Errorf("scheduler: route %q: %w", name, err)
			}
			continue
		}
		if t.Next.After(now) {
			continue
		}
		next := sched.Next(now)
		if s.busy(name) {
			won, err := st.ClaimTick(ctx, store.TickClaim{Route: name, Spec: spec, Prev: t.Next, Next: next, Outcome: store.TickSkipped, At: now})
			if err != nil {
				return fmt.Errorf("scheduler: route %q: %w", name, err)
			}
			if won {
				s.log.Warn("scheduled tick skipped: the route is still running", "route", name, "tick", t.Next)
				s.bus.Publish(events.Event{Type: events.TickSkipped, At: now, Route: name, Message: fmt.Sprintf("tick of %s skipped: the route was still running", t.Next.Format(time.RFC3339))})
			}
			continue
		}
		won, err := st.ClaimTick(ctx, store.TickClaim{Route: name, Spec: spec, Prev: t.Next, Next: next, Outcome: store.TickFired, At: now})
		if err != nil {
			return fmt.Errorf("scheduler: route %q: %w", name, err)
		}
		if won {
			due[t.Next] = append(due[t.Next], name)
		}
	}
	instants := make([]time.Time, 0, len(due))
	for at := range due {
		instants = append(instants, at)
	}
	sort.Slice(instants, func(i, j int) bool { return instants[i].Before(instants[j]) })
	var back []tickBack
	s.mu.Lock()
	for _, at := range instants {
		if s.stopping {
			for _, r := range due[at] {
				back = append(back, tickBack{route: r, tick: at})
			}
			continue
		}
		s.enqueueLocked(due[at], ask{trigger: "schedule", tick: at})
	}
	s.mu.Unlock()
	if len(instants) > 0 {
		s.poke()
	}
	return s.restoreTicks(ctx, back)
}

// tickBack is a fired tick whose run will not happen in this process.
type tickBack struct {
	route string
	tick  time.Time
}

// restoreTicks moves the next tick of routes back to a tick that fired
// but was not run (Stop came first), so it fires after the restart
// instead of being lost.
func (s *Service) restoreTicks(ctx context.Context, back []tickBack) error {
	if len(back) == 0 {
		return nil
	}
	st := s.opts.Store
	ticks, err := st.Ticks(ctx)
	if err != nil {
		return fmt.Errorf("put back %d ticks: %w", len(back), err)
	}
	stored := make(map[string]store.Tick, len(ticks))
	for _, t := range ticks {
		stored[t.Route] = t
	}
	now := s.now()
	for _, b := range back {
		t, ok := stored[b.route]
		if !ok || !t.Next.After(b.tick) {
			continue
		}
		if _, err := st.ClaimTick(ctx, store.TickClaim{Route: b.route, Spec: t.Spec, Prev: t.Next, Next: b.tick, Outcome: store.TickReset, At: now}); err != nil {
			return fmt.Errorf("route %q: put back the tick of %s: %w", b.route, b.tick.Format(time.RFC3339), err)
		}
		s.log.Info("scheduled run not started before the stop: it runs after the restart", "route", b.route, "tick", b.tick)
	}
	return nil
}

// busy reports whether a route runs or waits to run in this process.
func (s *Service) busy(route string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d.running[route] != nil {
		return true
	}
	for _, r := range s.d.waiting {
		if r.route == route {
			return true
		}
	}
	return false
}

// isStopping reports whether Stop was called.
func (s *Service) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}
