package storetest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testID(t *testing.T, s store.Store) {
	id := s.ID()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("ID() = %q, want 32 hex digits", id)
	}
	if again := s.ID(); again != id {
		t.Errorf("ID() changed from %q to %q", id, again)
	}
}

// AbandonRuns closes a running run when its owner is dead or no longer
// holds an unexpired run lock of its route; a run whose owner holds the
// lock is alive, whatever else is true.
func testAbandonRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	type lockState struct {
		owner string
		until time.Time
	}
	for _, tc := range []struct {
		name    string
		owner   string     // the run's owner
		lock    *lockState // the route's lock at now, nil for none
		dead    []string   // owners the callback calls dead
		want    bool       // abandoned?
		wantErr string     // in Run.Error
	}{
		{name: "owner holds lock", owner: "a", lock: &lockState{"a", now.Add(time.Minute)}, want: false},
		{name: "owner holds lock expiring now", owner: "a", lock: &lockState{"a", now}, want: false},
		{name: "owner dead", owner: "a", lock: &lockState{"a", now.Add(time.Minute)}, dead: []string{"a"}, want: true, wantErr: "worker a died"},
		{name: "no lock", owner: "a", want: true, wantErr: "worker a lost its run lock"},
		{name: "lock expired", owner: "a", lock: &lockState{"a", now.Add(-time.Second)}, want: true, wantErr: "worker a lost its run lock"},
		{name: "lock taken by another", owner: "a", lock: &lockState{"b", now.Add(time.Minute)}, want: true, wantErr: "worker a lost its run lock"},
		{name: "old run, lock held", owner: "", lock: &lockState{"b", now.Add(time.Minute)}, want: false},
		{name: "old run, no lock", owner: "", want: true, wantErr: "no run lock"},
		{name: "old run, lock expired", owner: "", lock: &lockState{"b", now.Add(-time.Second)}, want: true, wantErr: "no run lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := "r-" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.lock != nil {
				if _, ok, err := s.LockRoute(ctx, route, tc.lock.owner, t0, tc.lock.until, ""); err != nil || !ok {
					t.Fatalf("LockRoute: ok %v, %v", ok, err)
				}
			}
			id, err := s.CreateRun(ctx, store.Run{Route: route, Status: store.RunRunning, StartedAt: t0, Owner: tc.owner})
			if err != nil {
				t.Fatal(err)
			}
			done, err := s.CreateRun(ctx, store.Run{Route: route, Status: store.RunSucceeded, StartedAt: t0, EndedAt: t0, Owner: "x"})
			if err != nil {
				t.Fatal(err)
			}
			closed, err := s.AbandonRuns(ctx, now, func(o string) bool {
				for _, d := range tc.dead {
					if o == d {
						return true
					}
				}
				return false
			})
			if err != nil {
				t.Fatal(err)
			}
			var mine []store.Run
			for _, r := range closed {
				if r.Route == route {
					mine = append(mine, r)
				}
			}
			got, err := s.GetRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want {
				if len(mine) != 0 || got.Status != store.RunRunning || !got.EndedAt.IsZero() {
					t.Fatalf("run = %+v, returned %+v; want it left running", got, mine)
				}
				return
			}
			if len(mine) != 1 || mine[0].ID != id || mine[0].Status != store.RunAbandoned {
				t.Fatalf("returned %+v, want run %d abandoned", mine, id)
			}
			if got.Status != store.RunAbandoned || !got.EndedAt.Equal(now) || !strings.Contains(got.Error, tc.wantErr) || got.Owner != tc.owner {
				t.Errorf("stored run = %+v; want abandoned at %v, owner %q kept, error saying %q", got, now, tc.owner, tc.wantErr)
			}
			if mine[0] != got {
				t.Errorf("returned run = %+v, stored %+v", mine[0], got)
			}
			if r, _ := s.GetRun(ctx, done); r.Status != store.RunSucceeded {
				t.Errorf("finished run changed: %+v", r)
			}
			// Closed once: the next call returns nothing for it.
			again, err := s.AbandonRuns(ctx, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range again {
				if r.ID == id {
					t.Errorf("run %d abandoned twice", id)
				}
			}
		})
	}
}
