package rules

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
)

// RunCandidate is a running run, its owner and who holds its route's run
// lock (LockLive: the lock has not expired), for AbandonRuns.
type RunCandidate struct {
	ID                int64
	Owner, LockHolder string
	LockLive          bool
}

// ScanRunCandidate reads a row of run id, owner, lock holder, lock live.
func ScanRunCandidate(row Scanner) (RunCandidate, error) {
	var c RunCandidate
	return c, row.Scan(&c.ID, &c.Owner, &c.LockHolder, &c.LockLive)
}

// AbandonReason says why the running run is abandoned, or "" when its
// worker is alive. dead tells whether an owner died (nil: none known).
func (c RunCandidate) AbandonReason(dead func(owner string) bool) string {
	switch {
	case c.Owner == "" && c.LockLive:
		return "" // an old run: someone runs the route, perhaps this one
	case c.Owner == "":
		return "its worker is gone (no run lock is held)"
	case dead != nil && dead(c.Owner):
		return fmt.Sprintf("worker %s died", c.Owner)
	case !c.LockLive || c.LockHolder != c.Owner:
		return fmt.Sprintf("worker %s lost its run lock", c.Owner)
	}
	return ""
}

// ResendBlocked is why a key cannot be resent: no delivered content is
// kept (found false), or an entry of the key is queued, in error or
// leased (busy); nil when it can.
func ResendBlocked(found, busy bool) error {
	switch {
	case !found:
		return fmt.Errorf("no delivered content is kept: %w", store.ErrNotFound)
	case busy:
		return store.ErrNewerQueued
	}
	return nil
}
