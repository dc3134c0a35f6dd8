package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Operations given up (after: whose attempts ran out) show in routes and
// queue, run again after 'retry --operations' (or --key) and can be
// discarded; before, nothing could bring them back and OWED showed 0.
func TestOperationsGivenUpCanBeRetriedAndDiscarded(t *testing.T) {
	w := newWorld(t, 2)
	b, _ := os.ReadFile(w.cfg)
	os.WriteFile(w.cfg, []byte(string(b)+"    after:\n      - http: { system: erp, method: PUT, path: \"/customers/${key}/seen\" }\n"), 0o644)
	w.mu.Lock()
	w.reject["1/seen"], w.reject["2/seen"] = true, true
	w.mu.Unlock()
	code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers")
	if code != ExitPartial || !strings.Contains(out, "2 follow-up operations given up") || !strings.Contains(out, "ferry retry customers --operations") {
		t.Fatalf("run exit %d, want the operations given up in the summary:\n%s%s", code, out, errOut)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "routes")
	if code != 0 || !regexp.MustCompile(`(?m)^customers\s+0\s+-\s+-\s+-\s+0\s+0\s+0\s+0\s+2\s`).MatchString(out) {
		t.Fatalf("routes exit %d, want OPS DEAD 2:\n%s%s", code, out, errOut)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "queue", "customers")
	if code != 0 || !strings.Contains(out, "operations (after/on_error): 0 owed, 2 given up ('ferry retry customers --operations' runs them again)") {
		t.Fatalf("queue exit %d:\n%s", code, out)
	}

	w.mu.Lock()
	w.reject["1/seen"] = false
	w.mu.Unlock()
	code, out, errOut = ferry(t, "-c", w.cfg, "retry", "customers", "--key", "1")
	if code != 0 || !strings.Contains(out, "customers: 1 operation given up (after/on_error) due again; run 'ferry run customers' to perform it") {
		t.Fatalf("retry --key exit %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitOK {
		t.Fatalf("run after retry exit %d:\n%s%s", code, out, errOut)
	}
	w.mu.Lock()
	seen := w.received["1/seen"]
	w.mu.Unlock()
	if seen != 1 {
		t.Fatalf("after operation of key 1 performed %d times, want once after the retry", seen)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--key", "1")
	if code != 0 || !regexp.MustCompile(`after\s+replayed`).MatchString(out) || !regexp.MustCompile(`after\[0\]\s+done`).MatchString(out) {
		t.Fatalf("history --key 1 exit %d, want the replay and the done operation:\n%s", code, out)
	}

	code, out, errOut = ferry(t, "-c", w.cfg, "discard", "customers", "--operations", "--reason", "told by phone")
	if code != 0 || !strings.Contains(out, "customers: discarded 1 operation given up") {
		t.Fatalf("discard --operations exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--key", "2")
	if code != 0 || !regexp.MustCompile(`after\s+discarded.*told by phone`).MatchString(out) {
		t.Fatalf("history --key 2 exit %d, want the discarded operation:\n%s", code, out)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "retry", "customers", "--operations")
	if code != 0 || !strings.Contains(out, "nothing to retry (no operations given up)") {
		t.Fatalf("retry --operations with none exit %d:\n%s", code, out)
	}
	if code, _, errOut := ferry(t, "-c", w.cfg, "retry", "customers", "--operations", "--key", "2"); code != ExitFailed || !strings.Contains(errOut, `no operation given up with key "2"`) {
		t.Fatalf("retry --operations --key without any: exit %d: %s", code, errOut)
	}
}

// A record that keeps failing (503 until its attempts ran out) and is read
// again unchanged is not sent again under a new key every run: its dead
// letter stays the one (was 1, 2, 3 ... with a new on_error each time).
func TestUnchangedDeadRecordIsNotResentEveryRun(t *testing.T) {
	w := newWorld(t, 2)
	w.reject["2"] = true
	for run := 1; run <= 3; run++ {
		if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code == ExitFailed || code == ExitUsage {
			t.Fatalf("run %d exit %d:\n%s%s", run, code, out, errOut)
		}
	}
	if n := w.requests.Load(); n != 3 { // 1 delivered, 2 attempts of the dead one
		t.Errorf("ERP got %d requests over 3 runs, want 3", n)
	}
	code, out, _ := ferry(t, "-c", w.cfg, "queue", "customers")
	if code != 0 || !strings.Contains(out, "0 pending, 0 error, 0 leased, 1 dead letters") {
		t.Fatalf("queue exit %d:\n%s", code, out)
	}
}
