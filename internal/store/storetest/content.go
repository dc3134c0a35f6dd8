package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// enqueueMode runs a test against EnqueuePage and EnqueueLeased alike:
// both follow the same coalescing and content rules.
type enqueueMode struct {
	name string
	// put enqueues one page at now and returns what EnqueueLeased handed
	// out (nil for EnqueuePage).
	put func(t testing.TB, s store.Store, now time.Time, es ...store.NewEntry) ([]store.Entry, store.EnqueueResult)
	// queued is the status a queued record gets.
	queued store.Status
}

var enqueueModes = []enqueueMode{
	{"EnqueuePage", func(t testing.TB, s store.Store, now time.Time, es ...store.NewEntry) ([]store.Entry, store.EnqueueResult) {
		return nil, enqueue(t, s, "orders", now, es...)
	}, store.StatusPending},
	{"EnqueueLeased", func(t testing.TB, s store.Store, now time.Time, es ...store.NewEntry) ([]store.Entry, store.EnqueueResult) {
		return enqueueLeased(t, s, "orders", "collector", now, es...)
	}, store.StatusLeased},
}

// deliver queues e, leases it and settles it done with its hash, so its
// content becomes the key's last delivered content. It returns the entry.
func deliver(t testing.TB, s store.Store, e store.NewEntry) store.Entry {
	t.Helper()
	got, _ := enqueueLeased(t, s, "orders", "deliverer", t0, e)
	if len(got) != 1 {
		t.Fatalf("deliver %s: enqueue leased returned %d entries", e.Key, len(got))
	}
	d := done(got[0])
	d.Hash = e.Hash
	settle(t, s, "deliverer", d)
	return got[0]
}

func keyEntries(t testing.TB, s store.Store, key string) []store.Entry {
	t.Helper()
	return list(t, s, store.EntryFilter{Route: "orders", Key: key})
}

// A record read again is compared with its key's content: the same
// payload as the queued entry, the same hash as the newest leased entry
// or, when the key has no entry, as the newest of its last delivered
// content and dead letter is not queued again (Unchanged). A queued entry
// is never dropped: it may have reached the destination.
func testEnqueueUnchanged(t *testing.T, open func(t *testing.T) store.Store) {
	later := t0.Add(time.Minute)
	rec := func(n int, hash string) store.NewEntry {
		return store.NewEntry{Key: "a", Payload: payload("a", n), Hash: hash}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s store.Store) store.Entry // returns the entry the case is about
		rec   store.NewEntry
		want  store.EnqueueResult
		check func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry)
	}{
		{
			name: "same payload as pending",
			setup: func(t *testing.T, s store.Store) store.Entry {
				enqueue(t, s, "orders", t0, rec(1, ""))
				return keyEntries(t, s, "a")[0]
			},
			rec: rec(1, ""), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantUntouched(t, s, before, got)
			},
		},
		{
			name: "same payload as error keeps its backoff and attempts",
			setup: func(t *testing.T, s store.Store) store.Entry {
				return makeError(t, s, "orders", "a", t0.Add(time.Hour))
			},
			rec: store.NewEntry{Key: "a", Payload: payload("a", 1)}, want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantUntouched(t, s, before, got)
			},
		},
		{
			name: "same hash as pending, other bytes",
			setup: func(t *testing.T, s store.Store) store.Entry {
				enqueue(t, s, "orders", t0, rec(1, "h1"))
				return keyEntries(t, s, "a")[0]
			},
			rec: rec(2, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantUntouched(t, s, before, got)
			},
		},
		{
			name: "new payload of an error is a new version with its full retries",
			setup: func(t *testing.T, s store.Store) store.Entry {
				enqueue(t, s, "orders", t0, rec(1, "h1"))
				st := retry(lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0], t0.Add(time.Hour), "timeout")
				st.Batch = "b1" // its request's outcome was unknown
				settle(t, s, "w", st)
				e := keyEntries(t, s, "a")[0]
				if e.Batch != "b1" || e.Attempts != 1 {
					t.Fatalf("setup: entry = %+v, want in batch b1 with 1 attempt", e)
				}
				return e
			},
			rec: rec(2, "h2"), want: store.EnqueueResult{Replaced: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				e := entry(t, s, before.ID)
				if e.Status != m.queued || e.Version != before.Version+1 || e.Attempts != 0 || e.LastError != "" || e.Hash != "h2" ||
					e.Batch != "" || !e.NextAttemptAt.Equal(later) {
					t.Errorf("entry = %+v; want %s, version %d, attempts, error and batch reset, hash h2, due %v", e, m.queued, before.Version+1, later)
				}
			},
		},
		{
			name: "same hash in flight",
			setup: func(t *testing.T, s store.Store) store.Entry {
				got, _ := enqueueLeased(t, s, "orders", "sender", t0, rec(1, "h1"))
				return got[0]
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 1 || es[0].ID != before.ID || es[0].LeaseOwner != "sender" {
					t.Errorf("entries of a = %+v, want only the one in flight", es)
				}
				if len(got) != 0 {
					t.Errorf("handed out %+v, want nothing", got)
				}
			},
		},
		{
			name: "other hash in flight",
			setup: func(t *testing.T, s store.Store) store.Entry {
				got, _ := enqueueLeased(t, s, "orders", "sender", t0, rec(1, "h1"))
				return got[0]
			},
			rec: rec(2, "h2"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 2 || es[1].Status != m.queued || es[1].Hash != "h2" {
					t.Errorf("entries of a = %+v, want a new one beside the one in flight", es)
				}
			},
		},
		{
			name: "same hash as delivered",
			setup: func(t *testing.T, s store.Store) store.Entry {
				return deliver(t, s, rec(1, "h1"))
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 0 || len(got) != 0 {
					t.Errorf("entries of a = %+v, handed out %+v; want nothing queued", es, got)
				}
				wantUnchangedAttempt(t, s, before)
			},
		},
		{
			// ABA: h1 delivered, h2 failed with an unknown outcome (it may
			// have been applied), h1 read again: h1 must be sent.
			name: "same hash as delivered replaces another version in error",
			setup: func(t *testing.T, s store.Store) store.Entry {
				deliver(t, s, rec(1, "h1"))
				enqueue(t, s, "orders", t0, rec(2, "h2"))
				settle(t, s, "w", retry(lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0], t0.Add(time.Hour), "timeout"))
				return keyEntries(t, s, "a")[0]
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Replaced: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantNewVersion(t, s, m, before, "h1", payload("a", 1))
			},
		},
		{
			// A crash mid-send released h2 back as pending (attempts 0),
			// though it may have reached the destination.
			name: "same hash as delivered replaces another version released after a crash",
			setup: func(t *testing.T, s store.Store) store.Entry {
				deliver(t, s, rec(1, "h1"))
				enqueueLeased(t, s, "orders", "killed", t0, rec(2, "h2"))
				release(t, s, "orders", time.Time{}, "killed")
				e := keyEntries(t, s, "a")[0]
				if e.Status != store.StatusPending || e.Hash != "h2" {
					t.Fatalf("setup: released entry = %+v, want pending h2", e)
				}
				return e
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Replaced: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantNewVersion(t, s, m, before, "h1", payload("a", 1))
			},
		},
		{
			name: "same hash as delivered and as the queued error",
			setup: func(t *testing.T, s store.Store) store.Entry {
				deliver(t, s, rec(1, "h1"))
				enqueue(t, s, "orders", t0, rec(1, "")) // sent again (resend_unchanged), failing
				settle(t, s, "w", retry(lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0], t0.Add(time.Hour), "timeout"))
				return keyEntries(t, s, "a")[0]
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantUntouched(t, s, before, got) // it is retried at its time
			},
		},
		{
			name: "same hash as the newest dead letter",
			setup: func(t *testing.T, s store.Store) store.Entry {
				return kill(t, s, rec(1, "h1"))
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 0 || len(got) != 0 {
					t.Errorf("entries of a = %+v, handed out %+v; want nothing queued (it waits for retry --dead)", es, got)
				}
				if dl := deadLetters(t, s, store.DeadFilter{Route: "orders", Key: "a"}); len(dl) != 1 {
					t.Errorf("dead letters of a = %+v, want the one", dl)
				}
				wantUnchangedAttempt(t, s, before)
			},
		},
		{
			name: "other hash than the newest dead letter",
			setup: func(t *testing.T, s store.Store) store.Entry {
				return kill(t, s, rec(1, "h1"))
			},
			rec: rec(2, "h2"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantQueued(t, s, m, "h2")
			},
		},
		{
			name: "same hash as a dead letter older than the delivered content",
			setup: func(t *testing.T, s store.Store) store.Entry {
				d := kill(t, s, rec(1, "h1"))
				deliver(t, s, rec(2, "h2"))
				return d
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantQueued(t, s, m, "h1")
			},
		},
		{
			// h2 died, perhaps after reaching the destination (unknown
			// outcomes until its attempts ran out): h1 must be sent.
			name: "same hash as delivered, a newer dead letter has another",
			setup: func(t *testing.T, s store.Store) store.Entry {
				d := deliver(t, s, rec(1, "h1"))
				kill(t, s, rec(2, "h2"))
				return d
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				wantQueued(t, s, m, "h1")
			},
		},
		{
			name: "same hash as an older leased entry, a newer one in flight has another",
			setup: func(t *testing.T, s store.Store) store.Entry {
				enqueueLeased(t, s, "orders", "sender", t0, rec(1, "h1"))
				got, _ := enqueueLeased(t, s, "orders", "sender", t0, rec(2, "h2"))
				return got[0]
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 3 || es[2].Hash != "h1" || es[2].Status != m.queued {
					t.Errorf("entries of a = %+v, want h1 queued after h2 in flight", es)
				}
			},
		},
		{
			name: "same hash as delivered keeps a resent entry",
			setup: func(t *testing.T, s store.Store) store.Entry {
				deliver(t, s, rec(1, "h1"))
				e, err := s.Resend(context.Background(), "orders", "a", "ann", t0)
				if err != nil {
					t.Fatal(err)
				}
				return e
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Unchanged: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				// The user asked for it to be sent again as it is.
				wantUntouched(t, s, before, got)
			},
		},
		{
			name: "same hash as delivered while another version is in flight",
			setup: func(t *testing.T, s store.Store) store.Entry {
				deliver(t, s, rec(1, "h1"))
				got, _ := enqueueLeased(t, s, "orders", "sender", t0, rec(2, "h2"))
				return got[0]
			},
			rec: rec(1, "h1"), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				// h2 will reach the destination: h1 must follow it.
				if es := keyEntries(t, s, "a"); len(es) != 2 || es[1].Hash != "h1" || es[1].Status != m.queued {
					t.Errorf("entries of a = %+v, want h1 queued beside h2 in flight", es)
				}
			},
		},
		{
			name: "no hash: delivered content is sent again",
			setup: func(t *testing.T, s store.Store) store.Entry {
				return deliver(t, s, rec(1, "h1"))
			},
			rec: rec(1, ""), want: store.EnqueueResult{Inserted: 1},
			check: func(t *testing.T, s store.Store, m enqueueMode, before store.Entry, got []store.Entry) {
				if es := keyEntries(t, s, "a"); len(es) != 1 || es[0].Status != m.queued {
					t.Errorf("entries of a = %+v, want one queued", es)
				}
			},
		},
	} {
		for _, m := range enqueueModes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				s := open(t)
				t.Cleanup(func() { _ = s.Close() })
				before := tc.setup(t, s)
				got, res := m.put(t, s, later, tc.rec, store.NewEntry{Key: "other", Payload: payload("other", 1)})
				want := tc.want
				want.Inserted++ // "other"
				if res != want {
					t.Fatalf("result = %+v, want %+v", res, want)
				}
				if m.queued == store.StatusLeased {
					n := want.Inserted + want.Replaced
					if len(got) != n {
						t.Fatalf("handed out %d entries (%v), want %d", len(got), entryKeys(got), n)
					}
					got = got[:len(got)-1] // "other" comes last
				}
				tc.check(t, s, m, before, got)
			})
		}
	}
}

// kill queues e leased, settles it dead and returns it: its content is
// the key's newest dead letter.
func kill(t testing.TB, s store.Store, e store.NewEntry) store.Entry {
	t.Helper()
	got, _ := enqueueLeased(t, s, "orders", "killer", t0, e)
	if len(got) != 1 {
		t.Fatalf("kill %s: enqueue leased returned %d entries", e.Key, len(got))
	}
	settle(t, s, "killer", dead(got[0], t0, "422 unprocessable"))
	return got[0]
}

// wantNewVersion checks that before was replaced by a new version with
// hash and p, its attempts, error and batch reset, queued as m queues.
func wantNewVersion(t *testing.T, s store.Store, m enqueueMode, before store.Entry, hash string, p []byte) {
	t.Helper()
	e := entry(t, s, before.ID)
	if e.Status != m.queued || e.Version != before.Version+1 || e.Attempts != 0 || e.LastError != "" || e.Hash != hash || e.Batch != "" {
		t.Errorf("entry = %+v; want %s, version %d, attempts and error reset, hash %s", e, m.queued, before.Version+1, hash)
	}
	wantJSON(t, "new version", e.Payload, p)
	if es := keyEntries(t, s, before.Key); len(es) != 1 {
		t.Errorf("entries of %s = %+v, want the one", before.Key, es)
	}
}

// wantQueued checks that key a has exactly one entry, queued with hash.
func wantQueued(t *testing.T, s store.Store, m enqueueMode, hash string) {
	t.Helper()
	if es := keyEntries(t, s, "a"); len(es) != 1 || es[0].Status != m.queued || es[0].Hash != hash {
		t.Errorf("entries of a = %+v, want one queued with hash %s", es, hash)
	}
}

// wantUntouched checks that before is stored exactly as it was.
func wantUntouched(t *testing.T, s store.Store, before store.Entry, got []store.Entry) {
	t.Helper()
	after := entry(t, s, before.ID)
	if after.Version != before.Version || after.Status != before.Status || after.Attempts != before.Attempts ||
		!after.NextAttemptAt.Equal(before.NextAttemptAt) || !after.UpdatedAt.Equal(before.UpdatedAt) || after.Hash != before.Hash {
		t.Errorf("entry = %+v, want untouched %+v", after, before)
	}
	wantJSON(t, "untouched", after.Payload, before.Payload)
	if len(got) != 0 {
		t.Errorf("handed out %+v; an unchanged queued entry stays for the normal passes", got)
	}
}

// wantUnchangedAttempt checks that the key's history ends with an
// unchanged attempt under the delivered entry.
func wantUnchangedAttempt(t *testing.T, s store.Store, delivered store.Entry) {
	t.Helper()
	at, err := s.KeyAttempts(context.Background(), "orders", delivered.Key, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := at[len(at)-1]
	if last.Outcome != store.OutcomeUnchanged || last.EntryID != delivered.ID || last.Version != delivered.Version ||
		last.Route != "orders" || last.Op != "" || !last.At.Equal(t0.Add(time.Minute)) {
		t.Errorf("last attempt of %s = %+v, want unchanged under entry %d version %d", delivered.Key, last, delivered.ID, delivered.Version)
	}
}

// Duplicate keys in a page: the last one counts, compared like any record.
func testEnqueueDuplicateUnchanged(t *testing.T, s store.Store) {
	deliver(t, s, store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"})
	res := enqueue(t, s, "orders", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 2), Hash: "h2"},
		store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"},
	)
	if res != (store.EnqueueResult{Replaced: 1, Unchanged: 1}) {
		t.Errorf("result = %+v, want the first replaced within the page, the last unchanged", res)
	}
	if es := keyEntries(t, s, "a"); len(es) != 0 {
		t.Errorf("entries of a = %+v; the last read is the delivered content, nothing to send", es)
	}
}

func testSettleRecordsDelivered(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.LastDelivered(ctx, "orders", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LastDelivered of a new key = %v, want store.ErrNotFound", err)
	}
	got, _ := enqueueLeased(t, s, "orders", "w", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "ha"},
		store.NewEntry{Key: "skip", Payload: payload("skip", 1)},
		store.NewEntry{Key: "retry", Payload: payload("retry", 1)},
		store.NewEntry{Key: "notmine", Payload: payload("notmine", 1)},
	)
	a := done(got[0])
	a.Hash = "ha"
	a.Attempt.At = t0.Add(time.Second)
	settle(t, s, "w", a,
		store.Settlement{EntryID: got[1].ID, Outcome: store.OutcomeSkipped, Attempt: store.Attempt{At: t0}},
		retry(got[2], t0, "busy"))
	settle(t, s, "intruder", done(got[3]))

	d, err := s.LastDelivered(ctx, "orders", "a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Route != "orders" || d.Key != "a" || d.EntryID != got[0].ID || d.Version != got[0].Version || d.Hash != "ha" || !d.DeliveredAt.Equal(t0.Add(time.Second)) {
		t.Errorf("LastDelivered = %+v; want entry %d, hash ha, delivered at the attempt's time", d, got[0].ID)
	}
	wantJSON(t, "delivered", d.Payload, payload("a", 1))
	for _, k := range []string{"skip", "retry", "notmine"} {
		if d, err := s.LastDelivered(ctx, "orders", k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LastDelivered(%s) = %+v, %v; want store.ErrNotFound (not delivered, or not the owner's)", k, d, err)
		}
	}
	if _, err := s.LastDelivered(ctx, "stock", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastDelivered of another route = %v, want store.ErrNotFound", err)
	}
}

// An older version settled done after a newer one never hides the newer
// content, whether in separate settlements or in one.
func testSettleDeliveredKeepsNewest(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, together := range []bool{false, true} {
		key := "sep"
		if together {
			key = "one"
		}
		old, _ := enqueueLeased(t, s, "orders", "w", t0, store.NewEntry{Key: key, Payload: payload(key, 1), Hash: "h1"})
		newer, _ := enqueueLeased(t, s, "orders", "w", t0, store.NewEntry{Key: key, Payload: payload(key, 2), Hash: "h2"})
		dn, do := done(newer[0]), done(old[0])
		dn.Hash, do.Hash = "h2", "h1"
		if together {
			settle(t, s, "w", dn, do)
		} else {
			settle(t, s, "w", dn)
			settle(t, s, "w", do)
		}
		d, err := s.LastDelivered(ctx, "orders", key)
		if err != nil {
			t.Fatal(err)
		}
		if d.EntryID != newer[0].ID || d.Hash != "h2" {
			t.Errorf("together=%v: LastDelivered = %+v, want the newer entry %d", together, d, newer[0].ID)
		}
		wantJSON(t, "delivered", d.Payload, payload(key, 2))
	}
}

// A failed older version whose key was delivered newer meanwhile is not
// retried (nor released back): it would overwrite the newer data.
func testSupersededByDelivered(t *testing.T, s store.Store) {
	for _, how := range []string{"retry", "release"} {
		key := "k-" + how
		old, _ := enqueueLeased(t, s, "orders", "w1", t0, store.NewEntry{Key: key, Payload: payload(key, 1)})
		newer, _ := enqueueLeased(t, s, "orders", "w2", t0, store.NewEntry{Key: key, Payload: payload(key, 2)})
		settle(t, s, "w2", done(newer[0]))
		switch how {
		case "retry":
			settle(t, s, "w1", retry(old[0], t0.Add(time.Minute), "timeout"))
			if at := attempts(t, s, old[0].ID); len(at) != 1 {
				t.Errorf("superseded retry's attempts = %+v, want recorded", at)
			}
		case "release":
			if n := release(t, s, "orders", time.Time{}, "w1"); n != 1 {
				t.Errorf("released %d, want 1 (dropped)", n)
			}
		}
		gone(t, s, old[0].ID)
		if es := keyEntries(t, s, key); len(es) != 0 {
			t.Errorf("%s: entries of the key = %+v, want none", how, es)
		}
	}
}

// The error pass leases a batch whose outcome was unknown alone and whole,
// beyond the limit, so the retry repeats the same request.
func testLeaseErrorBatch(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c", "d", "e")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	due := t0.Add(time.Minute)
	inBatch := func(e store.Entry, next time.Time, batch string) store.Settlement {
		st := retry(e, next, "timeout")
		st.Batch = batch
		return st
	}
	// b is due first and unbatched; a, c, e form batch B1, due a bit later.
	settle(t, s, "w",
		inBatch(got[0], due.Add(time.Second), "B1"),
		inBatch(got[1], due, ""),
		inBatch(got[2], due.Add(time.Second), "B1"),
		inBatch(got[3], due.Add(2*time.Second), ""),
		inBatch(got[4], due.Add(time.Second), "B1"),
	)
	if e := entry(t, s, got[0].ID); e.Batch != "B1" {
		t.Fatalf("batch of a = %q, want B1", e.Batch)
	}
	now := due.Add(time.Hour)
	first := lease(t, s, "orders", "w", 10, store.LeaseErrors, now)
	if want := []string{"b", "d"}; !equal(entryKeys(first), want) {
		t.Fatalf("first error lease = %v, want the unbatched %v (b is due first)", entryKeys(first), want)
	}
	batch := lease(t, s, "orders", "w", 1, store.LeaseErrors, now)
	if want := []string{"a", "c", "e"}; !equal(entryKeys(batch), want) {
		t.Fatalf("second error lease (limit 1) = %v, want the whole batch %v in ID order", entryKeys(batch), want)
	}
	for _, e := range batch {
		if e.Batch != "B1" {
			t.Errorf("leased %s batch = %q, want B1", e.Key, e.Batch)
		}
	}
	// Failing again outside a batch clears it; a new payload does too.
	settle(t, s, "w", inBatch(batch[0], now, ""), inBatch(batch[1], now, "B2"), inBatch(batch[2], now, "B2"))
	if e := entry(t, s, batch[0].ID); e.Batch != "" {
		t.Errorf("batch after an unbatched retry = %q, want none", e.Batch)
	}
	enqueue(t, s, "orders", now, store.NewEntry{Key: "c", Payload: payload("c", 2)})
	if e := entry(t, s, batch[1].ID); e.Batch != "" || e.Status != store.StatusPending {
		t.Errorf("entry c after a new payload = %+v, want pending in no batch", e)
	}
	if e := entry(t, s, batch[2].ID); e.Batch != "B2" {
		t.Errorf("entry e batch = %q, want B2", e.Batch)
	}
}
