package engine

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// An inbox takes reservations only while its run is under way and while
// it has room for their records; taking the entries of some keys waits
// for the commits under way; closing it waits for them too and counts
// what was not taken.
func TestInboxTakesReservationsOnlyWhileTheRunIsUnderWay(t *testing.T) {
	ib := &Inbox{owner: "w", leaseFor: time.Minute, capacity: 4}
	ib.idle.L = &ib.mu
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if _, ok := ib.Reserve(now, 3); ok {
		t.Fatal("Reserve before the run started: ok")
	}
	ib.open()
	lease, ok := ib.Reserve(now, 3)
	if !ok || lease.Owner != "w" || !lease.Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("Reserve = %+v, %v; want a lease to w for a minute", lease, ok)
	}
	if _, ok := ib.Reserve(now, 2); ok {
		t.Fatal("Reserve of 2 records with 3 reserved (capacity 4): ok")
	}
	ib.Deliver(3, []store.Entry{{ID: 1}, {ID: 2}, {ID: 3}}, []map[string]any{{"n": 1}, {"n": 2}, {"n": 3}})
	if got := ib.take(2); len(got) != 2 || got[0].entry.ID != 1 || got[1].record["n"] != 2 {
		t.Fatalf("take(2) = %+v; want entries 1 and 2 with their records", got)
	}

	// Full: a push is queued pending in the store instead.
	if _, ok := ib.Reserve(now, 3); !ok {
		t.Fatal("Reserve of 3 records with 1 waiting (capacity 4) refused")
	}
	ib.Deliver(3, []store.Entry{{ID: 10, Key: "x"}, {ID: 11, Key: "y"}, {ID: 12, Key: "x"}}, []map[string]any{{}, {}, {}})
	if _, ok := ib.Reserve(now, 1); ok {
		t.Fatalf("Reserve with %d entries waiting (capacity 4): ok", len(ib.items))
	}
	if got := ib.ids(); len(got) != 4 || got[0] != 3 || got[3] != 12 {
		t.Fatalf("ids = %v; want the waiting entries 3, 10, 11, 12 (their leases are extended)", got)
	}
	if got := ib.takeKeys(map[string]bool{"x": true}); len(got) != 2 || got[0].entry.ID != 10 || got[1].entry.ID != 12 {
		t.Fatalf("takeKeys(x) = %+v; want entries 10 and 12", got)
	}
	if got := ib.ids(); len(got) != 2 || got[0] != 3 || got[1] != 11 {
		t.Fatalf("ids after takeKeys = %v; want 3 and 11", got)
	}
	ib.take(1) // entry 3

	// A commit under way may hold an older version of a key the run has
	// just leased from the store: takeKeys waits for it.
	if _, ok := ib.Reserve(now, 1); !ok {
		t.Fatal("Reserve with room refused")
	}
	taken := make(chan []handed)
	go func() { taken <- ib.takeKeys(map[string]bool{"z": true}) }()
	select {
	case got := <-taken:
		t.Fatalf("takeKeys returned %+v while a commit was under way", got)
	case <-time.After(50 * time.Millisecond):
	}
	ib.Deliver(1, []store.Entry{{ID: 20, Key: "z"}}, []map[string]any{{}})
	if got := <-taken; len(got) != 1 || got[0].entry.ID != 20 {
		t.Fatalf("takeKeys(z) = %+v; want entry 20 of the commit it waited for", got)
	}

	// It does not wait for commits begun after it was called: a stream of
	// pushes would hold it until the inbox is full.
	if _, ok := ib.Reserve(now, 1); !ok {
		t.Fatal("Reserve with room refused")
	}
	taken = make(chan []handed)
	go func() { taken <- ib.takeKeys(map[string]bool{"z": true}) }()
	time.Sleep(20 * time.Millisecond)
	ib.Deliver(1, []store.Entry{{ID: 21, Key: "q"}}, []map[string]any{{}})
	if _, ok := ib.Reserve(now, 1); !ok { // the next commit, begun after the call
		t.Fatal("Reserve with room refused")
	}
	select {
	case got := <-taken:
		if len(got) != 0 {
			t.Fatalf("takeKeys(z) = %+v; want none", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("takeKeys waited for a commit begun after it was called")
	}
	ib.Deliver(1, nil, nil)                 // that commit failed
	ib.takeKeys(map[string]bool{"q": true}) // entry 21

	if _, ok := ib.Reserve(now, 1); !ok {
		t.Fatal("Reserve with room refused")
	}
	closed := make(chan int)
	go func() { closed <- ib.close() }()
	select {
	case n := <-closed:
		t.Fatalf("close returned %d while a commit was under way", n)
	case <-time.After(50 * time.Millisecond):
	}
	ib.Deliver(1, []store.Entry{{ID: 4}}, []map[string]any{{"n": 4}})
	if n := <-closed; n != 2 || ib.Left() != 2 {
		t.Fatalf("close = %d, Left = %d; want entries 11 and 4 not taken", n, ib.Left())
	}
	if _, ok := ib.Reserve(now, 1); ok {
		t.Fatal("Reserve after close: ok")
	}
	if got := ib.take(10); len(got) != 0 {
		t.Fatalf("take after close = %+v", got)
	}
	var none *Inbox // routes that take no pushes in memory
	if _, ok := none.Reserve(now, 1); ok || none.take(1) != nil || none.takeKeys(map[string]bool{"x": true}) != nil || none.waiting() || none.ids() != nil || none.close() != 0 || none.Left() != 0 {
		t.Fatal("a nil inbox takes something")
	}
}
