package rules

import (
	"errors"
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestAbandonReason(t *testing.T) {
	dead := func(owner string) bool { return owner == "gone" }
	for _, tc := range []struct {
		c    RunCandidate
		want string
	}{
		{RunCandidate{LockLive: true, LockHolder: "w"}, ""},
		{RunCandidate{}, "its worker is gone (no run lock is held)"},
		{RunCandidate{Owner: "gone", LockHolder: "gone", LockLive: true}, "worker gone died"},
		{RunCandidate{Owner: "w", LockHolder: "w"}, "worker w lost its run lock"},
		{RunCandidate{Owner: "w", LockHolder: "v", LockLive: true}, "worker w lost its run lock"},
		{RunCandidate{Owner: "w", LockHolder: "w", LockLive: true}, ""},
	} {
		if got := tc.c.AbandonReason(dead); got != tc.want {
			t.Errorf("%+v: reason %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestResendBlocked(t *testing.T) {
	if err := ResendBlocked(false, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("nothing delivered: %v", err)
	}
	if err := ResendBlocked(true, true); !errors.Is(err, store.ErrNewerQueued) {
		t.Errorf("busy: %v", err)
	}
	if err := ResendBlocked(true, false); err != nil {
		t.Errorf("free: %v", err)
	}
}

func TestSequenceTables(t *testing.T) {
	got, err := SequenceTables(store.ExportInfo{Sequences: map[string]int64{store.TableRuns: 3, store.TableAttempts: 9}})
	if err != nil || len(got) != 2 || got[0] > got[1] {
		t.Fatalf("tables = %v, %v", got, err)
	}
	if _, err := SequenceTables(store.ExportInfo{Sequences: map[string]int64{"nope": 1}}); err == nil {
		t.Error("a table without IDs was accepted")
	}
}
