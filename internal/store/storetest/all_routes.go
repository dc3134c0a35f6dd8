package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func leaseOwners(t testing.TB, s store.Store, route string) []string {
	t.Helper()
	owners, err := s.LeaseOwners(context.Background(), route)
	if err != nil {
		t.Fatalf("LeaseOwners(%q): %v", route, err)
	}
	return sortedCopy(owners)
}

// Route "" is every route for the rescuer: LeaseOwners, ReleaseLeases and
// ReleaseOutbox reach the leases of all routes at once.
func testAllRoutesLeases(t *testing.T, s store.Store) {
	for _, route := range []string{"orders", "stock"} {
		enqueue(t, s, route, t0, keys(route, "a", "b")...)
		lease(t, s, route, "dead", 1, store.LeasePending, t0)                   // a
		lease(t, s, route, "alive", 1, store.LeasePending, t0.Add(time.Minute)) // b, until t0+2m
	}
	if got := leaseOwners(t, s, ""); !equal(got, []string{"alive", "dead"}) {
		t.Errorf("owners of every route = %v, want alive and dead", got)
	}
	if got := leaseOwners(t, s, "stock"); !equal(got, []string{"alive", "dead"}) {
		t.Errorf("owners of stock = %v, want alive and dead", got)
	}
	if n := release(t, s, "", time.Time{}, "dead"); n != 2 {
		t.Errorf("released %d of the dead owner, want its 2 in both routes", n)
	}
	if got := leaseOwners(t, s, ""); !equal(got, []string{"alive"}) {
		t.Errorf("owners after the release = %v, want alive", got)
	}
	for _, route := range []string{"orders", "stock"} {
		if c := counts(t, s, route); c.Pending != 1 || c.Leased != 1 {
			t.Errorf("counts of %s = %+v, want a pending again, b leased", route, c)
		}
	}
	if n := release(t, s, "", t0.Add(time.Minute)); n != 0 {
		t.Errorf("released %d unexpired leases", n)
	}
	if n := release(t, s, "", t0.Add(3*time.Minute)); n != 2 {
		t.Errorf("released %d expired, want alive's 2", n)
	}
	if got := leaseOwners(t, s, ""); len(got) != 0 {
		t.Errorf("owners after every release = %v", got)
	}
}

func testAllRoutesOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	routes := []string{"orders", "stock"}
	for _, route := range routes {
		got, _ := enqueueLeased(t, s, route, "w", t0, keys(route, "a")...)
		st := done(got[0])
		st.Outbox = []store.OutboxItem{{Op: "after", Record: got[0].Payload}}
		settle(t, s, "w", st)
	}
	leaseAll := func(owner string) {
		t.Helper()
		for _, route := range routes {
			if got, err := s.LeaseOutbox(ctx, route, owner, 10, t0, t0.Add(time.Minute)); err != nil || len(got) != 1 {
				t.Fatalf("LeaseOutbox(%s, %s) = %+v, %v", route, owner, got, err)
			}
		}
	}
	leaseAll("dead")
	if n, err := s.ReleaseOutbox(ctx, "", time.Time{}, []string{"dead"}); err != nil || n != 2 {
		t.Errorf("ReleaseOutbox of the dead owner = %d, %v; want its 2 in both routes", n, err)
	}
	leaseAll("slow")
	if n, err := s.ReleaseOutbox(ctx, "", t0.Add(2*time.Minute), nil); err != nil || n != 2 {
		t.Errorf("ReleaseOutbox of expired = %d, %v; want 2", n, err)
	}
	for _, o := range outboxItems(t, s, "") {
		if o.LeaseOwner != "" {
			t.Errorf("item %d of %s still leased by %s", o.ID, o.Route, o.LeaseOwner)
		}
	}
}
