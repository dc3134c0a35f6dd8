package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func processes(t testing.TB, s store.Store) []store.Process {
	t.Helper()
	ps, err := s.Processes(context.Background())
	if err != nil {
		t.Fatalf("Processes: %v", err)
	}
	return ps
}

// Beat inserts or updates a process by ID; Processes lists the last
// started first; ForgetProcess removes one (unknown IDs are no error).
func testProcesses(t *testing.T, s store.Store) {
	ctx := context.Background()
	beat := func(p store.Process) {
		t.Helper()
		if err := s.Beat(ctx, p); err != nil {
			t.Fatalf("Beat(%s): %v", p.ID, err)
		}
	}
	if ps := processes(t, s); len(ps) != 0 {
		t.Fatalf("processes of a new store = %+v", ps)
	}
	p1 := store.Process{ID: "h1:10:n1", Host: "h1", PID: 10, Version: "v1", Listen: "127.0.0.1:8080",
		StartedAt: t0, SeenAt: t0, Until: t0.Add(30 * time.Second)}
	p2 := store.Process{ID: "h2:20:n2", Host: "h2", PID: 20, Version: "v1", StartedAt: t0.Add(time.Second),
		SeenAt: t0.Add(time.Second), Until: t0.Add(31 * time.Second)}
	beat(p1)
	beat(p2)
	if ps := processes(t, s); len(ps) != 2 || !sameProcess(ps[0], p2) || !sameProcess(ps[1], p1) {
		t.Fatalf("processes = %+v; want p2 then p1 as beaten", ps)
	}
	p1.SeenAt, p1.Until = t0.Add(10*time.Second), t0.Add(40*time.Second)
	beat(p1)
	if ps := processes(t, s); len(ps) != 2 || !sameProcess(ps[1], p1) {
		t.Fatalf("processes after p1 beat again = %+v; want p1 updated, still two", ps)
	}
	if err := s.ForgetProcess(ctx, p1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetProcess(ctx, "unknown"); err != nil {
		t.Errorf("forget an unknown process: %v", err)
	}
	if ps := processes(t, s); len(ps) != 1 || ps[0].ID != p2.ID {
		t.Fatalf("processes after forgetting p1 = %+v; want p2", ps)
	}
}

func sameProcess(a, b store.Process) bool {
	return a.ID == b.ID && a.Host == b.Host && a.PID == b.PID && a.Version == b.Version && a.Listen == b.Listen &&
		a.StartedAt.Equal(b.StartedAt) && a.SeenAt.Equal(b.SeenAt) && a.Until.Equal(b.Until)
}
