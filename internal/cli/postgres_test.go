package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/store/pgtest"
)

// The same commands on a PostgreSQL store (store: postgres://...): run,
// queue, history and routes work as on SQLite, in the schema the URL names.
func TestCommandsOnAPostgresStore(t *testing.T) {
	pgtest.Need(t)
	w := newWorld(t, 5)
	w.reject["2"] = true
	yaml, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.DSN() + "&schema=" + pgtest.FreshSchema(t)
	if err := os.WriteFile(w.cfg, append([]byte("store: \""+dsn+"\"\n"), yaml...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers")
	if code != ExitPartial || !strings.Contains(out, "delivered 4") || !strings.Contains(out, "dead 1") {
		t.Fatalf("run on postgres: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "history", "customers", "--dead")
	if code != 0 || !strings.Contains(out, "gave up after 2 attempts") {
		t.Fatalf("history --dead on postgres: exit %d\n%s%s", code, out, errOut)
	}
	w.mu.Lock()
	delete(w.reject, "2")
	w.mu.Unlock()
	code, out, errOut = ferry(t, "-c", w.cfg, "retry", "customers", "--dead")
	if code != 0 {
		t.Fatalf("retry --dead on postgres: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = ferry(t, "-c", w.cfg, "run", "customers"); code != 0 || !strings.Contains(out, "delivered 1") {
		t.Fatalf("second run on postgres: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = ferry(t, "-c", w.cfg, "routes"); code != 0 || !strings.Contains(out, "customers") {
		t.Fatalf("routes on postgres: exit %d\n%s%s", code, out, errOut)
	}
}
