package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testDiscard(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name      string
		sel       store.DiscardSelector
		want      int
		wantGone  []string // keys discarded
		wantError string   // attempt error
	}{
		{"errors of a key", store.DiscardSelector{Route: "orders", Key: "e1", Errors: true, Who: "ann@host", Why: "fixed by hand"}, 1, []string{"e1"}, "discarded by ann@host: fixed by hand"},
		{"all errors", store.DiscardSelector{Route: "orders", Errors: true, Who: "ann@host"}, 2, []string{"e1", "e2"}, "discarded by ann@host"},
		{"dead letters", store.DiscardSelector{Route: "orders", Dead: true, Who: "bob"}, 2, []string{"d1", "d2"}, "discarded by bob"},
		{"dead letter of a key that is also in error", store.DiscardSelector{Route: "orders", Key: "d1", Dead: true, Errors: true, Who: "bob"}, 1, []string{"d1"}, "discarded by bob"},
		{"both", store.DiscardSelector{Route: "orders", Dead: true, Errors: true, Who: "bob", Why: "stale"}, 4, []string{"e1", "e2", "d1", "d2"}, "discarded by bob: stale"},
		{"pending and leased never", store.DiscardSelector{Route: "orders", Key: "p", Dead: true, Errors: true, Who: "bob"}, 0, nil, ""},
		{"nothing selected", store.DiscardSelector{Route: "orders", Who: "bob"}, 0, nil, ""},
		{"another route", store.DiscardSelector{Route: "stock", Dead: true, Errors: true, Who: "bob"}, 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			ids := map[string]int64{}
			for _, k := range []string{"d1", "d2"} {
				ids[k] = makeDead(t, s, "orders", k, 1).ID
			}
			for _, k := range []string{"e1", "e2"} {
				ids[k] = makeError(t, s, "orders", k, t0.Add(time.Hour)).ID
			}
			enqueue(t, s, "orders", t0, keys("orders", "p", "l")...)
			for _, e := range lease(t, s, "orders", "w", 1, store.LeasePending, t0) {
				ids[e.Key] = e.ID
			}
			before := counts(t, s, "orders")
			tc.sel.Now = now
			n, err := s.Discard(ctx, tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Fatalf("discarded %d, want %d", n, tc.want)
			}
			after := counts(t, s, "orders")
			if after.Pending != before.Pending || after.Leased != before.Leased {
				t.Errorf("counts %+v -> %+v: pending or leased entries touched", before, after)
			}
			if after.Error+after.Dead != before.Error+before.Dead-tc.want {
				t.Errorf("counts %+v -> %+v, want %d fewer errors and dead letters", before, after, tc.want)
			}
			for _, k := range tc.wantGone {
				at := attempts(t, s, ids[k])
				last := at[len(at)-1]
				if last.Outcome != store.OutcomeDiscarded || last.Op != "discard" || last.Error != tc.wantError ||
					last.Key != k || last.Route != "orders" || last.Version == 0 || !last.At.Equal(now) {
					t.Errorf("last attempt of %s = %+v, want discarded, op discard, error %q", k, last, tc.wantError)
				}
				if es := keyEntries(t, s, k); len(es) != 0 {
					t.Errorf("%s still queued: %+v", k, es)
				}
				if dl := deadLetters(t, s, store.DeadFilter{Route: "orders", Key: k}); len(dl) != 0 {
					t.Errorf("%s still a dead letter: %+v", k, dl)
				}
			}
		})
	}
}

func testResend(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	if _, err := s.Resend(ctx, "orders", "a", "ann", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resend of a key never delivered = %v, want store.ErrNotFound", err)
	}
	d := deliver(t, s, store.NewEntry{Key: "a", Payload: payload("a", 7), Hash: "h7", Priority: 5})
	e, err := s.Resend(ctx, "orders", "a", "ann@host", now)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID <= d.ID || e.Route != "orders" || e.Key != "a" || e.Version != 1 || e.Status != store.StatusPending || e.Hash != "" ||
		e.Attempts != 0 || !e.NextAttemptAt.Equal(now) || !e.CreatedAt.Equal(now) {
		t.Errorf("resent entry = %+v; want a new pending entry (new ID, version 1, no hash) due %v", e, now)
	}
	wantJSON(t, "resent", e.Payload, payload("a", 7))
	if stored := entry(t, s, e.ID); stored.Status != store.StatusPending || stored.Key != "a" {
		t.Errorf("stored = %+v", stored)
	}
	at := attempts(t, s, e.ID)
	if len(at) != 1 || at[0].Outcome != store.OutcomeReplayed || at[0].Op != "resend" || at[0].Error != "resent by ann@host" ||
		at[0].Key != "a" || at[0].Version != 1 || !at[0].At.Equal(now) {
		t.Errorf("attempts of the resent entry = %+v, want one replayed (op resend) by ann@host", at)
	}
	// Queued now: a second resend would go behind it.
	if _, err := s.Resend(ctx, "orders", "a", "ann", now); !errors.Is(err, store.ErrNewerQueued) {
		t.Errorf("Resend with the key pending = %v, want store.ErrNewerQueued", err)
	}
	leased := lease(t, s, "orders", "w", 10, store.LeasePending, now)
	if _, err := s.Resend(ctx, "orders", "a", "ann", now); !errors.Is(err, store.ErrNewerQueued) {
		t.Errorf("Resend with the key leased = %v, want store.ErrNewerQueued", err)
	}
	settle(t, s, "w", retry(leased[0], now, "busy"))
	if _, err := s.Resend(ctx, "orders", "a", "ann", now); !errors.Is(err, store.ErrNewerQueued) {
		t.Errorf("Resend with the key in error = %v, want store.ErrNewerQueued", err)
	}
	if _, err := s.Resend(ctx, "stock", "a", "ann", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Resend in another route = %v, want store.ErrNotFound", err)
	}
}
