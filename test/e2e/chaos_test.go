package e2e

// The chaos test: ferry is SIGKILLed many times at random moments (while
// collecting, sending or settling) against a source that fails and cuts
// pages and a destination that refuses, hangs up and loses answers. Then
// it runs to completion, and the destination's log must show that nothing
// was lost and that every repeated delivery of a record carried the same
// idempotency key as its first one.
//
// The suite runs 20 kills per variant. The long version:
//
//	go test ./test/e2e -run Chaos -v -chaos.kills=300
//	FERRY_CHAOS_KILLS=300 go test ./test/e2e -run Chaos -v
//
// A failure prints its seed; -chaos.seed=N (or FERRY_CHAOS_SEED) replays
// the same kill delays and the same server fates (the moments of the
// kills relative to ferry's work still vary with the machine's timing).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var (
	chaosKillsFlag   = flag.Int("chaos.kills", 0, "SIGKILLs per variant in TestChaos (default 20, or $FERRY_CHAOS_KILLS)")
	chaosSeedFlag    = flag.Uint64("chaos.seed", 0, "seed of TestChaos's random choices (default: from the clock, or $FERRY_CHAOS_SEED)")
	chaosRecordsFlag = flag.Int("chaos.records-per-kill", 0, "source records revealed before each kill (default 50)")
)

// chaosSettings reads the flags, then the environment, then the defaults.
func chaosSettings(t *testing.T) (kills int, seed uint64, perKill int) {
	kills, seed, perKill = *chaosKillsFlag, *chaosSeedFlag, *chaosRecordsFlag
	if v := os.Getenv("FERRY_CHAOS_KILLS"); kills == 0 && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("FERRY_CHAOS_KILLS=%q: want a positive number", v)
		}
		kills = n
	}
	if v := os.Getenv("FERRY_CHAOS_SEED"); seed == 0 && v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_CHAOS_SEED=%q: want a number", v)
		}
		seed = n
	}
	if kills <= 0 {
		kills = 20
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if perKill <= 0 {
		perKill = 50
	}
	return kills, seed, perKill
}

// lockedRand is a seeded generator shared by a server's handlers.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed, stream uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed, stream))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// chaosSource serves records 1..visible, oldest first, as
// {"data": [{"id", "seq", "name"}]} on pages (?page=1&size=10). Like
// json-server's _gte it returns records AT or after the cursor (?since=),
// so the record at the cursor is read again on every run: re-reading an
// unchanged record must not give it a new idempotency key. With chaos
// on, some pages fail with 500 and some are cut off mid-body.
type chaosSource struct {
	rng     *lockedRand
	chaos   atomic.Bool
	visible atomic.Int64

	mu                       sync.Mutex
	served                   map[int]int // record id -> times it was served
	pages, failed, truncated int
}

func (s *chaosSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("size"))
	since, _ := strconv.ParseFloat(q.Get("since"), 64) // "" on the first run: 0
	page, size = max(page, 1), max(size, 1)
	first := max(int(since), 1) + (page-1)*size
	last := min(first+size-1, int(s.visible.Load()))
	data := []map[string]any{}
	for id := first; id <= last; id++ {
		data = append(data, map[string]any{"id": id, "seq": id, "name": fmt.Sprintf("order %d", id)})
	}
	body, _ := json.Marshal(map[string]any{"data": data})

	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages++
	if s.chaos.Load() {
		switch x := s.rng.Float64(); {
		case x < 0.05:
			s.failed++
			http.Error(w, `{"error":"shop database unavailable (injected)"}`, http.StatusInternalServerError)
			return
		case x < 0.10:
			// Half a body: with the full Content-Length the client sees
			// an unexpected EOF, without it a 200 with broken JSON.
			s.truncated++
			if s.rng.IntN(2) == 0 {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(body[:len(body)/2])
			return
		}
	}
	for id := first; id <= last; id++ {
		s.served[id]++
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// chaosDest is a destination that records every application of a record
// with the idempotency key it came with: the Idempotency-Key header for
// one request per record, the element's own "idem" field for a batch.
// With chaos on it answers 503, hangs up before applying, or applies and
// then loses the answer (hangs up, or answers 503).
type chaosDest struct {
	rng   *lockedRand
	chaos atomic.Bool
	array bool

	mu       sync.Mutex
	applied  map[string][]string // record id -> key of each application, in order
	batches  map[string]string   // array: batch Idempotency-Key -> ids it carried, sorted
	headers  map[string][]string // array: record id -> batch Idempotency-Key of each application
	reused   []string            // array: a batch key seen with other records
	bad      []string            // requests the test cannot read (a test bug)
	requests int
	fates    map[string]int // what the destination did, for the log
}

const (
	fateOK          = "ok"
	fateRefused     = "503 before applying"
	fateDropped     = "hung up before applying"
	fateLostDropped = "applied, then hung up"
	fateLost503     = "applied, then 503"
)

func (d *chaosDest) fate() string {
	if !d.chaos.Load() {
		return fateOK
	}
	switch x := d.rng.Float64(); {
	case x < 0.10:
		return fateRefused
	case x < 0.20:
		return fateDropped
	case x < 0.25:
		return fateLostDropped
	case x < 0.30:
		return fateLost503
	}
	return fateOK
}

func (d *chaosDest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away (killed)
	}
	// Work takes time, more for a bigger batch, so kills land mid-send.
	time.Sleep(time.Duration(d.rng.IntN(1000)*max(bytes.Count(body, []byte(`"id"`)), 1)) * time.Microsecond)
	fate := d.fate()
	d.mu.Lock()
	d.requests++
	d.fates[fate]++
	d.mu.Unlock()
	switch fate {
	case fateRefused:
		http.Error(w, `{"error":"busy (injected)"}`, http.StatusServiceUnavailable)
		return
	case fateDropped:
		hangUp(w)
		return
	}
	if err := d.apply(r, body); err != nil {
		d.mu.Lock()
		d.bad = append(d.bad, fmt.Sprintf("%s %s: %v: %.200s", r.Method, r.URL.Path, err, body))
		d.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch fate {
	case fateLostDropped:
		hangUp(w)
	case fateLost503:
		http.Error(w, `{"error":"timeout after commit (injected)"}`, http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}
}

// apply records the request's records as received.
func (d *chaosDest) apply(r *http.Request, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.array {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("body is not a JSON object: %w", err)
		}
		id := fmt.Sprint(rec["id"])
		if want := lastSegment(r); id != want {
			return fmt.Errorf("record %s sent to the path of key %s", id, want)
		}
		d.applied[id] = append(d.applied[id], r.Header.Get("Idempotency-Key"))
		return nil
	}
	var elems []map[string]any
	if err := dec.Decode(&elems); err != nil {
		return fmt.Errorf("body is not a JSON array of objects: %w", err)
	}
	ids := make([]string, len(elems))
	for i, el := range elems {
		ids[i] = fmt.Sprint(el["id"])
		key, _ := el["idem"].(string)
		d.applied[ids[i]] = append(d.applied[ids[i]], key)
		d.headers[ids[i]] = append(d.headers[ids[i]], r.Header.Get("Idempotency-Key"))
	}
	// A batch key stands for one set of records (in any order): a
	// destination that deduplicates by the header would drop other
	// records sent under it.
	composition := strings.Join(slices.Sorted(slices.Values(ids)), ",")
	if hk := r.Header.Get("Idempotency-Key"); hk != "" {
		if prev, ok := d.batches[hk]; ok && prev != composition {
			d.reused = append(d.reused, fmt.Sprintf("batch key %s carried [%s], then [%s]", hk, prev, composition))
		}
		d.batches[hk] = composition
	}
	return nil
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("hijack: %v", err)) // httptest serves HTTP/1.1: cannot happen
	}
	conn.Close()
}

const chaosConfig = `
store: ferry.db
systems:
  shop: { url: %q, timeout: 2s }
  erp: { url: %q, timeout: 2s }
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
        paginate: { page: { size: 10 } }
    batch: 10
    retry: { attempts: 1000, backoff: 20ms, max_backoff: 200ms }
    destinations:
      default:
        http: %s
`

// Each destination variant: one request per record with the key in the
// header, or one per batch with each record's own key inside its element.
var chaosVariants = []struct{ name, destination string }{
	{"each", `{ system: erp, method: PUT, path: "/orders/${key}", body: each }`},
	{"array", `{ system: erp, method: POST, path: /orders/batch, body: array, map: { id: id, seq: seq, idem: idempotency_key } }`},
}

func TestChaos(t *testing.T) {
	kills, seed, perKill := chaosSettings(t)
	t.Logf("chaos: %d kills per variant, %d records revealed per kill, seed %d (replay: -chaos.seed=%d -chaos.kills=%d)",
		kills, perKill, seed, seed, kills)
	for i, v := range chaosVariants {
		t.Run(v.name, func(t *testing.T) {
			runChaos(t, v.destination, v.name == "array", kills, perKill, seed+uint64(i))
		})
	}
}

// runChaos is one variant: the kill loop, the run to completion, the checks.
func runChaos(t *testing.T, destination string, array bool, kills, perKill int, seed uint64) {
	t.Logf("seed %d", seed)
	killRng := rand.New(rand.NewPCG(seed, 1))
	src := &chaosSource{rng: newLockedRand(seed, 2), served: map[int]int{}}
	dst := &chaosDest{rng: newLockedRand(seed, 3), array: array,
		applied: map[string][]string{}, batches: map[string]string{}, headers: map[string][]string{}, fates: map[string]int{}}
	srcSrv, dstSrv := httptest.NewServer(src), httptest.NewServer(dst)
	t.Cleanup(srcSrv.Close)
	t.Cleanup(dstSrv.Close)
	cfg := writeConfig(t, fmt.Sprintf(chaosConfig, srcSrv.URL, dstSrv.URL, destination))
	total := kills * perKill

	// The kill loop: each run sees perKill more records and is killed at
	// a random moment, unless it ends first.
	src.chaos.Store(true)
	dst.chaos.Store(true)
	landed, ended, blocked := 0, map[int]int{}, 0
	for i := range kills {
		src.visible.Store(int64((i + 1) * perKill))
		delay := time.Duration(5+killRng.IntN(296)) * time.Millisecond
		code, out, killed := runAndKill(t, cfg, delay)
		src.mu.Lock()
		pages := src.pages
		src.mu.Unlock()
		dst.mu.Lock()
		requests := dst.requests
		dst.mu.Unlock()
		if killed {
			landed++
			t.Logf("kill %d: SIGKILL after %v (so far: %d source pages, %d destination requests)", i+1, delay, pages, requests)
			continue
		}
		ended[code]++
		t.Logf("kill %d: the run ended by itself with exit %d before %v", i+1, code, delay)
		switch {
		case code == 2:
			t.Fatalf("ferry refused the config or arguments:\n%s", out)
		case code == 1 && strings.Contains(out, "already running"):
			// The killed worker's run lock was not taken back at once.
			blocked++
			t.Logf("  blocked by a dead worker's lock: %s", firstLine(out))
		case code != 0:
			t.Logf("  %s", lastLines(out, 3))
		}
	}
	t.Logf("kills that landed while ferry ran: %d of %d; runs that ended by themselves, by exit code: %v", landed, kills, ended)

	// The run to completion: everything visible, servers healthy, no kills.
	src.visible.Store(int64(total))
	src.chaos.Store(false)
	dst.chaos.Store(false)
	finals := 0
	for deadline := time.Now().Add(3 * time.Minute); ; {
		finals++
		r := runFerry(t, cfg, 2*time.Minute, "run", "orders", "--no-progress")
		if r.code == 2 {
			t.Fatalf("final run: %s", r)
		}
		if len(queued(t, cfg)) == 0 {
			if r.code != 0 {
				t.Errorf("the last run, against healthy servers, exited %d:\n%s", r.code, r)
			}
			break
		}
		if finals == 20 || time.Now().After(deadline) {
			t.Errorf("the queue is not empty after %d runs against healthy servers; last run:\n%s", finals, r)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	src.mu.Lock()
	t.Logf("source: %d pages served, %d failed with 500, %d truncated", src.pages, src.failed, src.truncated)
	src.mu.Unlock()
	dst.mu.Lock()
	defer dst.mu.Unlock()
	t.Logf("destination: %d requests: %v", dst.requests, dst.fates)
	t.Logf("final runs until the queue was empty: %d", finals)
	if blocked > 0 {
		t.Errorf("%d of %d runs in the kill loop stopped at once because a killed worker still held the route's lock", blocked, kills)
	}
	for _, b := range dst.bad {
		t.Errorf("the destination could not read a request (a test bug?): %s", b)
	}
	checkApplications(t, dst.applied, src.served, total)
	for _, r := range dst.reused {
		t.Errorf("one batch Idempotency-Key for different records: %s", r)
	}
	if array {
		// Not an invariant (a batch that failed again may be re-composed),
		// but it shows how often a destination deduplicating by the header
		// alone would have applied a record twice.
		records, apps := 0, 0
		for _, keys := range dst.headers {
			differ := 0
			for _, k := range keys[1:] {
				if k != keys[0] {
					differ++
				}
			}
			if differ > 0 {
				records++
				apps += differ
			}
		}
		t.Logf("array: %d records were repeated under another batch Idempotency-Key header (%d repeats)", records, apps)
	}
	checkStoreIsClean(t, cfg)
}

// checkApplications checks the destination's log: every record arrived,
// and every repeat carried the key of the first application.
func checkApplications(t *testing.T, applied map[string][]string, served map[int]int, total int) {
	t.Helper()
	var lost, strangers, noKey, otherKey []string
	applications, repeats, otherKeyApps := 0, 0, 0
	for id := 1; id <= total; id++ {
		if _, ok := applied[strconv.Itoa(id)]; !ok {
			lost = append(lost, strconv.Itoa(id))
		}
	}
	ids := make([]string, 0, len(applied))
	for id := range applied {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return numLess(ids[i], ids[j]) })
	for _, id := range ids {
		keys := applied[id]
		applications += len(keys)
		repeats += len(keys) - 1
		if n, err := strconv.Atoi(id); err != nil || n < 1 || n > total {
			strangers = append(strangers, id)
		}
		if slices.Contains(keys, "") {
			noKey = append(noKey, id)
		}
		differ := 0
		for _, k := range keys[1:] {
			if k != keys[0] {
				differ++
			}
		}
		if differ > 0 {
			otherKeyApps += differ
			n, _ := strconv.Atoi(id)
			otherKey = append(otherKey, fmt.Sprintf("record %s applied %d times with %d keys %v (served by the source %d times)",
				id, len(keys), len(distinct(keys)), shortKeys(keys), served[n]))
		}
	}
	t.Logf("records: %d at the source, %d applied (%d applications, %d repeats), %d lost, %d repeats under a different key (%d records)",
		total, len(applied), applications, repeats, len(lost), otherKeyApps, len(otherKey))
	if len(lost) > 0 {
		t.Errorf("LOST: %d of %d records never reached the destination: %s", len(lost), total, sample(lost))
	}
	if len(strangers) > 0 {
		t.Errorf("the destination got records the source never had: %s", sample(strangers))
	}
	if len(noKey) > 0 {
		t.Errorf("%d records were applied without an idempotency key (each: Idempotency-Key header; array: the element's idem field from ${idempotency_key}): %s",
			len(noKey), sample(noKey))
	}
	if len(otherKey) > 0 {
		t.Errorf("DIFFERENT KEY: %d records (%d applications) were applied again under another idempotency key than their first application's; e.g.\n  %s",
			len(otherKey), otherKeyApps, strings.Join(otherKey[:min(len(otherKey), 5)], "\n  "))
	}
}

// checkStoreIsClean checks that no record waits, none became a dead
// letter, and no run was left "running" by a killed worker.
func checkStoreIsClean(t *testing.T, cfg string) {
	t.Helper()
	var q []queuedEntry
	if r := ferry(t, cfg, "queue", "orders", "--json", "--limit", "1000000"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &q) != nil {
		t.Errorf("ferry queue --json:\n%s", r)
	} else if len(q) > 0 {
		t.Errorf("%d entries still queued; first: %+v", len(q), q[0])
	}
	var dead []struct {
		Key       string `json:"key"`
		LastError string `json:"last_error"`
	}
	if r := ferry(t, cfg, "history", "orders", "--dead", "--json", "--limit", "100000"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &dead) != nil {
		t.Errorf("ferry history --dead --json:\n%s", r)
	} else if len(dead) > 0 {
		t.Errorf("%d dead letters; first: key %s: %s", len(dead), dead[0].Key, dead[0].LastError)
	}
	var runs []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if r := ferry(t, cfg, "history", "orders", "--json", "--limit", "100000"); r.code != 0 || json.Unmarshal([]byte(r.stdout), &runs) != nil {
		t.Errorf("ferry history --json:\n%s", r)
		return
	}
	statuses := map[string]int{}
	for _, run := range runs {
		statuses[run.Status]++
	}
	t.Logf("runs by status: %v", statuses)
	if n := statuses["running"]; n > 0 {
		t.Errorf("%d runs of killed workers are still recorded as running (want abandoned)", n)
	}
}

// runAndKill starts `ferry run orders` and SIGKILLs it after delay unless
// it ends first; it reaps the process either way. killed tells which.
func runAndKill(t *testing.T, cfg string, delay time.Duration) (code int, out string, killed bool) {
	t.Helper()
	cmd := exec.Command(ferryBin, "-c", cfg, "run", "orders", "--no-progress")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("ferry run: %v", err)
		}
		return cmd.ProcessState.ExitCode(), buf.String(), false
	case <-time.After(delay):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done // reaped: no zombie holds the route's lock
		// It may have ended by itself just before the signal.
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && !ws.Signaled() {
			return cmd.ProcessState.ExitCode(), buf.String(), false
		}
		return -1, buf.String(), true
	}
}

// runFerry is ferry() with a time limit, so a hung run fails the test
// instead of stalling the suite.
func runFerry(t *testing.T, cfg string, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, append([]string{"-c", cfg}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ferry %v did not end within %v:\n%s%s", args, limit, out.String(), errb.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ferry %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

func numLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA != nil || errB != nil {
		return a < b
	}
	return x < y
}

func distinct(keys []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// shortKeys abbreviates keys to 8 characters for messages.
func shortKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if len(k) > 8 {
			k = k[:8]
		}
		if k == "" {
			k = `""`
		}
		out[i] = k
	}
	return out
}

func sample(ids []string) string {
	if len(ids) > 10 {
		return strings.Join(ids[:10], ", ") + fmt.Sprintf(" ... (%d more)", len(ids)-10)
	}
	return strings.Join(ids, ", ")
}

// lastLines is the last n lines of s, each cut to 160 bytes, joined
// with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	lines = lines[max(len(lines)-n, 0):]
	for i, l := range lines {
		if len(l) > 160 {
			lines[i] = l[:160] + "..."
		}
	}
	return strings.Join(lines, " | ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
