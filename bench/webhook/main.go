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
	var err error
	if *load != "" {
		err = generate(*load, *client, *requests, *conns)
	} else {
		gctune.Apply() // the ferry side runs with the GC settings the ferry binary uses
		err = run(*requests, *conns, *client)
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
type result struct {
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
}

func run(requests, conns int, client string) error {
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
	cmd := exec.Command(os.Args[0], "-load", url, "-client", client, "-requests", fmt.Sprint(requests), "-conns", fmt.Sprint(conns))
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
	for delivered.Load() < int64(res.Requests-res.Errors) && time.Now().Before(deadline) {
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
	fmt.Printf("webhook: %d single-record posts on %d connections (client %s), %d errors\n", res.Requests, conns, client, res.Errors)
	fmt.Printf("%.0f requests/s; latency to the 202: p50 %s, p99 %s, max %s\n",
		float64(res.Requests)/res.Elapsed.Seconds(), res.P50.Round(10*time.Microsecond), res.P99.Round(10*time.Microsecond), res.Max.Round(10*time.Microsecond))
	fmt.Printf("delivered to the sink: %d of %d accepted, in %d batches\n", delivered.Load(), res.Requests-res.Errors, batches.Load())
	perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(res.Requests, 1)) }
	fmt.Printf("cpu_us %.1f ferry CPU microseconds per request until all delivered (%.1f while posting; the sink's included), load process %.1f\n",
		perReq(cpuAll), perReq(cpuLoad), perReq(loadCPU))
	fmt.Printf("allocs %.0f per request on the ferry side (%.1f kB)\n",
		float64(mem1.Mallocs-mem0.Mallocs)/float64(max(res.Requests, 1)), float64(mem1.TotalAlloc-mem0.TotalAlloc)/1024/float64(max(res.Requests, 1)))
	if delivered.Load() != int64(res.Requests-res.Errors) {
		return fmt.Errorf("records lost: %d accepted, %d delivered", res.Requests-res.Errors, delivered.Load())
	}
	return nil
}

// generate posts requests single-record calls over conns connections,
// with the client named by kind (see newPoster).
func generate(url, kind string, requests, conns int) error {
	newConn, err := newPoster(kind, url, conns)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post := newConn()
			defer post.close()
			var body []byte
			for {
				i := next.Add(1)
				if i > int64(requests) {
					return
				}
				body = fmt.Appendf(body[:0], `{"id":%d,"email":"buyer%d@example.com","total":%d.50}`, i, i, i%1000)
				t0 := time.Now()
				code, err := post.post(body)
				if err != nil || code != http.StatusAccepted {
					errs.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	return json.NewEncoder(os.Stdout).Encode(result{Requests: requests, Errors: int(errs.Load()), Elapsed: elapsed, P50: pct(0.5), P99: pct(0.99), Max: pct(1)})
}
