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
	"runtime"
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

// A worker killed with SIGKILL and not yet reaped by its parent is a
// zombie: it still has a pid, but it holds its run lock for nobody. The
// next run must take the route over at once, not wait a minute for the
// lock to expire. (The chaos test reaps its kills; this one must not.)
func TestUnreapedKilledWorkerDoesNotBlockTheNextRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("zombies are told from live processes through /proc on Linux only")
	}
	const total = 300
	cmd, _, snk, cfgPath := startMidway(t, total, 40, 2*time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait() // reaped only at the end
	for deadline := time.Now().Add(5 * time.Second); !isZombie(cmd.Process.Pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the killed ferry (pid %d) did not turn into a zombie", cmd.Process.Pid)
		}
	}

	r := runFerry(t, cfgPath, 30*time.Second, "run", "orders", "--no-progress")
	if r.code != 0 {
		t.Fatalf("the run after the kill, with the killed worker unreaped:\n%s", r)
	}
	if recs, _ := snk.count(); recs != total {
		t.Fatalf("sink has %d of %d records", recs, total)
	}
	if !isZombie(cmd.Process.Pid) {
		t.Fatal("the killed worker was reaped during the test: it proves nothing")
	}
}

// isZombie reports whether pid is a process that ended and was not reaped.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
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

// A fresh store hands out the same entry ids as the last one (a queue
// deleted after a crash, a second installation): the idempotency keys
// must differ all the same, or a destination that remembers keys would
// take new records for repeats and drop them.
func TestFreshStoresNeverRepeatKeys(t *testing.T) {
	const total = 5
	src := source(t, total)
	snk := &sink{keys: map[string][]string{}}
	dst := httptest.NewServer(snk)
	t.Cleanup(dst.Close)
	for range 2 {
		cfg := writeConfig(t, fmt.Sprintf(crashConfig, src.URL, dst.URL)) // a new folder: a new ferry.db
		if r := runFerry(t, cfg, time.Minute, "run", "orders", "--no-progress"); r.code != 0 {
			t.Fatalf("run: %s", r)
		}
	}
	snk.mu.Lock()
	defer snk.mu.Unlock()
	for id, keys := range snk.keys {
		if len(keys) != 2 {
			t.Fatalf("record %s arrived %d times, want once per store: %v", id, len(keys), keys)
		}
		if keys[0] == "" || keys[0] == keys[1] {
			t.Errorf("record %s arrived from two fresh stores with the keys %q and %q: want two different keys", id, keys[0], keys[1])
		}
	}
	if len(snk.keys) != total {
		t.Fatalf("sink has %d of %d records", len(snk.keys), total)
	}
}
