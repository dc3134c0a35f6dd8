package rules

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestJudge(t *testing.T) {
	c := Content{
		Queued:    map[string]Queued{"q": {ID: 1, Version: 1, Hash: "h"}},
		Leased:    map[string]Leased{"l": {ID: 2, Version: 3, Hash: "h"}},
		Delivered: map[string]Ref{"d": {Hash: "h", EntryID: 4, Version: 1}, "dx": {Hash: "old", EntryID: 5, Version: 1}},
		Dead:      map[string]Ref{"x": {Hash: "h", EntryID: 6, Version: 2}, "dx": {Hash: "h", EntryID: 7, Version: 1}},
	}
	for _, tc := range []struct {
		key, hash string
		want      Verdict
		ref       Ref
	}{
		{"d", "", QueueIt, Ref{}},      // no hash: never judged
		{"q", "h", QueueIt, Ref{}},     // queued: the queued-entry rules apply
		{"l", "h", InFlight, Ref{}},    // same content leased
		{"l", "other", QueueIt, Ref{}}, // other content leased
		{"d", "h", AlreadyDelivered, Ref{Hash: "h", EntryID: 4, Version: 1}},  // delivered
		{"x", "h", AlreadyDelivered, Ref{Hash: "h", EntryID: 6, Version: 2}},  // died
		{"dx", "h", AlreadyDelivered, Ref{Hash: "h", EntryID: 7, Version: 1}}, // the newer of delivered and dead
		{"dx", "old", QueueIt, Ref{}},
		{"new", "h", QueueIt, Ref{}},
	} {
		v, ref := c.Judge(tc.key, tc.hash)
		if v != tc.want || ref != tc.ref {
			t.Errorf("Judge(%q, %q) = %v, %+v; want %v, %+v", tc.key, tc.hash, v, ref, tc.want, tc.ref)
		}
	}
}

func TestAddKeepsNewest(t *testing.T) {
	var c Content
	c.Add(KindLeased, "k", 5, 1, nil, "a", false)
	c.Add(KindLeased, "k", 3, 1, nil, "b", false)
	c.Add(KindDead, "k", 2, 1, nil, "c", false)
	c.Add(KindDead, "k", 9, 4, nil, "d", false)
	c.Add(KindDead, "k", 7, 1, nil, "e", false)
	if c.Leased["k"].Hash != "a" || c.Dead["k"].Hash != "d" || c.Queued != nil || c.Delivered != nil {
		t.Fatalf("content = %+v", c)
	}
}

func TestGroupPushes(t *testing.T) {
	rec := func(key string) store.NewEntry { return store.NewEntry{Key: key} }
	pushes := []store.Push{
		{Route: "a", Entries: []store.NewEntry{rec("1")}},
		{Route: "b", Entries: []store.NewEntry{rec("1")}},
		{Route: "a", Entries: []store.NewEntry{rec("2"), rec("2")}}, // joins a's group; the key's last record counts
		{Route: "a", Entries: []store.NewEntry{rec("1")}},           // key 1 again: a new group
	}
	groups, slots, err := GroupPushes(pushes)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 || len(groups[0].Records) != 2 || groups[2].Route != "a" {
		t.Fatalf("groups = %+v", groups)
	}
	want := [][]Slot{{{0, 0}}, {{1, 0}}, {{0, 1}, {0, 1}}, {{2, 0}}}
	for i := range want {
		for j := range want[i] {
			if slots[i][j] != want[i][j] {
				t.Errorf("slot %d/%d = %v, want %v", i, j, slots[i][j], want[i][j])
			}
		}
	}
	acc := [][]store.Accepted{{{EntryID: 1}, {EntryID: 2}}, {{EntryID: 3}}, {{EntryID: 4}}}
	out := Spread(slots, acc)
	if out[2][0].EntryID != 2 || out[3][0].EntryID != 4 || out[1][0].EntryID != 3 {
		t.Errorf("spread = %+v", out)
	}
	if _, _, err := GroupPushes([]store.Push{{}}); err == nil {
		t.Error("a push without a route was accepted")
	}
}

func TestLease(t *testing.T) {
	now := time.Unix(100, 0)
	c := Content{
		Queued:    map[string]Queued{"q": {ID: 1, Payload: []byte(`1`)}},
		Delivered: map[string]Ref{"d": {Hash: "h", EntryID: 4, Version: 2}},
	}
	for _, tc := range []struct {
		e       store.Entry
		want    LeaseAction
		attempt bool
	}{
		{store.Entry{Key: "q", Payload: []byte(`1`)}, LeaseKeep, false},
		{store.Entry{Key: "q", Payload: []byte(`2`)}, LeaseReplace, false},
		{store.Entry{Key: "d", Hash: "h"}, LeaseKeep, true},
		{store.Entry{Key: "n"}, LeaseInsert, false},
	} {
		got, a := c.Lease("r", &tc.e, now)
		if got != tc.want || (a != nil) != tc.attempt {
			t.Errorf("Lease(%q) = %v, %v; want %v, attempt %v", tc.e.Key, got, a, tc.want, tc.attempt)
		}
	}
}
