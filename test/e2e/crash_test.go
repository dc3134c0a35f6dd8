// Package e2e runs the ferry binary as a user would, including killing it
// mid-flight (the chaos tests).
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ferryBin is the binary built once for the package's tests.
var ferryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferry-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ferryBin = filepath.Join(dir, "ferry")
	build := exec.Command("go", "build", "-o", ferryBin, "github.com/ferry-dev/ferry/cmd/ferry")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build ferry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// source serves n records on pages of size, oldest first; since (the
// cursor) skips records with an id up to it.
func source(t *testing.T, n int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		var data []map[string]any
		for i := since + (page-1)*size + 1; i <= min(since+page*size, n); i++ {
			data = append(data, map[string]any{"id": i, "seq": i, "name": fmt.Sprintf("order %d", i)})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// sink records every delivery with its Idempotency-Key; each request is
// slow so that a kill lands in the middle of sending.
type sink struct {
	mu       sync.Mutex
	keys     map[string][]string // record id -> Idempotency-Keys of each delivery
	requests int
	delay    time.Duration
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rec map[string]any
	if err := json.NewDecoder(r.Body).Decode(&rec); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	time.Sleep(s.delay)
	s.mu.Lock()
	id := fmt.Sprint(rec["id"])
	s.keys[id] = append(s.keys[id], r.Header.Get("Idempotency-Key"))
	s.requests++
	s.mu.Unlock()
	w.WriteHeader(201)
}

func (s *sink) count() (records, requests int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys), s.requests
}

const crashConfig = `
store: ferry.db
systems:
  shop: { url: "%s" }
  erp: { url: "%s" }
routes:
  orders:
    source:
      http:
        system: shop
        path: /orders
        query: { since: "${cursor}" }
        records: data
        key: id
        cursor: seq
        paginate: { page: { size: 100 } }
    batch: 20
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}", body: each }
`

// startMidway writes the config for src and a sink with the given delay,
// starts `ferry run orders` and returns once the sink has at least n
// records, with the running command, its output and the config path.
func startMidway(t *testing.T, total, n int, delay time.Duration) (*exec.Cmd, *bytes.Buffer, *sink, string) {
	t.Helper()
	src := source(t, total)
	snk := &sink{keys: map[string][]string{}, delay: delay}
	dst := httptest.NewServer(snk)
	t.Cleanup(dst.Close)
	cfgPath := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(crashConfig, src.URL, dst.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ferryBin, "-c", cfgPath, "run", "orders", "--no-progress")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if recs, _ := snk.count(); recs >= n {
			return cmd, out, snk, cfgPath
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run delivered too little in 30s:\n%s", out.String())
		}
	}
}

func TestKillDuringSendingLosesNothing(t *testing.T) {
	const total = 400
	// First run: kill -9 once some records, but not all, have arrived.
	cmd, _, snk, cfgPath := startMidway(t, total, 60, 2*time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killedAt, _ := snk.count()
	if killedAt >= total {
		t.Fatalf("the run finished before the kill (%d records); make the sink slower", killedAt)
	}

	// Second run: picks up the dead worker's leases at once and finishes.
	second := exec.Command(ferryBin, "-c", cfgPath, "run", "orders", "--no-progress")
	b, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, b)
	}

	records, requests := snk.count()
	if records != total {
		t.Fatalf("ERP has %d of %d records after the restart\n%s", records, total, b)
	}
	dups := 0
	for id, keys := range snk.keys {
		for _, k := range keys[1:] {
			if k != keys[0] {
				t.Errorf("record %s was delivered with different Idempotency-Keys: %v", id, keys)
			}
		}
		if keys[0] == "" {
			t.Errorf("record %s was delivered without an Idempotency-Key", id)
		}
		dups += len(keys) - 1
	}
	t.Logf("killed after %d records; %d requests in all, %d redeliveries (same key)", killedAt, requests, dups)

	// The queue is empty and the history has the two runs.
	hist := exec.Command(ferryBin, "-c", cfgPath, "queue", "orders")
	b, err = hist.CombinedOutput()
	if err != nil || !bytes.Contains(b, []byte("0 pending, 0 error, 0 leased")) {
		t.Fatalf("queue after the restart: %v\n%s", err, b)
	}
}

// Ctrl-C stops a run cleanly: exit 130, the run is recorded as cancelled,
// entries in flight go back to the queue at once, and the next run
// finishes the work.
func TestInterruptCancelsCleanly(t *testing.T) {
	const total = 300
	cmd, out, snk, cfgPath := startMidway(t, total, 40, 3*time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d (%v), want 130\n%s", code, err, out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("orders: cancelled")) {
		t.Errorf("summary does not say cancelled:\n%s", out.String())
	}
	q, err := exec.Command(ferryBin, "-c", cfgPath, "queue", "orders").CombinedOutput()
	if err != nil || !bytes.Contains(q, []byte(" 0 leased")) {
		t.Fatalf("after the interrupt, entries are still leased: %v\n%s", err, q)
	}
	if b, err := exec.Command(ferryBin, "-c", cfgPath, "run", "orders", "--no-progress").CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, b)
	}
	if recs, _ := snk.count(); recs != total {
		t.Fatalf("sink has %d of %d records", recs, total)
	}
}
