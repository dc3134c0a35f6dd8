package service

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// lastSuccess returns when the route's newest succeeded run ended (zero:
// none kept).
func (s *Service) lastSuccess(ctx context.Context, route string) (time.Time, error) {
	runs, err := s.opts.Store.ListRuns(ctx, store.RunFilter{Route: route, Status: store.RunSucceeded, Limit: 1})
	if err != nil || len(runs) == 0 {
		return time.Time{}, err
	}
	return runs[0].EndedAt, nil
}

// staleSince reports whether a route with fresh_within is stale at now:
// its last success (or, when it never succeeded, the start of this
// process) is older than fresh_within.
func (s *Service) isStale(within time.Duration, last, now time.Time) bool {
	ref := last
	if ref.IsZero() {
		ref = s.startTime
	}
	return within > 0 && now.Sub(ref) > within
}

// FreshnessPass flags routes whose last successful run is older than
// their fresh_within (leader only): once per incident it logs, publishes
// route.stale and performs the route's on_stale operations, and once on
// recovery route.fresh with the same operations (state "fresh").
func (s *Service) FreshnessPass(ctx context.Context) error {
	if !s.isLeader() {
		return nil
	}
	// One pass at a time: two passes with different clocks would each
	// see a transition of the other's and alert twice.
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	gen := s.acquire()
	defer s.release(gen)
	now := s.now()
	for _, name := range gen.cfg.RouteNames() {
		rc := gen.cfg.Routes[name]
		within := rc.FreshWithin.D()
		if within <= 0 {
			continue
		}
		last, err := s.lastSuccess(ctx, name)
		if err != nil {
			return fmt.Errorf("freshness: route %q: %w", name, err)
		}
		stale := s.isStale(within, last, now)
		s.mu.Lock()
		was := s.stale[name]
		s.stale[name] = stale
		s.mu.Unlock()
		if stale == was {
			continue
		}
		state, typ := "fresh", events.RouteFresh
		msg := fmt.Sprintf("route %s is fresh again: last success %s", name, last.Format(time.RFC3339))
		if stale {
			state, typ = "stale", events.RouteStale
			msg = fmt.Sprintf("route %s is stale: no successful run within %s", name, within)
			if !last.IsZero() {
				msg += fmt.Sprintf(" (last success %s)", last.Format(time.RFC3339))
			}
			s.log.Warn(msg, "route", name)
		} else {
			s.log.Info(msg, "route", name)
		}
		s.bus.Publish(events.Event{Type: typ, At: now, Route: name, Message: msg})
		record := map[string]any{
			"route": name, "state": state, "message": msg,
			"fresh_within": within.String(), "checked_at": now.UTC().Format(time.RFC3339),
		}
		if !last.IsZero() {
			record["last_success"] = last.UTC().Format(time.RFC3339)
		}
		// The incident is named by the last success it is about, so a
		// notification sent twice (a leader change) has one idempotency key.
		incident := state + "@" + last.UTC().Format(time.RFC3339Nano)
		if err := gen.eng.Notify(ctx, name, incident, record); err != nil {
			s.log.Error("on_stale operations failed", "route", name, "state", state, "err", err)
		}
	}
	return nil
}
