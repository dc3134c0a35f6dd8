package service

import (
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/liveness"
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
	gone := map[string]bool{}
	for _, p := range procs {
		if p.ID != s.owner && (p.Until.Before(now) || liveness.Dead(p.ID)) {
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
	m, err := st.ReleaseOutbox(ctx, "", now, deadOwners)
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
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	gen.eng.ApplyRetention(ctx)
	return nil
}
