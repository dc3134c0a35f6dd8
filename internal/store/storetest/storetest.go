// Package storetest is the conformance suite every store.Store passes
// unchanged, in the manner of riverqueue's riverdrivertest: an
// implementation's own test calls Run with a function opening a fresh,
// empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// t0 is the suite's clock: whole milliseconds, as stores keep times.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// Run runs the conformance suite. open must return a fresh, empty store;
// Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunSkipping(t, open, nil)
}

// RunSkipping is Run with the cases named in skip (by their name under
// the suite, e.g. "Settle/Retry") skipped, each with its reason: for an
// implementation that does not pass everything yet. A name that is no
// case of the suite fails the test, so the list cannot go stale.
func RunSkipping(t *testing.T, open func(t *testing.T) store.Store, skip map[string]string) {
	skipped := func(t *testing.T, name string) {
		t.Helper()
		if why, ok := skip[name]; ok {
			t.Skip(why)
		}
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Enqueue/Insert", testEnqueueInsert},
		{"Enqueue/CoalescesPending", testEnqueueCoalescesPending},
		{"Enqueue/CoalescesError", testEnqueueCoalescesError},
		{"Enqueue/LeasedQueuesBeside", testEnqueueLeasedQueuesBeside},
		{"Enqueue/DuplicateKeysInPage", testEnqueueDuplicateKeysInPage},
		{"Enqueue/LargePage", testEnqueueLargePage},
		{"Enqueue/RoutesAreSeparate", testEnqueueRoutesAreSeparate},
		{"Enqueue/Cursor", testEnqueueCursor},
		{"EnqueueLeased/Insert", testEnqueueLeasedInsert},
		{"EnqueueLeased/CoalescesPending", testEnqueueLeasedCoalescesPending},
		{"EnqueueLeased/CoalescesError", testEnqueueLeasedCoalescesError},
		{"EnqueueLeased/BesideLeased", testEnqueueLeasedBesideLeased},
		{"EnqueueLeased/DuplicateKeysInPage", testEnqueueLeasedDuplicateKeys},
		{"EnqueueLeased/LargePage", testEnqueueLeasedLargePage},
		{"EnqueueLeased/Cursor", testEnqueueLeasedCursor},
		{"EnqueueLeased/ReleasedWhenOwnerDies", testEnqueueLeasedRelease},
		{"EnqueueLeased/Settle", testEnqueueLeasedSettle},
		{"Lease/Limit", testLeaseLimit},
		{"Lease/PriorityOrder", testLeasePriorityOrder},
		{"Lease/ErrorPassOnlyDue", testLeaseErrorPassOnlyDue},
		{"Lease/ConcurrentOwnersNeverShare", testLeaseConcurrent},
		{"Enqueue/DuplicateUnchanged", testEnqueueDuplicateUnchanged},
		{"Settle/Done", testSettleDone},
		{"Settle/RecordsDelivered", testSettleRecordsDelivered},
		{"Settle/DeliveredKeepsNewest", testSettleDeliveredKeepsNewest},
		{"Settle/SupersededByDelivered", testSupersededByDelivered},
		{"Lease/ErrorBatch", testLeaseErrorBatch},
		{"Outbox/StoredWithSettlement", testOutboxStoredWithSettlement},
		{"Outbox/LeaseAndSettle", testOutboxLeaseAndSettle},
		{"Outbox/Release", testOutboxRelease},
		{"Settle/Retry", testSettleRetry},
		{"Settle/RetrySuperseded", testSettleRetrySuperseded},
		{"Settle/RetrySupersededByLeased", testSettleRetrySupersededByLeased},
		{"Settle/Dead", testSettleDead},
		{"Settle/Skipped", testSettleSkipped},
		{"Settle/Mixed", testSettleMixed},
		{"Settle/NotOwnerIgnored", testSettleNotOwner},
		{"Settle/ExpiredAndReleased", testSettleExpiredLease},
		{"ReleaseLeases/Expired", testReleaseExpired},
		{"ReleaseLeases/ByOwner", testReleaseByOwner},
		{"ReleaseLeases/Superseded", testReleaseSuperseded},
		{"ReleaseLeases/TwoLeasedVersions", testReleaseTwoLeasedVersions},
		{"Replay/DeadByKey", testReplayDeadByKey},
		{"Replay/AllDead", testReplayAllDead},
		{"Replay/DeadWithQueuedKey", testReplayDeadWithQueuedKey},
		{"Replay/Errors", testReplayErrors},
		{"Replay/ErrorsHistory", testReplayErrorsHistory},
		{"Replay/OverOlderQueued", testReplayOverOlderQueued},
		{"Resend", testResend},
		{"Deletes", testDeletes},
		{"DeadLetter/Hash", testDeadLetterHash},
		{"Discard/KeepsContent", testDiscardKeepsContent},
		{"Outbox/GivenUp", testOutboxGivenUp},
		{"Enqueue/UnchangedInRunningRun", testUnchangedInRunningRun},
		{"Prune/UnchangedOfDeadLetter", testPruneUnchangedOfDeadLetter},
		{"Counts", testCounts},
		{"NextDue", testNextDue},
		{"Entries/FiltersAndPaging", testEntriesFilters},
		{"Attempts/Recent", testRecentAttempts},
		{"Attempts/ByKey", testKeyAttempts},
		{"LockRoute", testLockRoute},
		{"Runs", testRuns},
		{"Runs/Abandon", testAbandonRuns},
		{"ID", testID},
		{"NotFound", testNotFound},
		{"Accept/InOrder", testAcceptInOrder},
		{"Accept/Duplicates", testAcceptDuplicates},
		{"Accept/SeveralPushes", testAcceptSeveralPushes},
		{"Accept/Leased", testAcceptLeased},
		{"ExtendLeases", testExtendLeases},
		{"Lead", testLead},
		{"Processes", testProcesses},
		{"ClaimTick", testClaimTick},
		{"ClaimTick/Race", testClaimTickRace},
		{"ListRuns", testListRuns},
		{"AllRoutes/Leases", testAllRoutesLeases},
		{"AllRoutes/Outbox", testAllRoutesOutbox},
		{"Lease/Race", testLeaseRace},
		{"Replay/WhileLeased", testReplayWhileLeased},
		{"Settle/ReplacedVersion", testSettleOfReplacedVersion},
	}
	t.Run("Enqueue/Unchanged", func(t *testing.T) {
		skipped(t, "Enqueue/Unchanged")
		t.Parallel()
		testEnqueueUnchanged(t, open)
	})
	t.Run("Prune", func(t *testing.T) {
		skipped(t, "Prune")
		t.Parallel()
		testPrune(t, open)
	})
	t.Run("Discard", func(t *testing.T) {
		skipped(t, "Discard")
		t.Parallel()
		testDiscard(t, open)
	})
	t.Run("Accept/Unchanged", func(t *testing.T) {
		skipped(t, "Accept/Unchanged")
		t.Parallel()
		testAcceptUnchanged(t, open)
	})
	t.Run("Settle/AfterTakeOver", func(t *testing.T) {
		skipped(t, "Settle/AfterTakeOver")
		t.Parallel()
		testSettleAfterTakeOver(t, open)
	})
	t.Run("Replay/Superseded", func(t *testing.T) {
		skipped(t, "Replay/Superseded")
		t.Parallel()
		testReplaySuperseded(t, open)
	})
	known := map[string]bool{"Enqueue/Unchanged": true, "Prune": true, "Discard": true,
		"Accept/Unchanged": true, "Settle/AfterTakeOver": true, "Replay/Superseded": true}
	for _, tc := range tests {
		known[tc.name] = true
	}
	for name := range skip {
		if !known[name] {
			t.Errorf("skip list: %q is no case of the conformance suite", name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			skipped(t, tc.name)
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// --- helpers ---

func payload(key string, n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":%q,"n":%d}`, key, n))
}

func enqueue(t testing.TB, s store.Store, route string, now time.Time, entries ...store.NewEntry) store.EnqueueResult {
	t.Helper()
	res, err := s.EnqueuePage(context.Background(), route, entries, nil, now)
	if err != nil {
		t.Fatalf("EnqueuePage(%q): %v", route, err)
	}
	return res
}

func keys(route string, ks ...string) []store.NewEntry {
	out := make([]store.NewEntry, len(ks))
	for i, k := range ks {
		out[i] = store.NewEntry{Key: k, Payload: payload(k, 1)}
	}
	return out
}

func lease(t testing.TB, s store.Store, route, owner string, limit int, mode store.LeaseMode, now time.Time) []store.Entry {
	t.Helper()
	got, err := s.Lease(context.Background(), store.LeaseRequest{
		Route: route, Owner: owner, Limit: limit, Mode: mode, Now: now, Until: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatalf("Lease(%q, %q): %v", route, owner, err)
	}
	return got
}

func settle(t testing.TB, s store.Store, owner string, ss ...store.Settlement) {
	t.Helper()
	if err := s.Settle(context.Background(), owner, ss); err != nil {
		t.Fatalf("Settle(%q): %v", owner, err)
	}
}

func entry(t testing.TB, s store.Store, id int64) store.Entry {
	t.Helper()
	e, err := s.Entry(context.Background(), id)
	if err != nil {
		t.Fatalf("Entry(%d): %v", id, err)
	}
	return e
}

func gone(t testing.TB, s store.Store, id int64) {
	t.Helper()
	if e, err := s.Entry(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Entry(%d) = %+v, %v; want store.ErrNotFound", id, e, err)
	}
}

func list(t testing.TB, s store.Store, f store.EntryFilter) []store.Entry {
	t.Helper()
	got, err := s.Entries(context.Background(), f)
	if err != nil {
		t.Fatalf("Entries(%+v): %v", f, err)
	}
	return got
}

func attempts(t testing.TB, s store.Store, id int64) []store.Attempt {
	t.Helper()
	got, err := s.Attempts(context.Background(), id)
	if err != nil {
		t.Fatalf("Attempts(%d): %v", id, err)
	}
	return got
}

func counts(t testing.TB, s store.Store, route string) store.Counts {
	t.Helper()
	c, err := s.Counts(context.Background(), route)
	if err != nil {
		t.Fatalf("Counts(%q): %v", route, err)
	}
	return c
}

func deadLetters(t testing.TB, s store.Store, f store.DeadFilter) []store.DeadLetter {
	t.Helper()
	got, err := s.DeadLetters(context.Background(), f)
	if err != nil {
		t.Fatalf("DeadLetters(%+v): %v", f, err)
	}
	return got
}

func replay(t testing.TB, s store.Store, sel store.ReplaySelector) int {
	t.Helper()
	rr, err := s.Replay(context.Background(), sel)
	if err != nil {
		t.Fatalf("Replay(%+v): %v", sel, err)
	}
	return rr.Replayed
}

func release(t testing.TB, s store.Store, route string, now time.Time, owners ...string) int {
	t.Helper()
	n, err := s.ReleaseLeases(context.Background(), route, now, owners)
	if err != nil {
		t.Fatalf("ReleaseLeases(%q): %v", route, err)
	}
	return n
}

func ids(es []store.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func entryKeys(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantJSON(t testing.TB, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: payload %q is not JSON: %v", what, got, err)
	}
	_ = json.Unmarshal(want, &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s: payload = %s, want %s", what, got, want)
	}
}

// retry settles e as a counted failure due at next.
func retry(e store.Entry, next time.Time, msg string) store.Settlement {
	return store.Settlement{
		EntryID: e.ID, Outcome: store.OutcomeRetry, Error: msg, NextAttemptAt: next, CountAttempt: true,
		Attempt: store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, At: t0, Outcome: store.OutcomeRetry, StatusCode: 503, Error: msg},
	}
}

func done(e store.Entry) store.Settlement {
	return store.Settlement{
		EntryID: e.ID, Outcome: store.OutcomeDone, CountAttempt: true,
		Attempt: store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, At: t0, Outcome: store.OutcomeDone, StatusCode: 200},
	}
}

func dead(e store.Entry, at time.Time, msg string) store.Settlement {
	return store.Settlement{
		EntryID: e.ID, Outcome: store.OutcomeDead, Error: msg, CountAttempt: true,
		Attempt: store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, At: at, Outcome: store.OutcomeDead, StatusCode: 400, Error: msg},
	}
}

// makeError queues key and turns it into an E entry due at next.
func makeError(t testing.TB, s store.Store, route, key string, next time.Time) store.Entry {
	t.Helper()
	enqueue(t, s, route, t0, keys(route, key)...)
	got := lease(t, s, route, "w", 100, store.LeasePending, t0)
	for _, e := range got {
		if e.Key == key {
			settle(t, s, "w", retry(e, next, "boom"))
			return entry(t, s, e.ID)
		}
	}
	t.Fatalf("makeError: key %q not leased", key)
	return store.Entry{}
}

// makeDead queues key and kills it.
func makeDead(t testing.TB, s store.Store, route, key string, n int) store.Entry {
	t.Helper()
	enqueue(t, s, route, t0, store.NewEntry{Key: key, Payload: payload(key, n), Priority: 3})
	for _, e := range lease(t, s, route, "w", 100, store.LeasePending, t0) {
		if e.Key == key {
			settle(t, s, "w", dead(e, t0.Add(time.Second), "bad request"))
			return e
		}
	}
	t.Fatalf("makeDead: key %q not leased", key)
	return store.Entry{}
}
