package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// ListRuns filters by route and status, newest first, and pages back
// with BeforeID.
func testListRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	type made struct {
		route  string
		status store.RunStatus
	}
	var (
		all  []int64 // newest first
		runs = map[int64]made{}
	)
	for i, m := range []made{
		{"orders", store.RunSucceeded}, {"stock", store.RunFailed}, {"orders", store.RunFailed},
		{"orders", store.RunSucceeded}, {"stock", store.RunSucceeded}, {"orders", store.RunRunning},
		{"stock", store.RunFailed},
	} {
		id, err := s.CreateRun(ctx, store.Run{Route: m.route, Trigger: "schedule", Mode: "incremental", Status: m.status,
			StartedAt: t0.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		all = append([]int64{id}, all...)
		runs[id] = m
	}
	want := func(route string, status store.RunStatus) []int64 {
		var out []int64
		for _, id := range all {
			if m := runs[id]; (route == "" || m.route == route) && (status == "" || m.status == status) {
				out = append(out, id)
			}
		}
		return out
	}
	listRuns := func(f store.RunFilter) []int64 {
		t.Helper()
		got, err := s.ListRuns(ctx, f)
		if err != nil {
			t.Fatalf("ListRuns(%+v): %v", f, err)
		}
		out := make([]int64, len(got))
		for i, r := range got {
			out[i] = r.ID
			if m := runs[r.ID]; r.Route != m.route || r.Status != m.status || r.Trigger != "schedule" {
				t.Errorf("run %d = %+v, want %+v", r.ID, r, m)
			}
		}
		return out
	}
	for _, f := range []store.RunFilter{
		{},
		{Route: "orders"},
		{Status: store.RunFailed},
		{Route: "stock", Status: store.RunFailed},
		{Route: "orders", Status: store.RunCancelled},
		{Route: "nothing"},
	} {
		if got, w := listRuns(f), want(f.Route, f.Status); !equal(got, w) {
			t.Errorf("ListRuns(%+v) = %v, want %v", f, got, w)
		}
	}
	// Paging: pages of two, each before the last ID seen, until empty.
	for _, route := range []string{"", "orders"} {
		var got []int64
		before := int64(0)
		for range len(all) + 1 {
			page := listRuns(store.RunFilter{Route: route, Limit: 2, BeforeID: before})
			if len(page) > 2 {
				t.Fatalf("page of %d runs, limit 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			before = page[len(page)-1]
		}
		if w := want(route, ""); !equal(got, w) {
			t.Errorf("paged runs of %q = %v, want %v", route, got, w)
		}
	}
}
