package service

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/liveness"
	"github.com/ferry-dev/ferry/internal/store"
)

// RescuePass puts back what dead workers left (leader only): runs of
// dead workers are closed as abandoned; entries and operations leased by
// processes that are gone (their pid is gone on this host, or their
// heartbeat ran out) or whose lease expired go back to the queue; rows of
// processes long gone are removed. It runs on its own clock, so a
// SIGKILLed worker's entries come back without any new run of its route.
func (s *Service) RescuePass(ctx context.Context) error {
	if !s.isLeader() {
		return nil
	}
	st := s.opts.Store
	now := s.now()
	procs, err := st.Processes(ctx)
	if err != nil {
		return fmt.Errorf("rescuer: list processes: %w", err)
	}
	host, _ := os.Hostname()
	gone := map[string]bool{}
	for _, p := range procs {
		if p.ID == s.owner {
			continue
		}
		// On this host the pid says whether a process lives (a heartbeat
		// can be late under load while it still sends); on others only
		// the heartbeat can.
		dead := p.Until.Before(now)
		if p.Host == host && p.Host != "" {
			dead = liveness.Dead(p.ID)
		}
		if dead {
			gone[p.ID] = true
		}
	}
	dead := func(owner string) bool {
		if owner == s.owner {
			return false
		}
		return gone[owner] || liveness.Dead(owner)
	}
	if _, err := engine.CloseRunsOf(ctx, st, now, s.log, dead); err != nil {
		return fmt.Errorf("rescuer: %w", err)
	}
	owners, err := st.LeaseOwners(ctx, "")
	if err != nil {
		return fmt.Errorf("rescuer: list lease owners: %w", err)
	}
	var deadOwners []string
	for _, o := range owners {
		if dead(o) {
			deadOwners = append(deadOwners, o)
		}
	}
	n, err := st.ReleaseLeases(ctx, "", now, deadOwners)
	if err != nil {
		return fmt.Errorf("rescuer: release leases: %w", err)
	}
	// Operations are released by owner only: their leases are not
	// extended while they run, so an expired one may still be in flight.
	m, err := st.ReleaseOutbox(ctx, "", time.Time{}, deadOwners)
	if err != nil {
		return fmt.Errorf("rescuer: release operations: %w", err)
	}
	if n+m > 0 {
		s.log.Warn("rescuer put back entries of dead workers or expired leases", "entries", n, "operations", m, "owners", deadOwners)
	}
	for id := range gone {
		if err := st.ForgetProcess(ctx, id); err != nil {
			return fmt.Errorf("rescuer: forget process %s: %w", id, err)
		}
	}
	return nil
}

// RetentionPass applies the config's retention (leader only): one
// process prunes the history for all, on its own clock, instead of every
// run pruning when it ends.
func (s *Service) RetentionPass(ctx context.Context) error {
	if !s.isLeader() {
		return nil
	}
	gen := s.acquire()
	defer s.release(gen)
	gen.eng.ApplyRetention(ctx)
	return nil
}

// SweepPass asks for a send-only run of every webhook route that has
// work waiting and no run (leader only): entries pushed before a crash,
// put back by the rescuer, or pushed to another process while this
// one's run was ending; errors whose retry is due; operations owed.
// Routes with a source get their retries from their own runs.
func (s *Service) SweepPass(ctx context.Context) error {
	if !s.isLeader() || s.isStopping() {
		return nil
	}
	cfg := s.config()
	st := s.opts.Store
	now := s.now()
	for _, name := range cfg.RouteNames() {
		if cfg.Routes[name].Webhook == nil || s.busy(name) {
			continue
		}
		due, err := s.workWaiting(ctx, st, name, now)
		if err != nil {
			return fmt.Errorf("sweep: route %q: %w", name, err)
		}
		if due {
			s.mu.Lock()
			if !s.stopping && s.d.running[name] == nil && s.d.waitingFor(name, false) == nil {
				s.enqueueLocked([]string{name}, ask{trigger: "retry", sendOnly: true})
			}
			s.mu.Unlock()
			s.poke()
		}
	}
	return nil
}

// workWaiting reports whether route has entries to send now: pending
// ones, errors whose retry is due, or operations due.
func (s *Service) workWaiting(ctx context.Context, st store.Store, route string, now time.Time) (bool, error) {
	c, err := st.Counts(ctx, route)
	if err != nil {
		return false, err
	}
	if c.Pending > 0 {
		return true, nil
	}
	if c.Error > 0 {
		at, ok, err := st.NextDue(ctx, route)
		if err != nil {
			return false, err
		}
		if ok && !at.After(now) {
			return true, nil
		}
	}
	if c.Outbox > 0 {
		items, err := st.Outbox(ctx, route, 100)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if !it.Dead && !it.NextAttemptAt.After(now) && (it.LeaseOwner == "" || it.LeaseUntil.Before(now)) {
				return true, nil
			}
		}
	}
	return false, nil
}
