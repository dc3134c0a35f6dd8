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
//	go run ./bench/webhook -rate 10000 -conns 256  # open loop: 10,000 posts started a second
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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
	client := flag.String("client", "raw", "the load process's HTTP client: raw (HTTP/1.1 written and read by hand on each keep-alive connection: the load takes less of the 2 cores ferry is measured on) or nethttp (Go's http.Client, 2-3x the load process's CPU)")
	warmup := flag.Int("warmup", 0, "posts made (closed loop) before the measured ones and left out of the figures, e.g. to measure past the write-ahead log's first growth to its bound (64 MB, ~18,000 posts)")
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
	spec := loadSpec{requests: *requests, warmup: *warmup, conns: *conns, client: *client, rate: *rate}
	var err error
	switch {
	case spec.requests < 1 || spec.conns < 1 || spec.rate < 0 || spec.warmup < 0:
		err = fmt.Errorf("-requests %d -conns %d -rate %g -warmup %d: want at least one request and connection, and a rate and warm-up of 0 or more", spec.requests, spec.conns, spec.rate, spec.warmup)
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

// result is what the load process reports.
// loadSpec is what the load process does.
type loadSpec struct {
	requests, conns int
	warmup          int // posts before the measured ones, not measured
	client          string
	rate            float64 // posts started per second (open loop); 0: closed loop
}

// args are the load process's flags for s.
func (s loadSpec) args(url string) []string {
	return []string{"-load", url, "-client", s.client, "-requests", fmt.Sprint(s.requests), "-warmup", fmt.Sprint(s.warmup), "-conns", fmt.Sprint(s.conns), "-rate", fmt.Sprint(s.rate)}
}

// describe names the load in the report's first line.
func (s loadSpec) describe() string {
	d := fmt.Sprintf("on %d connections (client %s)", s.conns, s.client)
	if s.rate > 0 {
		d = fmt.Sprintf("at %.0f/s (open loop) on up to %d connections (client %s)", s.rate, s.conns, s.client)
	}
	if s.warmup > 0 {
		d += fmt.Sprintf(", after %d warm-up posts", s.warmup)
	}
	return d
}

type result struct {
	Requests     int           `json:"requests"`
	Errors       int           `json:"errors"`
	Warmup       int           `json:"warmup"`
	WarmupErrors int           `json:"warmup_errors"`
	Elapsed      time.Duration `json:"elapsed"`
	P50          time.Duration `json:"p50"`
	P99          time.Duration `json:"p99"`
	Max          time.Duration `json:"max"`
}

func run(spec loadSpec) error {
	var delivered, batches atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		delivered.Add(int64(len(batch)))
		batches.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
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
`, sink.URL)
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
	cpu0 := cputime.Process()
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	cmd := exec.Command(os.Args[0], spec.args(url)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("load process: %w", err)
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("load process said %q: %w", out, err)
	}
	cpuLoad := cputime.Process() - cpu0
	// Every 202 is a durable record: all of them reach the sink.
	deadline := time.Now().Add(2 * time.Minute)
	accepted := int64(res.Requests - res.Errors + res.Warmup - res.WarmupErrors)
	posts := max(res.Requests+res.Warmup, 1)
	for delivered.Load() < accepted && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	// CPU per request, unlike requests/s, hardly moves when others share
	// the machine: ferry's from the first post until the sink has every
	// record (accepting and delivering), and the load process's own.
	cpuAll := cputime.Process() - cpu0
	runtime.ReadMemStats(&mem1)
	loadCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := svc.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Printf("webhook: %d single-record posts %s, %d errors", res.Requests, spec.describe(), res.Errors)
	if res.Warmup > 0 {
		fmt.Printf(" (%d in the warm-up)", res.WarmupErrors)
	}
	fmt.Println()
	fmt.Printf("%.0f requests/s; latency to the 202: p50 %s, p99 %s, max %s\n",
		float64(res.Requests)/res.Elapsed.Seconds(), res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Max.Round(10*time.Microsecond))
	fmt.Printf("delivered to the sink: %d of %d accepted, in %d batches\n", delivered.Load(), accepted, batches.Load())
	// CPU and allocations per post, warm-up included (the load process
	// runs both phases).
	perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(posts) }
	fmt.Printf("cpu_us %.1f ferry CPU microseconds per request until all delivered (%.1f while posting; the sink's included), load process %.1f\n",
		perReq(cpuAll), perReq(cpuLoad), perReq(loadCPU))
	fmt.Printf("allocs %.0f per request on the ferry side (%.1f kB)\n",
		float64(mem1.Mallocs-mem0.Mallocs)/float64(posts), float64(mem1.TotalAlloc-mem0.TotalAlloc)/1024/float64(posts))
	if delivered.Load() != accepted {
		return fmt.Errorf("records lost: %d accepted, %d delivered", accepted, delivered.Load())
	}
	return nil
}

// generate posts requests single-record calls over conns connections,
// with the client named by kind (see newPoster).
func generate(url string, spec loadSpec) error {
	newConn, err := newPoster(spec.client, url, spec.conns)
	if err != nil {
		return err
	}
	// The warm-up's posts take the ids after the measured ones.
	wu := phase{newConn: newConn, conns: spec.conns, first: int64(spec.requests) + 1, count: spec.warmup}
	wu.post()
	m := phase{newConn: newConn, conns: spec.conns, first: 1, count: spec.requests, rate: spec.rate}
	lat, elapsed := m.post()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return json.NewEncoder(os.Stdout).Encode(result{
		Requests: spec.requests, Errors: int(m.errs.Load()), Warmup: spec.warmup, WarmupErrors: int(wu.errs.Load()),
		Elapsed: elapsed, P50: pct(0.5), P99: pct(0.99), Max: pct(1),
	})
}

// phase is a run of posts with ids first..first+count-1.
type phase struct {
	newConn func() poster
	conns   int
	first   int64
	count   int
	rate    float64 // posts started per second; 0: closed loop
	errs    atomic.Int64
}

// post makes the phase's posts on its connections and returns the
// latency of each answered one and how long the phase took.
func (ph *phase) post() ([]time.Duration, time.Duration) {
	if ph.count == 0 {
		return nil, 0
	}
	var next atomic.Int64
	lat := make([][]time.Duration, ph.conns)
	var wg sync.WaitGroup
	start := time.Now()
	// due is when post n (from 1) is to start: in the open loop, on a
	// fixed schedule; in the closed loop, whenever a connection is free.
	due := func(n int64) time.Time {
		if ph.rate <= 0 {
			return time.Now()
		}
		return start.Add(time.Duration(float64(n-1) / ph.rate * float64(time.Second)))
	}
	for c := range ph.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post := ph.newConn()
			defer post.close()
			var body []byte
			for {
				n := next.Add(1)
				if n > int64(ph.count) {
					return
				}
				id := ph.first + n - 1
				body = fmt.Appendf(body[:0], `{"id":%d,"email":"buyer%d@example.com","total":%d.50}`, id, id, id%1000)
				t0 := due(n)
				if wait := time.Until(t0); wait > 0 {
					time.Sleep(wait)
				}
				code, err := post.post(body)
				if err != nil || code != http.StatusAccepted {
					ph.errs.Add(1)
					continue
				}
				// From the scheduled start: a post that waited for a free
				// connection because the server fell behind counts that wait.
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return slices.Concat(lat...), time.Since(start)
}
