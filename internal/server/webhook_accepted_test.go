package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

// TestWriteAcceptedMatchesJSON: the hand-encoded 202 is byte for byte
// what writeJSON gives for acceptedView (the OpenAPI document and every
// caller read that shape).
func TestWriteAcceptedMatchesJSON(t *testing.T) {
	for _, c := range []struct {
		name    string
		status  string
		entries []store.Accepted
	}{
		{"none", "queued", nil},
		{"one", "queued", []store.Accepted{{EntryID: 1, Version: 1}}},
		{"unchanged", "queued", []store.Accepted{{EntryID: 7, Version: 3, Unchanged: true}}},
		{"several pending", "pending", []store.Accepted{{EntryID: 9223372036854775807, Version: 2}, {EntryID: 5, Version: 1, Unchanged: true}, {EntryID: 6}}},
	} {
		want := httptest.NewRecorder()
		entries := c.entries
		if entries == nil {
			entries = []store.Accepted{}
		}
		writeJSON(want, http.StatusAccepted, acceptedView{Status: c.status, Entries: entries})
		got := httptest.NewRecorder()
		writeAccepted(got, c.status, c.entries)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("%s: %d %q, want %d %q", c.name, got.Code, got.Body, want.Code, want.Body)
		}
		if g, w := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); g != w {
			t.Errorf("%s: Content-Type %q, want %q", c.name, g, w)
		}
	}
}
