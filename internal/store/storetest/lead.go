package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Lead is taken when free, extended by its holder, refused while held,
// taken after the term ended or from a holder known dead, and freed by
// Resign (of its holder only). Roles are apart from route locks.
func testLead(t *testing.T, s store.Store) {
	ctx := context.Background()
	type step struct {
		name       string
		role       string
		owner      string
		at         time.Duration // after t0; the term lasts a minute
		takeOver   string
		resign     string // instead of Lead: this owner resigns role
		wantHolder string
		wantOK     bool
	}
	for _, st := range []step{
		{name: "free", role: "scheduler", owner: "a", wantHolder: "a", wantOK: true},
		{name: "held", role: "scheduler", owner: "b", at: time.Second, wantHolder: "a"},
		{name: "another role", role: "rescuer", owner: "b", wantHolder: "b", wantOK: true},
		{name: "extend", role: "scheduler", owner: "a", at: 30 * time.Second, wantHolder: "a", wantOK: true},
		{name: "still held after the first term", role: "scheduler", owner: "b", at: 80 * time.Second, wantHolder: "a"},
		{name: "take over a dead holder", role: "scheduler", owner: "b", at: 80 * time.Second, takeOver: "a", wantHolder: "b", wantOK: true},
		{name: "take over names someone else", role: "scheduler", owner: "c", at: 81 * time.Second, takeOver: "a", wantHolder: "b"},
		{name: "expired", role: "scheduler", owner: "c", at: 200 * time.Second, wantHolder: "c", wantOK: true},
		{name: "resign by a non-holder", role: "scheduler", resign: "b"},
		{name: "non-holder's resign changed nothing", role: "scheduler", owner: "d", at: 201 * time.Second, wantHolder: "c"},
		{name: "resign", role: "scheduler", resign: "c"},
		{name: "free after resign", role: "scheduler", owner: "d", at: 202 * time.Second, wantHolder: "d", wantOK: true},
		{name: "resign of nothing", role: "nothing", resign: "d"},
	} {
		if st.resign != "" {
			if err := s.Resign(ctx, st.role, st.resign); err != nil {
				t.Fatalf("%s: Resign: %v", st.name, err)
			}
			continue
		}
		now := t0.Add(st.at)
		holder, ok, err := s.Lead(ctx, st.role, st.owner, now, now.Add(time.Minute), st.takeOver)
		if err != nil {
			t.Fatalf("%s: Lead: %v", st.name, err)
		}
		if holder != st.wantHolder || ok != st.wantOK {
			t.Fatalf("%s: Lead(%s, %s) = %q, %v; want %q, %v", st.name, st.role, st.owner, holder, ok, st.wantHolder, st.wantOK)
		}
	}
	// A route lock of the same name is another thing.
	if holder, ok, err := s.LockRoute(ctx, "scheduler", "z", t0.Add(203*time.Second), t0.Add(time.Hour), ""); err != nil || !ok {
		t.Errorf("route lock named like a role: %q, %v, %v", holder, ok, err)
	}
}
