package rules

import (
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Settled is what Settle learns of an entry as it settles it (or looks
// it up), to fill in attempts and outbox items the caller left bare.
type Settled struct {
	Route, Key string
	Version    int64
}

// Bare reports whether a lacks what Settle can fill in from its entry.
func Bare(a store.Attempt) bool {
	return a.Route == "" || a.Key == "" || a.Version == 0
}

// AttemptAt is when st's attempt happened: its own time, or now.
func AttemptAt(st store.Settlement) time.Time {
	if st.Attempt.At.IsZero() {
		return time.Now()
	}
	return st.Attempt.At
}

// Unsettled lists the entries of settlements that Settle did not settle
// (not in settled) and whose attempts are bare: to be looked up.
func Unsettled(settlements []store.Settlement, settled map[int64]Settled) []int64 {
	var ids []int64
	for _, st := range settlements {
		if _, ok := settled[st.EntryID]; !ok && Bare(st.Attempt) {
			ids = append(ids, st.EntryID)
		}
	}
	return ids
}

// SettleAttempts is the attempt of each settlement, what it leaves out
// filled in from its entry (in settled), at now when it has no time. An
// unknown entry's bare attempt has nowhere to go and is left out.
func SettleAttempts(settlements []store.Settlement, settled map[int64]Settled, now time.Time) []store.Attempt {
	attempts := make([]store.Attempt, 0, len(settlements))
	for _, st := range settlements {
		a := st.Attempt
		if a.EntryID == 0 {
			a.EntryID = st.EntryID
		}
		if e, ok := settled[st.EntryID]; ok {
			if a.Route == "" {
				a.Route = e.Route
			}
			if a.Key == "" {
				a.Key = e.Key
			}
			if a.Version == 0 {
				a.Version = e.Version
			}
		}
		if a.At.IsZero() {
			a.At = now
		}
		if a.Outcome == "" {
			a.Outcome = st.Outcome
		}
		if a.Route != "" {
			attempts = append(attempts, a)
		}
	}
	return attempts
}

// Owed is an outbox item a settlement leaves to store.
type Owed struct {
	EntryID int64 // of the settlement
	Item    store.OutboxItem
}

// OwedOutbox lists the outbox items of settlements that took effect
// (their entry is in settled), what they leave out filled in from the
// entry and the attempt's time. A settlement that did not take effect
// owes nothing: its entry is not ours any more, and whoever settles it
// owes the operations.
func OwedOutbox(settlements []store.Settlement, settled map[int64]Settled) []Owed {
	var out []Owed
	for _, st := range settlements {
		if len(st.Outbox) == 0 {
			continue
		}
		e, ok := settled[st.EntryID]
		if !ok || (st.Attempt.Version != 0 && e.Version != st.Attempt.Version) {
			continue // not settled, or settled in another version (by its own settlement)
		}
		at := AttemptAt(st)
		for _, o := range st.Outbox {
			if o.Route == "" {
				o.Route = e.Route
			}
			if o.Key == "" {
				o.Key = e.Key
			}
			if o.Version == 0 {
				o.Version = e.Version
			}
			if o.EntryID == 0 {
				o.EntryID = st.EntryID
			}
			if o.CreatedAt.IsZero() {
				o.CreatedAt = at
			}
			if o.NextAttemptAt.IsZero() {
				o.NextAttemptAt = o.CreatedAt
			}
			out = append(out, Owed{EntryID: st.EntryID, Item: o})
		}
	}
	return out
}

// OutboxLookup says whether the settlement of an outbox item that its
// statement did not find (found false) must look the item up to fill
// its attempt.
func OutboxLookup(a store.Attempt, found bool) bool {
	return !found && (Bare(a) || a.EntryID == 0 || a.Op == "")
}

// OutboxAttempt is the attempt of an outbox settlement, what it leaves
// out filled in from the item o, at now when it has no time; ok is false
// for an unknown item's bare attempt, which has nowhere to go.
func OutboxAttempt(st store.OutboxSettlement, o store.OutboxItem, now time.Time) (a store.Attempt, ok bool) {
	a = st.Attempt
	if a.Route == "" {
		a.Route = o.Route
	}
	if a.Key == "" {
		a.Key = o.Key
	}
	if a.Version == 0 {
		a.Version = o.Version
	}
	if a.EntryID == 0 {
		a.EntryID = o.EntryID
	}
	if a.Op == "" {
		a.Op = o.Op
	}
	if a.Outcome == "" {
		a.Outcome = st.Outcome
	}
	if a.At.IsZero() {
		a.At = now
	}
	return a, a.Route != ""
}

// AddSettled reads (id, route, key, version) rows into m; the caller
// closes rows.
func AddSettled(rows Rows, m map[int64]Settled) error {
	for rows.Next() {
		var (
			id int64
			e  Settled
		)
		if err := rows.Scan(&id, &e.Route, &e.Key, &e.Version); err != nil {
			return err
		}
		m[id] = e
	}
	return rows.Err()
}
