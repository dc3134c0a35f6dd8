package rules

import (
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
)

// AttemptIncrement is how much a settlement adds to its entry's attempts:
// 1 when it tried a delivery, 0 when it did not (store.Settlement).
func AttemptIncrement(st store.Settlement) int {
	if st.CountAttempt {
		return 1
	}
	return 0
}

// CheckExtend checks an ExtendLeases call: none says there is nothing to
// extend (no IDs); an empty owner is an error.
func CheckExtend(owner string, ids []int64) (none bool, err error) {
	if len(ids) == 0 {
		return true, nil
	}
	if owner == "" {
		return false, errors.New("extend leases: empty owner")
	}
	return false, nil
}

// CheckOutboxLease checks a LeaseOutbox call: none says there is nothing
// to lease (no limit); an empty owner is an error.
func CheckOutboxLease(route, owner string, limit int) (none bool, err error) {
	if limit <= 0 {
		return true, nil
	}
	if owner == "" {
		return false, fmt.Errorf("lease outbox of route %q: empty owner", route)
	}
	return false, nil
}

// NewExport is the chunk size an Export uses (1000 when chunk is not
// positive) and the ExportInfo it fills.
func NewExport(chunk int) (int, store.ExportInfo) {
	if chunk <= 0 {
		chunk = 1000
	}
	return chunk, store.ExportInfo{Sequences: map[string]int64{}, Counts: map[string]int64{}}
}

// CheckLease checks a Lease request: none says there is nothing to lease
// (no limit); an empty owner is an error.
func CheckLease(req store.LeaseRequest) (none bool, err error) {
	if req.Limit <= 0 {
		return true, nil
	}
	if req.Owner == "" {
		return false, fmt.Errorf("lease route %q: empty owner", req.Route)
	}
	return false, nil
}

// InRun sets the run ID of attempts (the route's running run, see the
// stores' inRunningRun), so the history tells which run read the records.
func InRun(attempts []store.Attempt, runID int64) {
	for i := range attempts {
		attempts[i].RunID = runID
	}
}
