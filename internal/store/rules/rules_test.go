package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func TestTickColumns(t *testing.T) {
	at := time.UnixMilli(5000)
	next := time.UnixMilli(9000)
	for _, tc := range []struct {
		name           string
		c              store.TickClaim
		fired, skipped int64
		err            string
	}{
		{"fired", store.TickClaim{Route: "r", Next: next, At: at, Outcome: store.TickFired}, 5000, 0, ""},
		{"skipped", store.TickClaim{Route: "r", Next: next, At: at, Outcome: store.TickSkipped}, 0, 1, ""},
		{"reset", store.TickClaim{Route: "r", Next: next, Outcome: store.TickReset}, 0, 0, ""},
		{"no route", store.TickClaim{Next: next, Outcome: store.TickFired}, 0, 0, "empty route"},
		{"no next", store.TickClaim{Route: "r", Outcome: store.TickFired}, 0, 0, "zero next"},
		{"bad outcome", store.TickClaim{Route: "r", Next: next, Outcome: "late"}, 0, 0, `unknown outcome "late"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fired, skipped, err := TickColumns(tc.c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || fired != tc.fired || skipped != tc.skipped {
				t.Fatalf("= %d, %d, %v; want %d, %d", fired, skipped, err, tc.fired, tc.skipped)
			}
		})
	}
}

func TestPruneStepsRun(t *testing.T) {
	var order []string
	step := func(name string, n int) func(context.Context, int64) (int, error) {
		return func(context.Context, int64) (int, error) { order = append(order, name); return n, nil }
	}
	p := PruneSteps{
		Dead: func(context.Context, int64) (int, int, error) {
			order = append(order, "dead")
			return 1, 2, nil
		},
		Attempts:  step("attempts", 3),
		Runs:      step("runs", 4),
		Delivered: step("delivered", 5),
		Vacuum:    func(context.Context) error { order = append(order, "vacuum"); return nil },
	}
	cut := time.UnixMilli(1)
	res, err := p.Run(context.Background(), store.PruneRequest{DeadBefore: cut, AttemptsBefore: cut, RunsBefore: cut, DeliveredBefore: cut, Vacuum: true})
	if err != nil {
		t.Fatal(err)
	}
	want := store.PruneResult{DeadLetters: 1, Attempts: 5, Runs: 4, Delivered: 5}
	if res != want || strings.Join(order, ",") != "dead,attempts,runs,delivered,vacuum" {
		t.Fatalf("res = %+v, order %v", res, order)
	}
	order = nil
	boom := errors.New("boom")
	p.Runs = func(context.Context, int64) (int, error) { return 7, boom }
	res, err = p.Run(context.Background(), store.PruneRequest{RunsBefore: cut, DeliveredBefore: cut})
	if !errors.Is(err, boom) || res.Runs != 7 || res.Delivered != 0 {
		t.Fatalf("res = %+v, err %v", res, err)
	}
}

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
	}
	ms, err := LoadMigrations(fsys, "m")
	if err != nil || len(ms) != 2 || ms[0].Name != "0001_a.sql" || ms[1].SQL != "B" || Known(ms) != 2 {
		t.Fatalf("ms = %+v, %v", ms, err)
	}
	if p, err := Pending(ms, 1); err != nil || len(p) != 1 || p[0].Version != 2 {
		t.Fatalf("pending = %+v, %v", p, err)
	}
	if _, err := Pending(ms, 3); err == nil {
		t.Fatal("a newer schema was accepted")
	}
	for name, bad := range map[string]fstest.MapFS{
		"no number": {"m/x_a.sql": {}},
		"same":      {"m/1_a.sql": {}, "m/01_b.sql": {}},
	} {
		if _, err := LoadMigrations(bad, "m"); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestChecks(t *testing.T) {
	if none, err := CheckExtend("", nil); !none || err != nil {
		t.Errorf("no ids: %v, %v", none, err)
	}
	if _, err := CheckExtend("", []int64{1}); err == nil {
		t.Error("an empty owner extended leases")
	}
	if none, err := CheckOutboxLease("r", "", 0); !none || err != nil {
		t.Errorf("no limit: %v, %v", none, err)
	}
	if _, err := CheckOutboxLease("r", "", 1); err == nil || !strings.Contains(err.Error(), `"r"`) {
		t.Errorf("empty owner: %v", err)
	}
	if n, info := NewExport(0); n != 1000 || info.Counts == nil || info.Sequences == nil {
		t.Errorf("NewExport(0) = %d, %+v", n, info)
	}
	if AttemptIncrement(store.Settlement{CountAttempt: true}) != 1 || AttemptIncrement(store.Settlement{}) != 0 {
		t.Error("AttemptIncrement")
	}
}

func TestCheckLeaseAndInRun(t *testing.T) {
	if none, err := CheckLease(store.LeaseRequest{Route: "r"}); !none || err != nil {
		t.Errorf("no limit: %v, %v", none, err)
	}
	if _, err := CheckLease(store.LeaseRequest{Route: "r", Limit: 1}); err == nil {
		t.Error("an empty owner leased")
	}
	if none, err := CheckLease(store.LeaseRequest{Route: "r", Limit: 1, Owner: "w"}); none || err != nil {
		t.Errorf("a good request: %v, %v", none, err)
	}
	a := []store.Attempt{{}, {}}
	InRun(a, 7)
	if a[0].RunID != 7 || a[1].RunID != 7 {
		t.Errorf("attempts = %+v", a)
	}
}
