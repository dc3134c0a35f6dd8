package rules

import (
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// DeadLetter names one dead letter, a candidate of a replay.
type DeadLetter struct {
	ID, EntryID int64
	Route, Key  string
	Version     int64
}

// NewestPerKey keeps the newest dead letter of each route and key of
// letters (newest first, by ID) and returns them in the order they died:
// of several dead letters of a key only the newest is replayed.
func NewestPerKey(letters []DeadLetter) []DeadLetter {
	var newest []DeadLetter
	seen := map[[2]string]bool{}
	for _, d := range letters {
		if rk := [2]string{d.Route, d.Key}; !seen[rk] {
			seen[rk] = true
			newest = append(newest, d)
		}
	}
	for i, j := 0, len(newest)-1; i < j; i, j = i+1, j-1 {
		newest[i], newest[j] = newest[j], newest[i]
	}
	return newest
}

// Replayed is the attempt naming the requeued dead letter d, before
// MarkReplayed.
func (d DeadLetter) Replayed() store.Attempt {
	return store.Attempt{EntryID: d.EntryID, Route: d.Route, Key: d.Key, Version: d.Version}
}

// MarkReplayed makes attempts naming requeued entries into their replay
// attempts.
func MarkReplayed(attempts []store.Attempt, now time.Time) {
	for i := range attempts {
		attempts[i].At, attempts[i].Outcome, attempts[i].Op = now, store.OutcomeReplayed, "retry"
	}
}
