package service

import (
	"testing"
	"time"
)

// The committer yields to gather the pushes of runnable handlers, but
// not again for a while after a yield that took long (the processors
// busy with other work): one slow group, not every one.
func TestGatherYieldsUntilAYieldIsSlow(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := newAcceptor(nil, time.Now, nil)
	a.clock = func() time.Time { return at }
	var yields int
	yieldTakes := time.Duration(0)
	arrive := 0 // calls handed in during each yield
	a.yield = func() {
		yields++
		at = at.Add(yieldTakes)
		for range arrive {
			a.in <- &pushCall{}
		}
	}
	gather := func() (calls, yielded int) {
		yields = 0
		return len(a.gather(&pushCall{})), yields
	}

	// Fast yields: the calls handed in meanwhile join the group.
	arrive = 3
	if calls, yielded := gather(); calls != 1+2*3 || yielded != gatherYields {
		t.Fatalf("fast yields: %d calls after %d yields, want %d after %d", calls, yielded, 1+2*3, gatherYields)
	}
	// A slow yield ends the gathering...
	arrive, yieldTakes = 0, slowYield+time.Millisecond
	if calls, yielded := gather(); calls != 1 || yielded != 1 {
		t.Fatalf("slow yield: %d calls after %d yields, want 1 after 1", calls, yielded)
	}
	// ...and the next groups do not yield for yieldPause.
	yieldTakes = 0
	at = at.Add(yieldPause - time.Millisecond)
	if calls, yielded := gather(); calls != 1 || yielded != 0 {
		t.Fatalf("within the pause: %d calls after %d yields, want 1 after 0", calls, yielded)
	}
	// After it they do again.
	at = at.Add(time.Millisecond)
	arrive = 1
	if calls, yielded := gather(); calls != 1+2 || yielded != gatherYields {
		t.Fatalf("after the pause: %d calls after %d yields, want 3 after %d", calls, yielded, gatherYields)
	}
	// Calls already waiting are taken without yielding first, up to
	// maxGroup.
	arrive = 0
	for range maxGroup { // the channel holds maxGroup
		a.in <- &pushCall{}
	}
	if calls, yielded := gather(); calls != maxGroup || yielded != 0 {
		t.Fatalf("a full channel: %d calls after %d yields, want %d after 0", calls, yielded, maxGroup)
	}
}
