package engine

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestResumeAt(t *testing.T) {
	cases := []struct {
		name string
		item store.OutboxItem
		want int
	}{
		{"first try", store.OutboxItem{Op: "after"}, 0},
		{"failed at the second", store.OutboxItem{Op: "after", Attempts: 1, LastError: "after[1] failed: HTTP 503"}, 1},
		{"on_error", store.OutboxItem{Op: "on_error", Attempts: 2, LastError: "on_error[2] failed: timeout"}, 2},
		{"another kind's error", store.OutboxItem{Op: "after", Attempts: 1, LastError: "on_error[1] failed: x"}, 0},
		{"not our format", store.OutboxItem{Op: "after", Attempts: 1, LastError: "after[1] was odd"}, 0},
		{"negative", store.OutboxItem{Op: "after", Attempts: 1, LastError: "after[-1] failed: x"}, 0},
		{"error without attempts", store.OutboxItem{Op: "after", LastError: "after[1] failed: x"}, 0},
	}
	for _, c := range cases {
		if got := resumeAt(c.item); got != c.want {
			t.Errorf("%s: resumeAt = %d, want %d", c.name, got, c.want)
		}
	}
}
