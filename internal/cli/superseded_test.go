package cli

import (
	"strings"
	"testing"
)

// retry --dead never replays a dead letter over newer data: when a newer
// version of the key was delivered after it died, retry says so for that
// key and does nothing for it.
func TestRetryDeadOfASupersededVersion(t *testing.T) {
	w := newWorld(t, 3)
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	// The record changes at the source and the ERP takes the new version.
	w.mu.Lock()
	w.reject["2"] = false
	w.edition = ".v2"
	w.mu.Unlock()
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitOK {
		t.Fatalf("second run exit %d:\n%s%s", code, out, errOut)
	}
	if w.received["2"] != 1 {
		t.Fatalf("key 2 received %d times, want 1 (the new version)", w.received["2"])
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "retry", "customers", "--dead")
	if code != ExitOK || !strings.Contains(out, "key 2: not replayed, a newer version was queued or delivered after it died") || strings.Contains(out, "queued again") {
		t.Fatalf("retry --dead exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "retry", "customers", "--key", "2")
	if code != ExitFailed || !strings.Contains(out, "key 2: not replayed") {
		t.Fatalf("retry --key 2 exit %d:\n%s%s", code, out, errOut)
	}
	// Nothing was queued: a run sends nothing, the old version never reaches the ERP.
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitOK || w.received["2"] != 1 {
		t.Fatalf("run after the refused replays exit %d, key 2 received %d times:\n%s%s", code, w.received["2"], out, errOut)
	}
	// The dead letter stays until discarded.
	if _, out, _ := ferry(t, "-c", w.cfg, "history", "customers", "--dead"); !strings.Contains(out, "is locked by another user") {
		t.Fatalf("the superseded dead letter is gone:\n%s", out)
	}
}
