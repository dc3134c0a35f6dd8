package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func ticks(t testing.TB, s store.Store) map[string]store.Tick {
	t.Helper()
	ts, err := s.Ticks(context.Background())
	if err != nil {
		t.Fatalf("Ticks: %v", err)
	}
	m := make(map[string]store.Tick, len(ts))
	for _, tk := range ts {
		m[tk.Route] = tk
	}
	return m
}

// ClaimTick is a compare-and-set on a route's next tick: the first claim
// inserts, a claim from the stored next wins, a stale one loses; fired
// sets LastFired, skipped counts, reset moves only Next and Spec.
func testClaimTick(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	if ts := ticks(t, s); len(ts) != 0 {
		t.Fatalf("ticks of a new store = %+v", ts)
	}
	for _, st := range []struct {
		name  string
		claim store.TickClaim
		want  bool
		tick  store.Tick // the stored tick of the claim's route afterwards
	}{
		{"first seen", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Next: at(5), Outcome: store.TickReset, At: at(0)}, true,
			store.Tick{Spec: "*/5 * * * *", Next: at(5)}},
		{"first seen again", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Next: at(5), Outcome: store.TickReset, At: at(0)}, false,
			store.Tick{Spec: "*/5 * * * *", Next: at(5)}},
		{"fired", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Prev: at(5), Next: at(10), Outcome: store.TickFired, At: at(5)}, true,
			store.Tick{Spec: "*/5 * * * *", Next: at(10), LastFired: at(5)}},
		{"stale prev", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Prev: at(5), Next: at(10), Outcome: store.TickFired, At: at(6)}, false,
			store.Tick{Spec: "*/5 * * * *", Next: at(10), LastFired: at(5)}},
		{"skipped", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Prev: at(10), Next: at(15), Outcome: store.TickSkipped, At: at(10)}, true,
			store.Tick{Spec: "*/5 * * * *", Next: at(15), LastFired: at(5), Skipped: 1}},
		{"skipped again", store.TickClaim{Route: "orders", Spec: "*/5 * * * *", Prev: at(15), Next: at(20), Outcome: store.TickSkipped, At: at(15)}, true,
			store.Tick{Spec: "*/5 * * * *", Next: at(20), LastFired: at(5), Skipped: 2}},
		{"reset to a new spec", store.TickClaim{Route: "orders", Spec: "@hourly", Prev: at(20), Next: at(60), Outcome: store.TickReset, At: at(16)}, true,
			store.Tick{Spec: "@hourly", Next: at(60), LastFired: at(5), Skipped: 2}},
		{"first claim fires", store.TickClaim{Route: "stock", Spec: "@every 30s", Next: at(1), Outcome: store.TickFired, At: at(0)}, true,
			store.Tick{Spec: "@every 30s", Next: at(1), LastFired: at(0)}},
		{"prev of a route never stored", store.TickClaim{Route: "nothing", Spec: "@hourly", Prev: at(0), Next: at(60), Outcome: store.TickFired, At: at(0)}, false,
			store.Tick{}},
	} {
		ok, err := s.ClaimTick(ctx, st.claim)
		if err != nil {
			t.Fatalf("%s: ClaimTick: %v", st.name, err)
		}
		if ok != st.want {
			t.Errorf("%s: ClaimTick = %v, want %v", st.name, ok, st.want)
		}
		got, stored := ticks(t, s)[st.claim.Route]
		if st.tick == (store.Tick{}) {
			if stored {
				t.Errorf("%s: tick %+v stored", st.name, got)
			}
			continue
		}
		want := st.tick
		want.Route = st.claim.Route
		if got.Route != want.Route || got.Spec != want.Spec || !got.Next.Equal(want.Next) ||
			!got.LastFired.Equal(want.LastFired) || got.Skipped != want.Skipped {
			t.Errorf("%s: tick = %+v, want %+v", st.name, got, want)
		}
	}
	if ts := ticks(t, s); len(ts) != 2 {
		t.Errorf("ticks = %+v, want orders and stock", ts)
	}
}

// Schedulers racing for one tick with the same Prev: exactly one wins,
// round after round, also for the first claim of a route.
func testClaimTickRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const claimers, rounds = 6, 15
	var prev time.Time
	for r := range rounds {
		next := t0.Add(time.Duration(r+1) * time.Minute)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			wins  = make(chan string, claimers)
			errs  = make(chan error, claimers)
		)
		for c := range claimers {
			wg.Go(func() {
				<-start
				ok, err := s.ClaimTick(ctx, store.TickClaim{Route: "orders", Spec: "@every 1m", Prev: prev, Next: next,
					Outcome: store.TickFired, At: next.Add(-time.Minute)})
				if err != nil {
					errs <- fmt.Errorf("round %d, claimer %d: %w", r, c, err)
				}
				if ok {
					wins <- fmt.Sprint(c)
				}
			})
		}
		close(start)
		wg.Wait()
		close(wins)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var won []string
		for w := range wins {
			won = append(won, w)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: claimers %v won, want exactly one", r, won)
		}
		prev = next
	}
	if tk := ticks(t, s)["orders"]; !tk.Next.Equal(prev) || !tk.LastFired.Equal(prev.Add(-time.Minute)) {
		t.Errorf("tick after the race = %+v, want next %v", tk, prev)
	}
}
