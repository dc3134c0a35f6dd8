// Command webhook measures ferry's webhook endpoint: a ferry service and
// HTTP server in this process (a webhook route delivering to a loopback
// sink), and a second process that posts single-record webhook calls on
// keep-alive connections. It prints requests per second and the latency
// to the 202 (p50/p99/max); every 202 means the record is durable (group
// commits with fsync). At the end it checks that the sink got every
// record. See bench/README.md.
//
//	go run ./bench/webhook                         # 50,000 posts, 64 connections
//	go run ./bench/webhook -requests 100000 -conns 128
//	go run ./bench/webhook -client nethttp         # the load posts with Go's http.Client
//	go run ./bench/webhook -rate 8000 -conns 256 -warmup 20000  # open loop, after a warm-up
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/cputime"
	"github.com/ferry-dev/ferry/internal/gctune"
	"github.com/ferry-dev/ferry/internal/server"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

const token = "bench-webhook-token"

func main() {
	requests := flag.Int("requests", 50_000, "webhook calls, one record each")
	conns := flag.Int("conns", 64, "concurrent connections of the load process")
	load := flag.String("load", "", "internal: be the load process and post to this URL")
	tok := flag.String("token", token, "internal: the bearer token the load process sends (tests send a wrong one)")
	client := flag.String("client", "raw", "the load process's HTTP client: raw (HTTP/1.1 written and read by hand on each keep-alive connection: the load takes less of the 2 cores ferry is measured on) or nethttp (Go's http.Client, 2-3x the load process's CPU)")
	warmup := flag.Int("warmup", 0, "posts made (closed loop, on the same connections) before the measured ones; the figures start once their records are delivered. E.g. 20000 to measure past a fresh store's first growth of its write-ahead log to 64 MB")
	rate := flag.Float64("rate", 0, "open loop: start the posts at this many per second, whatever the answers (latency counts from each post's scheduled start, so a server that falls behind shows it); 0: closed loop, each connection posts again when answered")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the ferry side here")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the ferry side here")
	flag.Parse()
	if *cpuprofile != "" && *load == "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/webhook:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" && *load == "" {
		runtime.MemProfileRate = 64 << 10
		defer writeMemProfile(*memprofile)
	}
	spec := loadSpec{requests: *requests, warmup: *warmup, conns: *conns, client: *client, rate: *rate, token: *tok}
	err := spec.check()
	switch {
	case err != nil:
	case *load != "":
		err = generate(*load, spec)
	default:
		gctune.Apply() // the ferry side runs with the GC settings the ferry binary uses
		err = run(spec)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/webhook:", err)
		os.Exit(1)
	}
}

// writeMemProfile writes the allocations since the start to path.
func writeMemProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/webhook:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "bench/webhook:", err)
	}
}

// loadSpec is what the load process does.
type loadSpec struct {
	requests, conns int
	warmup          int // posts before the measured ones, not measured
	client          string
	rate            float64 // posts started per second (open loop); 0: closed loop
	token           string  // sent by the load process; "" is the route's
}

// check refuses a spec the load process cannot run.
func (s loadSpec) check() error {
	switch {
	case s.requests < 1 || s.conns < 1 || s.warmup < 0:
		return fmt.Errorf("-requests %d -conns %d -warmup %d: want at least one request and connection, and a warm-up of 0 or more", s.requests, s.conns, s.warmup)
	case math.IsNaN(s.rate) || math.IsInf(s.rate, 0) || s.rate < 0 || (s.rate > 0 && float64(s.requests)/s.rate > 24*3600):
		return fmt.Errorf("-rate %g: want 0 (closed loop) or a number of posts a second that ends within a day", s.rate)
	}
	_, err := newPoster(s.client, "http://127.0.0.1/", 1, "")
	return err
}

// args are the load process's flags for s.
func (s loadSpec) args(url string) []string {
	tok := s.token
	if tok == "" {
		tok = token
	}
	return []string{"-load", url, "-token", tok, "-client", s.client, "-requests", fmt.Sprint(s.requests), "-warmup", fmt.Sprint(s.warmup), "-conns", fmt.Sprint(s.conns), "-rate", fmt.Sprint(s.rate)}
}

// describe names the load in the report's first line.
func (s loadSpec) describe() string {
	d := fmt.Sprintf("on %d connections (client %s)", s.conns, s.client)
	if s.rate > 0 {
		d = fmt.Sprintf("at %g/s (open loop) on up to %d connections (client %s)", s.rate, s.conns, s.client)
	}
	if s.warmup > 0 {
		d += fmt.Sprintf(", after %d warm-up posts", s.warmup)
	}
	return d
}

// result is what the load process reports of the measured posts.
type result struct {
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"` // posts not answered 202, or not made after one was not
	Elapsed  time.Duration `json:"elapsed"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
	// Open loop: posts that started more than a millisecond after their
	// scheduled time (all connections busy, or the load process itself
	// late: its sleeps overshoot by up to a millisecond on a busy
	// machine), and the 99th percentile of that lag.
	Late   int           `json:"late"`
	LagP99 time.Duration `json:"lag_p99"`
	CPU    time.Duration `json:"cpu"` // the load process's own, during the measured posts
}

// The load process and run talk over its stdin and stdout: after the
// warm-up it writes warmedUp and the warm-up's failed posts, and waits
// for a line on stdin (run has let the warm-up's records reach the sink
// and started its counters); at the end it writes a result as JSON.
const warmedUp = "warmed-up"

// sink is the route's destination: it counts every record by id.
type sink struct {
	mu      sync.Mutex
	seen    []bool // by id, 1..len-1
	unique  int
	dups    int
	foreign int // ids out of range, or records without one
	batches int
}

func (k *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var batch []struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.batches++
	for _, rec := range batch {
		switch {
		case rec.ID < 1 || rec.ID >= int64(len(k.seen)):
			k.foreign++
		case k.seen[rec.ID]:
			k.dups++
		default:
			k.seen[rec.ID] = true
			k.unique++
		}
	}
	w.WriteHeader(http.StatusOK)
}

// got returns how many distinct records arrived, of ids first..last.
func (k *sink) got(first, last int64) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for id := first; id <= last; id++ {
		if k.seen[id] {
			n++
		}
	}
	return n
}

// sinkCounts are a sink's counters at one moment.
type sinkCounts struct{ unique, dups, foreign, batches int }

func (k *sink) snapshot() sinkCounts {
	k.mu.Lock()
	defer k.mu.Unlock()
	return sinkCounts{k.unique, k.dups, k.foreign, k.batches}
}

// minus is what arrived between b and c.
func (c sinkCounts) minus(b sinkCounts) sinkCounts {
	return sinkCounts{c.unique - b.unique, c.dups - b.dups, c.foreign - b.foreign, c.batches - b.batches}
}

// waitFor waits until the sink has want distinct records of ids
// first..last, or two minutes, and reports whether it got them.
func (k *sink) waitFor(first, last int64, want int) bool {
	for deadline := time.Now().Add(2 * time.Minute); k.got(first, last) < want; {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func run(spec loadSpec) error {
	snk := &sink{seen: make([]bool, spec.requests+spec.warmup+1)}
	sinkSrv := httptest.NewServer(snk)
	defer sinkSrv.Close()
	dir, err := os.MkdirTemp("", "ferry-bench-webhook-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Setenv("BENCH_HOOK_TOKEN", token)
	yaml := fmt.Sprintf(`store: ferry.db
systems:
  sink: { url: %q }
routes:
  orders:
    webhook: { key: id, token: "${env:BENCH_HOOK_TOKEN}" }
    batch: 500
    destinations:
      default:
        http: { system: sink, method: POST, path: /orders, body: array }
`, sinkSrv.URL)
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "ferry.yaml"), all.Set())
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := service.New(service.Options{Config: cfg, Store: st})
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	srv := server.New(svc, server.Options{})
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	url := "http://" + ln.Addr().String() + "/hooks/orders"
	cmd := exec.Command(os.Args[0], spec.args(url)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("load process: %w", err)
	}
	waited := false
	defer func() {
		// An early return: the load process may be blocked on its
		// go-ahead; end it rather than wait for it for ever.
		if !waited {
			stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// loadErr adds the load process's own end to an error talking to it.
	loadErr := func(err error) error {
		stdin.Close()
		waited = true
		return errors.Join(fmt.Errorf("load process: %w", err), cmd.Wait())
	}
	out := bufio.NewReader(stdout)
	warmupErrors := 0
	warmFirst, warmLast := int64(spec.requests)+1, int64(spec.requests+spec.warmup)
	if spec.warmup > 0 {
		// The counters start once the warm-up's records are delivered.
		line, err := out.ReadString('\n')
		if _, err2 := fmt.Sscanf(line, warmedUp+" %d", &warmupErrors); err != nil || err2 != nil {
			return loadErr(fmt.Errorf("after its warm-up it said %q: %w", line, errors.Join(err, err2)))
		}
		if want := spec.warmup - warmupErrors; !snk.waitFor(warmFirst, warmLast, want) {
			return loadErr(fmt.Errorf("records lost in the warm-up: %d accepted, %d delivered", want, snk.got(warmFirst, warmLast)))
		}
	}
	before := snk.snapshot()
	cpu0 := cputime.Process()
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return loadErr(err)
	}
	line, err := out.ReadBytes('\n')
	if err != nil {
		return loadErr(fmt.Errorf("it said %q: %w", line, err))
	}
	var res result
	if err := json.Unmarshal(line, &res); err != nil {
		return loadErr(fmt.Errorf("it said %q: %w", line, err))
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("load process: %w", err)
	}
	cpuPosting := cputime.Process() - cpu0
	// Every 202 is a durable record: all of them reach the sink.
	accepted := res.Requests - res.Errors
	snk.waitFor(1, int64(res.Requests), accepted) // checked below
	// CPU per post, unlike requests/s, hardly moves when others share
	// the machine: ferry's from the first measured post until the sink
	// has every record (accepting and delivering), and the load
	// process's own.
	cpuAll := cputime.Process() - cpu0
	runtime.ReadMemStats(&mem1)
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := svc.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Printf("webhook: %d single-record posts %s, %d errors", res.Requests, spec.describe(), res.Errors)
	if spec.warmup > 0 {
		fmt.Printf("; warm-up: %d errors", warmupErrors)
	}
	fmt.Println()
	fmt.Printf("%.0f requests/s; latency to the 202: p50 %s, p99 %s, max %s\n",
		float64(res.Requests)/res.Elapsed.Seconds(), res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Max.Round(10*time.Microsecond))
	if spec.rate > 0 {
		fmt.Printf("open loop: %g/s offered; %d posts started over 1 ms late, p99 start lag %s\n", spec.rate, res.Late, res.LagP99.Round(10*time.Microsecond))
	}
	got := snk.got(1, int64(res.Requests))
	measured := snk.snapshot().minus(before)
	unique, dups, foreign, batches := measured.unique, measured.dups, measured.foreign, measured.batches
	fmt.Printf("delivered to the sink: %d of %d accepted, in %d batches (%d distinct records, %d again, %d unknown)\n", got, accepted, batches, unique, dups, foreign)
	perPost := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(res.Requests) }
	fmt.Printf("cpu_us %.1f ferry CPU microseconds per request until all delivered (%.1f while posting; the sink's included), load process %.1f\n",
		perPost(cpuAll), perPost(cpuPosting), perPost(res.CPU))
	fmt.Printf("allocs %.0f per request on the ferry side (%.1f kB)\n",
		float64(mem1.Mallocs-mem0.Mallocs)/float64(res.Requests), float64(mem1.TotalAlloc-mem0.TotalAlloc)/1024/float64(res.Requests))
	switch {
	case res.Errors+warmupErrors > 0:
		return fmt.Errorf("%d posts (%d in the warm-up) were not answered 202: the figures above do not hold", res.Errors+warmupErrors, warmupErrors)
	case got != accepted || foreign > 0:
		return fmt.Errorf("records lost: %d accepted, %d of them delivered (and %d unknown records)", accepted, got, foreign)
	}
	return nil
}

// postTimeout bounds one post, so a stalled server fails the run
// instead of hanging it.
const postTimeout = 30 * time.Second

// generate is the load process: the warm-up, then spec's posts, all on
// the same connections (see the protocol at warmedUp).
func generate(url string, spec loadSpec) error {
	newConn, err := newPoster(spec.client, url, spec.conns, spec.token)
	if err != nil {
		return err
	}
	posters := make([]poster, spec.conns)
	for i := range posters {
		posters[i] = newConn()
		defer posters[i].close()
	}
	if spec.warmup > 0 {
		// The warm-up's posts take the ids after the measured ones.
		wu := phase{posters: posters, first: int64(spec.requests) + 1, count: spec.warmup}
		answered, _, _ := wu.post()
		// Posts not answered 202, and those not made after one was not.
		fmt.Printf("%s %d\n", warmedUp, wu.count-len(answered))
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the go-ahead: %w", err)
	}
	cpu0 := cputime.Process()
	m := phase{posters: posters, first: 1, count: spec.requests, rate: spec.rate}
	lat, lags, elapsed := m.post()
	cpu := cputime.Process() - cpu0
	slices.Sort(lat)
	slices.Sort(lags)
	late := 0
	for _, l := range lags {
		if l > time.Millisecond {
			late++
		}
	}
	return json.NewEncoder(os.Stdout).Encode(result{
		Requests: spec.requests, Errors: spec.requests - len(lat), Elapsed: elapsed,
		P50: percentile(lat, 0.5), P99: percentile(lat, 0.99), Max: percentile(lat, 1),
		Late: late, LagP99: percentile(lags, 0.99), CPU: cpu,
	})
}

// percentile returns the p-th of sorted ds (nearest rank), 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[max(0, int(math.Ceil(p*float64(len(ds))))-1)]
}

// phase is a run of posts with ids first..first+count-1, one goroutine
// per poster.
type phase struct {
	posters []poster
	first   int64
	count   int
	rate    float64 // posts started per second; 0: closed loop
	errs    atomic.Int64
}

// post makes the phase's posts and returns the latency of each one
// answered 202, in the open loop how late each post started, and how
// long the phase took.
func (ph *phase) post() (lat, lags []time.Duration, elapsed time.Duration) {
	var next atomic.Int64
	lats := make([][]time.Duration, len(ph.posters))
	lagss := make([][]time.Duration, len(ph.posters))
	var wg sync.WaitGroup
	start := time.Now()
	for c, post := range ph.posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for {
				n := next.Add(1)
				if n > int64(ph.count) || ph.errs.Load() > 0 {
					// Any failed post fails the run: do not post on
					// (against a stalled server each would wait postTimeout).
					return
				}
				id := ph.first + n - 1
				body = fmt.Appendf(body[:0], `{"id":%d,"email":"buyer%d@example.com","total":%d.50}`, id, id, id%1000)
				// In the open loop post n is due at a fixed time; the
				// latency counts from then, so a post that waited for a
				// free connection because the server fell behind counts
				// that wait (no coordinated omission).
				t0 := time.Now()
				if ph.rate > 0 {
					t0 = start.Add(time.Duration(float64(n-1) / ph.rate * float64(time.Second)))
					if wait := time.Until(t0); wait > 0 {
						time.Sleep(wait)
					}
					lagss[c] = append(lagss[c], time.Since(t0))
				}
				code, err := post.post(body)
				if err != nil || code != http.StatusAccepted {
					ph.errs.Add(1)
					continue
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return slices.Concat(lats...), slices.Concat(lagss...), time.Since(start)
}
