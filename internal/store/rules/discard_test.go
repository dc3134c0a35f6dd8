package rules

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestDiscardWhy(t *testing.T) {
	for _, tc := range []struct {
		sel  store.DiscardSelector
		want string
	}{
		{store.DiscardSelector{}, "discarded"},
		{store.DiscardSelector{Who: "ann"}, "discarded by ann"},
		{store.DiscardSelector{Who: "ann", Why: "gone"}, "discarded by ann: gone"},
		{store.DiscardSelector{Why: "gone"}, "discarded: gone"},
	} {
		if got := DiscardWhy(tc.sel); got != tc.want {
			t.Errorf("DiscardWhy(%+v) = %q, want %q", tc.sel, got, tc.want)
		}
	}
}

func TestNewestPerKey(t *testing.T) {
	// Newest first, as the stores read them.
	got := NewestPerKey([]DeadLetter{
		{ID: 5, Route: "r", Key: "a"},
		{ID: 4, Route: "r", Key: "b"},
		{ID: 3, Route: "r", Key: "a"},
		{ID: 2, Route: "s", Key: "a"},
	})
	var ids []int64
	for _, d := range got {
		ids = append(ids, d.ID)
	}
	if len(ids) != 3 || ids[0] != 2 || ids[1] != 4 || ids[2] != 5 {
		t.Fatalf("ids = %v, want [2 4 5] (in the order they died)", ids)
	}
}
