package rules

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestSettleAttempts(t *testing.T) {
	now := time.UnixMilli(1000).UTC()
	at := time.UnixMilli(500).UTC()
	settled := map[int64]Settled{1: {Route: "r", Key: "k", Version: 3}}
	sts := []store.Settlement{
		{EntryID: 1, Outcome: store.OutcomeDone}, // bare: filled from its entry
		{EntryID: 2, Outcome: store.OutcomeDone}, // bare and unknown: left out
		{EntryID: 3, Outcome: store.OutcomeRetry, Attempt: store.Attempt{Route: "x", Key: "y", Version: 1, At: at}}, // complete
	}
	if ids := Unsettled(sts, settled); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("unsettled = %v, want [2]", ids)
	}
	got := SettleAttempts(sts, settled, now)
	want := []store.Attempt{
		{EntryID: 1, Route: "r", Key: "k", Version: 3, At: now, Outcome: store.OutcomeDone},
		{EntryID: 3, Route: "x", Key: "y", Version: 1, At: at, Outcome: store.OutcomeRetry},
	}
	if len(got) != len(want) {
		t.Fatalf("attempts = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOwedOutbox(t *testing.T) {
	at := time.UnixMilli(700).UTC()
	settled := map[int64]Settled{1: {Route: "r", Key: "k", Version: 2}}
	owed := OwedOutbox([]store.Settlement{
		{EntryID: 1, Attempt: store.Attempt{At: at}, Outbox: []store.OutboxItem{{Op: "a"}, {Op: "b", Key: "other"}}},
		{EntryID: 9, Outbox: []store.OutboxItem{{Op: "c"}}}, // not ours any more: owes nothing
	}, settled)
	if len(owed) != 2 {
		t.Fatalf("owed = %+v", owed)
	}
	o := owed[0].Item
	if owed[0].EntryID != 1 || o.Route != "r" || o.Key != "k" || o.Version != 2 || o.EntryID != 1 || !o.CreatedAt.Equal(at) || !o.NextAttemptAt.Equal(at) {
		t.Errorf("item = %+v", o)
	}
	if owed[1].Item.Key != "other" {
		t.Errorf("a key given was replaced: %+v", owed[1].Item)
	}
}

func TestOutboxAttempt(t *testing.T) {
	now := time.UnixMilli(900).UTC()
	st := store.OutboxSettlement{ID: 4, Outcome: store.OutcomeDead}
	if !OutboxLookup(st.Attempt, false) || OutboxLookup(st.Attempt, true) {
		t.Error("OutboxLookup: a bare attempt of an item not found is looked up, only then")
	}
	a, ok := OutboxAttempt(st, store.OutboxItem{Route: "r", Key: "k", Version: 2, EntryID: 7, Op: "after"}, now)
	want := store.Attempt{EntryID: 7, Route: "r", Key: "k", Version: 2, Op: "after", Outcome: store.OutcomeDead, At: now}
	if !ok || a != want {
		t.Errorf("attempt = %+v, %v; want %+v", a, ok, want)
	}
	if _, ok := OutboxAttempt(st, store.OutboxItem{}, now); ok {
		t.Error("an unknown item's bare attempt was kept")
	}
}
