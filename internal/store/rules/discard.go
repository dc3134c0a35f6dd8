package rules

import (
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Now is t, or the current time when t is zero (a selector's Now).
func Now(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// DiscardWhy is the error text of a discarded attempt: who discarded and
// why, as far as sel tells.
func DiscardWhy(sel store.DiscardSelector) string {
	why := "discarded by " + sel.Who
	if sel.Who == "" {
		why = "discarded"
	}
	if sel.Why != "" {
		why += ": " + sel.Why
	}
	return why
}

// MarkDiscarded makes attempts naming discarded entries and dead letters
// into their discard attempts.
func MarkDiscarded(attempts []store.Attempt, now time.Time, why string) {
	for i := range attempts {
		attempts[i].At, attempts[i].Outcome, attempts[i].Op, attempts[i].Error = now, store.OutcomeDiscarded, "discard", why
	}
}

// MarkDiscardedOps makes attempts naming discarded dead outbox items (Op
// set to the item's operation) into their discard attempts.
func MarkDiscardedOps(ops []store.Attempt, now time.Time, why string) {
	for i := range ops {
		ops[i].At, ops[i].Outcome, ops[i].Error = now, store.OutcomeDiscarded, why
	}
}

// ResendAttempt is the attempt recording that who queued e, a key's last
// delivered content, again.
func ResendAttempt(e store.Entry, who string, now time.Time) store.Attempt {
	why := "resent by " + who
	if who == "" {
		why = "resent"
	}
	return store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version,
		At: now, Outcome: store.OutcomeReplayed, Op: "resend", Error: why}
}
