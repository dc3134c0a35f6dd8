package cli

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
)

// discard ends dead letters and error entries on purpose, recorded in
// the key's history with who and why; nothing matching a --key exits 1.
func TestDiscardDeadLetters(t *testing.T) {
	t.Setenv("FERRY_USER", "alice")
	w := newWorld(t, 3)
	w.reject["2"], w.reject["3"] = true, true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "discard", "customers", "--key", "2", "--reason", "created by hand in the ERP")
	if code != 0 || !strings.Contains(out, "discarded 1 error entry or dead letter of key 2 (by alice: created by hand in the ERP)") {
		t.Fatalf("discard --key 2 exit %d:\n%s%s", code, out, errOut)
	}
	_, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--key", "2")
	if !strings.Contains(out, "discarded") || !strings.Contains(out, "alice") || !strings.Contains(out, "created by hand in the ERP") {
		t.Fatalf("history --key 2 does not record the discard:\n%s", out)
	}
	_, out, _ = ferry(t, "-c", w.cfg, "history", "customers", "--dead")
	if regexp.MustCompile(`(?m)^\d+\s+2\s`).MatchString(out) || !regexp.MustCompile(`(?m)^\d+\s+3\s`).MatchString(out) {
		t.Fatalf("dead letters after discarding key 2:\n%s", out)
	}
	code, _, errOut = ferry(t, "-c", w.cfg, "discard", "customers", "--key", "2")
	if code != ExitFailed || !strings.Contains(errOut, `nothing discarded: no error entries or dead letters with key "2"`) {
		t.Fatalf("discard of a key with nothing left exit %d: %s", code, errOut)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "discard", "customers", "--dead")
	if code != 0 || !strings.Contains(out, "discarded 1 dead letter ") {
		t.Fatalf("discard --dead exit %d: %s", code, out)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "discard", "customers", "--dead")
	if code != 0 || !strings.Contains(out, "nothing to discard (no dead letters)") {
		t.Fatalf("discard --dead with none exit %d: %s", code, out)
	}
	if w.received["2"] != 0 {
		t.Fatal("a discarded record was delivered")
	}
}

func TestDiscardErrorEntries(t *testing.T) {
	w := newWorldRetry(t, 3, "{ attempts: 5, backoff: 1h, max_backoff: 1h }")
	w.reject["2"] = true
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	// Key 2 waits in error: it is no dead letter.
	code, out, errOut := ferry(t, "-c", w.cfg, "discard", "customers", "--key", "2", "--dead")
	if code != ExitFailed || !strings.Contains(errOut, `key "2" of route "customers" is an error entry, not a dead letter; 'ferry discard customers --key 2 --errors' ends it`) {
		t.Fatalf("discard --key 2 --dead of an error entry exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = ferry(t, "-c", w.cfg, "discard", "customers", "--key", "2", "--errors")
	if code != 0 || !strings.Contains(out, "discarded 1 error entry of key 2") {
		t.Fatalf("discard --key 2 --errors exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, _ := ferry(t, "-c", w.cfg, "queue", "customers", "--key", "2"); code != ExitFailed {
		t.Fatal("the discarded entry is still queued")
	}
	// A pending entry is never discarded: the next run sends it.
	if code, out, errOut := ferry(t, "-c", w.cfg, "resend", "customers", "--key", "1"); code != 0 {
		t.Fatalf("resend exit %d:\n%s%s", code, out, errOut)
	}
	code, _, errOut = ferry(t, "-c", w.cfg, "discard", "customers", "--key", "1")
	if code != ExitFailed || !strings.Contains(errOut, `key "1" of route "customers" is pending (the next run sends it)`) {
		t.Fatalf("discard of a pending key exit %d: %s", code, errOut)
	}
	// Every record changes at the source; 2 and 3 fail and wait in error.
	w.mu.Lock()
	w.reject["3"] = true
	w.edition = ".v2"
	w.mu.Unlock()
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != ExitPartial {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = ferry(t, "-c", w.cfg, "discard", "customers", "--errors")
	if code != 0 || !strings.Contains(out, "discarded 2 error entries (by ") {
		t.Fatalf("discard --errors exit %d: %s", code, out)
	}
	if code, _, _ := ferry(t, "-c", w.cfg, "queue", "customers", "--status", "error", "--key", "3"); code != ExitFailed {
		t.Fatal("a discarded entry is still queued")
	}
}

// resend queues the last delivered payload again; it refuses a key never
// delivered and one that has newer data queued.
func TestResend(t *testing.T) {
	w := newWorld(t, 3)
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != 0 {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut := ferry(t, "-c", w.cfg, "resend", "customers", "--key", "2")
	if code != 0 || !strings.Contains(out, "key 2 queued again as entry") {
		t.Fatalf("resend exit %d:\n%s%s", code, out, errOut)
	}
	code, _, errOut = ferry(t, "-c", w.cfg, "resend", "customers", "--key", "2")
	if code != ExitFailed || !strings.Contains(errOut, "already has an entry queued, in error or being sent") {
		t.Fatalf("second resend exit %d: %s", code, errOut)
	}
	code, _, errOut = ferry(t, "-c", w.cfg, "resend", "customers", "--key", "99")
	if code != ExitFailed || !strings.Contains(errOut, "no delivered payload kept for key 99") {
		t.Fatalf("resend of an unknown key exit %d: %s", code, errOut)
	}
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != 0 {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	if w.received["2"] != 2 || w.received["1"] != 1 {
		t.Fatalf("received %v, want key 2 twice (resent) and the others once", w.received)
	}
}

// prune applies the retention now, reclaims the space with --vacuum and
// shows the store's size before and after.
func TestPrune(t *testing.T) {
	w := newWorld(t, 1000)
	if code, out, errOut := ferry(t, "-c", w.cfg, "run", "customers"); code != 0 {
		t.Fatalf("run exit %d:\n%s%s", code, out, errOut)
	}
	// A shorter retention than the run had: prune applies it now.
	f, _ := os.OpenFile(w.cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("retention: { attempts: 1ms, runs: 1ms }\n")
	f.Close()
	time.Sleep(10 * time.Millisecond) // older than the retention
	code, out, errOut := ferry(t, "-c", w.cfg, "prune", "--vacuum")
	if code != 0 || !strings.Contains(out, "removed 1,000 attempts of delivered records (older than 1ms), 1 finished run (older than 1ms), 0 dead letters (kept forever), 0 delivered contents (kept forever)") {
		t.Fatalf("prune exit %d:\n%s%s", code, out, errOut)
	}
	m := regexp.MustCompile(`store .*ferry\.db: ([\d.]+) kB before, ([\d.]+) kB after\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("prune does not show the sizes:\n%s", out)
	}
	before, _ := strconv.ParseFloat(m[1], 64)
	after, _ := strconv.ParseFloat(m[2], 64)
	if after >= before {
		t.Fatalf("--vacuum did not shrink the store: %s", m[0])
	}
	if code, out, _ := ferry(t, "-c", w.cfg, "history", "customers", "--key", "1"); code != ExitFailed {
		t.Fatalf("attempts kept past the retention (exit %d):\n%s", code, out)
	}
	if code, out, _ := ferry(t, "-c", w.cfg, "prune", "--vacuum", "extra"); code != ExitUsage {
		t.Fatalf("prune with an argument exit %d:\n%s", code, out)
	}
}

func TestPruneRequestFromRetention(t *testing.T) {
	now := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	req := pruneRequest(config.Retention{Attempts: config.Duration(24 * time.Hour), Runs: config.Duration(90 * 24 * time.Hour), DeadLetters: config.Forever, Delivered: config.Forever}, now)
	if !req.AttemptsBefore.Equal(now.Add(-24*time.Hour)) || !req.RunsBefore.Equal(now.Add(-90*24*time.Hour)) || !req.DeadBefore.IsZero() || !req.DeliveredBefore.IsZero() {
		t.Fatalf("prune request %+v", req)
	}
	for d, want := range map[config.Duration]string{config.Forever: "kept forever", config.Duration(30 * 24 * time.Hour): "older than 30d", config.Duration(90 * time.Minute): "older than 1h30m0s"} {
		if got := keptText(d); got != want {
			t.Errorf("keptText(%v) = %q, want %q", d, got, want)
		}
	}
	if byteSize(999) != "999 B" || byteSize(12_300_000) != "12.3 MB" {
		t.Errorf("byteSize: %s %s", byteSize(999), byteSize(12_300_000))
	}
}
