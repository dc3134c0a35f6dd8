package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// An entry with an empty key (a source row whose key column is empty):
// retry/discard of that one entry acted on every entry in error of the
// route, since the store reads Key "" as "any key"; it is refused.
func TestAnEntryWithAnEmptyKeyIsNotRetriedOrDiscardedOnItsOwn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.store.EnqueuePage(ctx, "hook", []store.NewEntry{
		{Key: "", Payload: []byte(`{"id":"","want":500}`)},
		{Key: "B", Payload: []byte(`{"id":"B","want":500}`)},
	}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.runRoute(t, "hook")
	eventually(t, "both in error", func() bool { return f.counts(t, "hook").Error == 2 })
	es, err := f.store.Entries(ctx, store.EntryFilter{Route: "hook", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var emptyID int64
	for _, e := range es {
		if e.Key == "" {
			emptyID = e.ID
		}
	}
	for _, op := range []string{"discard", "retry"} {
		r := f.do(t, req{method: "POST", path: fmt.Sprintf("/api/v1/entries/%d/%s", emptyID, op), body: map[string]string{"reason": "only this one"}})
		if r.StatusCode != 409 {
			t.Fatalf("%s of entry %d with an empty key: %d %s, want 409", op, emptyID, r.StatusCode, r.body)
		}
		if n := f.counts(t, "hook").Error; n != 2 {
			t.Fatalf("%s of entry %d left %d entries in error, want both", op, emptyID, n)
		}
	}
}
