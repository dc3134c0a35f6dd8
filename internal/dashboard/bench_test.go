package dashboard_test

// The dashboard's benchmark (issue 10): with 100 routes and 1,000,000
// entries in a real SQLite store, how long each page takes to render.
//
//	go test ./internal/dashboard/ -run '^$' -bench . -benchtime 20x
//
// The store is built once, through the store's own API, into a cache
// folder (FERRY_BENCH_DIR, default os.UserCacheDir()/ferry-bench) and
// reused by later runs; change benchVersion when what is built changes.
// Nothing is built outside the benchmarks.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/dashboard"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// benchVersion names the built stores: change it when the data changes.
const benchVersion = "v5"

// benchRoutes is how many routes every benchmark store has; benchRoute
// is the route the per-route pages are measured on.
const (
	benchRoutes = 100
	benchRoute  = "r042"
)

// benchNow is the clock of the built data and of the service and the
// dashboard reading it: the charts' last hours hold the built runs
// whenever the benchmark runs.
var benchNow = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// routeMix is what one route holds: entries pending and in error, dead
// letters, and entries delivered (they left the queue but left their
// attempts), over benchRuns runs in the last six hours.
type routeMix struct {
	Pending, Errors, Dead, Done int
}

const benchRuns = 24 // one run every 15 minutes over the last 6 hours

// benchStore is one way to fill the store.
type benchStore struct {
	Name string
	Mix  func(route int) routeMix
}

var (
	// spread: 100 routes of 10,000 entries (2% in error), 100 dead
	// letters and 2,300 attempts each: 1,000,000 entries, 230,000 attempts.
	spreadStore = benchStore{Name: "spread", Mix: func(int) routeMix {
		return routeMix{Pending: 9_800, Errors: 200, Dead: 100, Done: 2_000}
	}}
	// onebig: r042 holds 1,000,000 entries (2% in error), the other 99
	// routes a few each: the worst case for one route's queue and counts.
	oneBigStore = benchStore{Name: "onebig", Mix: func(route int) routeMix {
		if benchRouteName(route) == benchRoute {
			return routeMix{Pending: 980_000, Errors: 20_000, Dead: 1_000, Done: 4_000}
		}
		return routeMix{Pending: 100, Errors: 2, Dead: 1, Done: 21}
	}}
)

func benchRouteName(i int) string { return fmt.Sprintf("r%03d", i) }

// benchKey is the business key of the i-th record of route r: unique
// across routes, so a search finds it in one route.
func benchKey(route, i int) string { return strconv.Itoa((route+1)*10_000_000 + i) }

// benchDash is the dashboard over a built store.
type benchDash struct {
	bs    benchStore
	dash  *dashboard.Dashboard
	store *sqlite.Store
	// fresh reads the overview afresh on every render (OverviewMaxAge
	// -1): what the first viewer, or one after a run ended, waits for.
	fresh *dashboard.Dashboard
}

// openBench opens (building it first when missing) the store bs and
// returns a dashboard reading it through a service with its periodic
// passes off.
func openBench(b *testing.B, bs benchStore) *benchDash {
	b.Helper()
	ctx := context.Background()
	path, err := builtStore(ctx, b, bs)
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg, err := config.Parse([]byte(benchYAML()), filepath.Join(b.TempDir(), "ferry.yaml"), all.Set())
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	clock := func() time.Time { return benchNow }
	off := service.Periods{Schedule: -1, Lead: -1, Rescue: -1, Retain: -1, Sweep: -1, Freshness: -1}
	svc, err := service.New(service.Options{Config: cfg, Store: st, Every: off, Now: clock})
	if err != nil {
		b.Fatalf("service: %v", err)
	}
	d, err := dashboard.New(svc, dashboard.Options{Now: clock})
	if err != nil {
		b.Fatalf("dashboard: %v", err)
	}
	b.Cleanup(func() { d.Close() })
	fresh, err := dashboard.New(svc, dashboard.Options{Now: clock, OverviewMaxAge: -1})
	if err != nil {
		b.Fatalf("dashboard: %v", err)
	}
	b.Cleanup(func() { fresh.Close() })
	return &benchDash{bs: bs, dash: d, store: st, fresh: fresh}
}

// benchYAML is the config: benchRoutes routes whose systems answer
// nowhere (nothing runs), every fifth with a schedule, a few depending
// on the one before.
func benchYAML() string {
	var y strings.Builder
	y.WriteString("systems:\n  shop: { url: \"http://127.0.0.1:9\" }\n  erp: { url: \"http://127.0.0.1:9\" }\nroutes:\n")
	for i := range benchRoutes {
		name := benchRouteName(i)
		fmt.Fprintf(&y, "  %s:\n", name)
		fmt.Fprintf(&y, "    description: Benchmark route %d, shop orders to the ERP\n", i)
		fmt.Fprintf(&y, "    source: { http: { system: shop, path: /orders/%s, records: data, key: id } }\n", name)
		y.WriteString("    steps:\n      - map: { id: id, total: total, customer: customer, lines: lines }\n")
		fmt.Fprintf(&y, "    destinations: { default: { http: { system: erp, method: POST, path: /api/%s, body: each } } }\n", name)
		y.WriteString("    retry: { attempts: 5, backoff: 1m, max_backoff: 1h }\n")
		if i%5 == 0 {
			fmt.Fprintf(&y, "    schedule: \"%d * * * *\"\n", i%60)
		}
		if i%10 == 9 {
			fmt.Fprintf(&y, "    depends_on: [%s]\n", benchRouteName(i-1))
		}
	}
	return y.String()
}

// builtStore returns the path of store bs in the cache folder, building
// it first when it is missing. A build happens in a temporary folder
// renamed at the end, so an interrupted one is never reused.
func builtStore(ctx context.Context, b *testing.B, bs benchStore) (string, error) {
	b.Helper()
	root := os.Getenv("FERRY_BENCH_DIR")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("cache folder (set FERRY_BENCH_DIR): %w", err)
		}
		root = filepath.Join(c, "ferry-bench")
	}
	dir := filepath.Join(root, "dashboard-"+benchVersion+"-"+bs.Name)
	path := filepath.Join(dir, "ferry.db")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("benchmark store: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("benchmark store: %w", err)
	}
	tmp, err := os.MkdirTemp(root, "building-"+bs.Name+"-")
	if err != nil {
		return "", fmt.Errorf("benchmark store: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename, or a failed build
	start := time.Now()
	st, err := sqlite.Open(ctx, filepath.Join(tmp, "ferry.db"))
	if err != nil {
		return "", fmt.Errorf("build benchmark store: %w", err)
	}
	var entries, attempts int
	for i := range benchRoutes {
		n, a, err := fillRoute(ctx, st, i, bs.Mix(i))
		if err != nil {
			st.Close()
			return "", fmt.Errorf("build benchmark store %s: route %s: %w", bs.Name, benchRouteName(i), err)
		}
		entries, attempts = entries+n, attempts+a
	}
	if err := st.Close(); err != nil {
		return "", fmt.Errorf("build benchmark store: close: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("benchmark store: %w", err)
	}
	b.Logf("built benchmark store %s (%d routes, %d entries, %d attempts) in %s: %s",
		bs.Name, benchRoutes, entries, attempts, time.Since(start).Round(time.Second), path)
	fmt.Fprintf(os.Stderr, "built benchmark store %s: %d routes, %d entries, %d attempts in %s\n",
		bs.Name, benchRoutes, entries, attempts, time.Since(start).Round(time.Second))
	return path, nil
}

// fillRoute fills one route as the engine would have: records of the
// last hours collected and sent over benchRuns runs (delivered, failed
// to retry later, or dead), then the records waiting for the next run.
// It returns the entries left queued and the attempts made.
func fillRoute(ctx context.Context, st store.Store, route int, mix routeMix) (queued, attempts int, err error) {
	name := benchRouteName(route)
	const owner = "bench:1:build"
	sent := mix.Errors + mix.Dead + mix.Done
	next := 0
	if err := enqueue(ctx, st, route, &next, sent, benchNow.Add(-7*time.Hour)); err != nil {
		return 0, 0, err
	}
	failing := route%17 == 3 // a few routes whose last run failed
	errorsLeft, deadLeft, doneLeft := mix.Errors, mix.Dead, mix.Done
	for run := range benchRuns {
		started := benchNow.Add(-6*time.Hour + time.Duration(run)*15*time.Minute)
		id, err := st.CreateRun(ctx, store.Run{Route: name, Trigger: "schedule", Mode: "incremental",
			Status: store.RunRunning, StartedAt: started, Owner: owner})
		if err != nil {
			return 0, 0, err
		}
		// Each run sends its share of what is left.
		share := func(left int) int { return (left + benchRuns - run - 1) / (benchRuns - run) }
		ne, nd, nk := share(errorsLeft), share(deadLeft), share(doneLeft)
		errorsLeft, deadLeft, doneLeft = errorsLeft-ne, deadLeft-nd, doneLeft-nk
		r := store.Run{ID: id, Route: name, Trigger: "schedule", Mode: "incremental", StartedAt: started, Iterations: 1}
		for n := ne + nd + nk; n > 0; {
			limit := min(n, 5_000)
			leased, err := st.Lease(ctx, store.LeaseRequest{Route: name, Owner: owner, Limit: limit,
				Now: started, Until: started.Add(time.Hour)})
			if err != nil {
				return 0, 0, err
			}
			if len(leased) == 0 {
				return 0, 0, fmt.Errorf("run %d: nothing to lease", run)
			}
			ss := make([]store.Settlement, 0, len(leased))
			for _, en := range leased {
				at := started.Add(time.Duration(len(ss)) * 40 * time.Millisecond)
				s := store.Settlement{EntryID: en.ID, CountAttempt: true}
				a := store.Attempt{EntryID: en.ID, Route: name, Key: en.Key, Version: en.Version, RunID: id, At: at,
					DurationMillis: int64(40 + len(ss)%200), IdempotencyKey: fmt.Sprintf("ferry-%d-%d", en.ID, en.Version),
					Request: fmt.Sprintf(`POST /api/%s {"id":%s,"total":%d.50}`, name, en.Key, len(ss)%900)}
				switch {
				case ne > 0:
					ne--
					s.Outcome, s.Error, a.StatusCode = store.OutcomeRetry, benchError(en.Key, len(ss)), 0
					s.NextAttemptAt = benchNow.Add(time.Duration(len(ss)%60) * time.Minute)
					a.StatusCode, a.Response = benchStatus(s.Error), benchExcerpt(s.Error)
					r.Failed++
				case nd > 0:
					nd--
					s.Outcome, s.Error = store.OutcomeDead, benchDeadError(en.Key, len(ss))
					a.StatusCode, a.Response = benchStatus(s.Error), benchExcerpt(s.Error)
					r.Failed++
					r.Dead++
				default:
					nk--
					s.Outcome, s.Hash = store.OutcomeDone, benchHash(en.Payload)
					a.StatusCode, a.Response = 200, fmt.Sprintf(`{"erp_id":"ERP-%s"}`, en.Key)
					r.Done++
				}
				a.Outcome, a.Error = s.Outcome, s.Error
				s.Attempt = a
				ss = append(ss, s)
			}
			if err := st.Settle(ctx, owner, ss); err != nil {
				return 0, 0, err
			}
			n -= len(leased)
			r.Collected += len(leased)
			r.Sent += len(leased)
			attempts += len(leased)
		}
		r.EndedAt = started.Add(2*time.Minute + time.Duration(r.Sent)*time.Millisecond)
		switch {
		case failing && run == benchRuns-1:
			r.Status, r.Error = store.RunFailed, `source: GET http://127.0.0.1:9/orders/`+name+`: dial tcp 127.0.0.1:9: connect: connection refused`
		case r.Failed > 0:
			r.Status = store.RunPartiallyFailed
		default:
			r.Status = store.RunSucceeded
		}
		if err := st.UpdateRun(ctx, r); err != nil {
			return 0, 0, err
		}
	}
	if err := enqueue(ctx, st, route, &next, mix.Pending, benchNow.Add(-10*time.Minute)); err != nil {
		return 0, 0, err
	}
	return mix.Pending + mix.Errors, attempts, nil
}

// enqueue queues n new records of route in pages of 5,000, as a
// collector would; next is the number of the next record.
func enqueue(ctx context.Context, st store.Store, route int, next *int, n int, now time.Time) error {
	name := benchRouteName(route)
	for n > 0 {
		page := make([]store.NewEntry, 0, min(n, 5_000))
		for range cap(page) {
			key := benchKey(route, *next)
			p := benchPayload(key, *next)
			page = append(page, store.NewEntry{Key: key, Payload: p, Hash: benchHash(p)})
			*next++
		}
		cursor := strconv.Itoa(*next)
		if _, err := st.EnqueuePage(ctx, name, page, &cursor, now); err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
		n -= len(page)
	}
	return nil
}

// benchPayload is an order of about 300 bytes.
func benchPayload(key string, i int) []byte {
	return fmt.Appendf(nil, `{"id":%s,"customer":{"id":"C-%05d","email":"buyer%d@example.com","name":"Customer %d"},`+
		`"total":%d.%02d,"currency":"EUR","note":"deliver to the back door","lines":[{"sku":"SKU-%06d","qty":%d,"price":%d.99},`+
		`{"sku":"SKU-%06d","qty":1,"price":4.50}],"updated_at":"2026-11-30T0%d:%02d:00Z"}`,
		key, i%50_000, i%50_000, i%50_000, 10+i%990, i%100, i%20_000, 1+i%5, 3+i%40, (i*7)%20_000, i%8, i%60)
}

func benchHash(p []byte) string {
	h := fnv.New128a()
	h.Write(p)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// benchError is a retryable failure: a few causes, each with its
// variable parts (ids, times, numbers) that the errors page folds.
func benchError(key string, i int) string {
	switch i % 5 {
	case 0:
		return fmt.Sprintf(`HTTP 422 Unprocessable Entity: {"error":"customer C-%05d unknown in ERP (code E422)","request":"%x"}`, i*31%50_000, i*7919+123456789)
	case 1:
		return fmt.Sprintf(`HTTP 503 Service Unavailable: {"error":"maintenance, try again at 2026-11-30T07:%02d:00Z"}`, i%60)
	case 2:
		return fmt.Sprintf(`Post "http://127.0.0.1:9/api/orders": context deadline exceeded (Client.Timeout exceeded while awaiting headers) after %dms`, 30_000+i%7)
	case 3:
		return fmt.Sprintf(`HTTP 409 Conflict: {"error":"order %s already exists as ERP-%d"}`, key, 900_000+i)
	default:
		return fmt.Sprintf(`HTTP 400 Bad Request: {"error":"field \"customer.email\" is not a valid address: 'buyer%d@example'"}`, i)
	}
}

// benchDeadError is a failure that spent its retries.
func benchDeadError(key string, i int) string {
	if i%2 == 0 {
		return fmt.Sprintf(`HTTP 404 Not Found: {"error":"product SKU-%06d does not exist"}`, i*13%20_000)
	}
	return fmt.Sprintf(`HTTP 422 Unprocessable Entity: {"error":"order %s: total %d.50 does not match its lines"}`, key, i%900)
}

func benchStatus(msg string) int {
	if s, ok := strings.CutPrefix(msg, "HTTP "); ok && len(s) >= 3 {
		n, _ := strconv.Atoi(s[:3])
		return n
	}
	return 0
}

func benchExcerpt(msg string) string {
	if _, body, ok := strings.Cut(msg, ": "); ok {
		return body
	}
	return ""
}

// get renders path once and fails unless it answers 200.
func (bd *benchDash) get(b *testing.B, path string) int {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr, req.Host = "127.0.0.1:1", "127.0.0.1:8080" // no password: this machine only
	rec := httptest.NewRecorder()
	bd.dash.ServeHTTP(rec, req)
	// A search that finds its key in one route sends the browser on to
	// the key's ledger.
	if rec.Code != http.StatusOK && !(rec.Code == http.StatusSeeOther && strings.HasPrefix(path, "/search?")) {
		b.Fatalf("GET %s: %d\n%s", path, rec.Code, benchBodyExcerpt(rec.Body.String()))
	}
	return rec.Body.Len()
}

func benchBodyExcerpt(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// measure renders path b.N times and reports the milliseconds per
// render and the page size.
func (bd *benchDash) measure(b *testing.B, path string) {
	b.Helper()
	size := 0
	cpu := cpuTime(b)
	for b.Loop() {
		size = bd.get(b, path)
	}
	// The process's CPU time beside the wall time: on a shared machine
	// the wall time includes waiting for a core.
	b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/1e6/float64(b.N), "cpu-ms/render")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/render")
	b.ReportMetric(float64(size), "bytes/page")
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// eachStore runs fn against the spread store and then the one-big-route
// store, each opened once.
func eachStore(b *testing.B, fn func(b *testing.B, bd *benchDash)) {
	for _, bs := range []benchStore{spreadStore, oneBigStore} {
		b.Run(bs.Name, func(b *testing.B) { fn(b, openBench(b, bs)) })
	}
}

func BenchmarkOverview(b *testing.B) {
	eachStore(b, func(b *testing.B, bd *benchDash) {
		b.Run("page", func(b *testing.B) { bd.measure(b, "/") })
		b.Run("table", func(b *testing.B) { bd.measure(b, "/overview/table") })
		fresh := &benchDash{bs: bd.bs, dash: bd.fresh, store: bd.store}
		b.Run("page-fresh", func(b *testing.B) { fresh.measure(b, "/") })
		b.Run("table-fresh", func(b *testing.B) { fresh.measure(b, "/overview/table") })
	})
}

func BenchmarkQueuePage(b *testing.B) {
	eachStore(b, func(b *testing.B, bd *benchDash) {
		// A pending entry in the middle of the route's queue, for a page
		// deep in the list.
		mid, err := middlePending(bd.store, benchRoute)
		if err != nil {
			b.Fatal(err)
		}
		base := "/routes/" + benchRoute + "/queue"
		b.Run("first", func(b *testing.B) { bd.measure(b, base) })
		b.Run("status=error", func(b *testing.B) { bd.measure(b, base+"?status=error") })
		b.Run("status=dead", func(b *testing.B) { bd.measure(b, base+"?status=dead") })
		b.Run("status=sending", func(b *testing.B) { bd.measure(b, base+"?status=sending") })
		b.Run("status=pending&after=mid", func(b *testing.B) {
			bd.measure(b, base+"?status=pending&after="+strconv.FormatInt(mid, 10))
		})
	})
}

func BenchmarkRoutePage(b *testing.B) {
	eachStore(b, func(b *testing.B, bd *benchDash) {
		bd.measure(b, "/routes/"+benchRoute)
	})
}

func BenchmarkErrorsPage(b *testing.B) {
	eachStore(b, func(b *testing.B, bd *benchDash) {
		b.Run("route", func(b *testing.B) { bd.measure(b, "/errors?route="+benchRoute) })
		b.Run("all", func(b *testing.B) { bd.measure(b, "/errors") })
	})
}

func BenchmarkSearch(b *testing.B) {
	eachStore(b, func(b *testing.B, bd *benchDash) {
		// A key waiting in r042's queue (queued after the runs), and one
		// the runs delivered (attempts, last delivered content).
		mix := bd.bs.Mix(42)
		queued := benchKey(42, mix.Errors+mix.Dead+mix.Done+7_777)
		delivered := benchKey(42, mix.Errors+mix.Dead+mix.Done-5)
		b.Run("queued", func(b *testing.B) { bd.measure(b, "/search?q="+queued) })
		b.Run("delivered", func(b *testing.B) { bd.measure(b, "/search?q="+delivered) })
		b.Run("missing", func(b *testing.B) { bd.measure(b, "/search?q=no-such-key") })
		b.Run("ledger/queued", func(b *testing.B) { bd.measure(b, "/routes/"+benchRoute+"/keys/"+queued) })
		b.Run("ledger/delivered", func(b *testing.B) { bd.measure(b, "/routes/"+benchRoute+"/keys/"+delivered) })
	})
}

// middlePending is the ID of an entry half way down route's pending
// queue, found by paging through it.
func middlePending(st store.Store, route string) (int64, error) {
	ctx := context.Background()
	c, err := st.Counts(ctx, route)
	if err != nil {
		return 0, err
	}
	var after int64
	for left := c.Pending / 2; left > 0; {
		es, err := st.Entries(ctx, store.EntryFilter{Route: route, Status: store.StatusPending, AfterID: after, Limit: min(left, 10_000)})
		if err != nil {
			return 0, err
		}
		if len(es) == 0 {
			break
		}
		after = es[len(es)-1].ID
		left -= len(es)
	}
	return after, nil
}
