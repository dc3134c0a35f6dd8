// Command bench measures ferry end to end: synthetic orders served by an
// HTTP source on 127.0.0.1 in pages, a route with a filter (drops every
// tenth order) and a map, the durable SQLite queue, and batches delivered
// to a local sink that counts what it got. It prints records per second,
// peak RSS, and checks that the sink got every record.
//
//	go run ./bench                          # 200,000 orders
//	go run ./bench -records 1000000
//	go run ./bench -flat                    # RSS at 200k vs 1M (two child processes)
//	go run ./bench -cpuprofile cpu.out      # then: go tool pprof -top cpu.out
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/gctune"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

func main() {
	records := flag.Int("records", 200_000, "orders served by the source")
	page := flag.Int("page", 1000, "records per source page")
	batch := flag.Int("batch", 500, "records per delivery batch")
	dir := flag.String("dir", "", "folder for the SQLite file (default: a temporary folder)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	memprofile := flag.String("memprofile", "", "write an allocation profile here")
	blockprofile := flag.String("blockprofile", "", "write a goroutine blocking profile here (where time is spent waiting)")
	flat := flag.Bool("flat", false, "run 200,000 and 1,000,000 records in child processes and compare peak RSS")
	flag.Parse()
	gctune.Apply() // as the ferry binary does

	if *flat {
		if err := flatCheck(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *blockprofile != "" {
		runtime.SetBlockProfileRate(int(time.Microsecond))
		defer func() {
			f, err := os.Create(*blockprofile)
			if err == nil {
				pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 64 * 1024
		defer func() {
			f, err := os.Create(*memprofile)
			if err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if err := run(*records, *page, *batch, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(records, pageSize, batch int, dir string) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "ferry-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srcURL, stopSrc, err := serve(sourceHandler(records))
	if err != nil {
		return err
	}
	defer stopSrc()
	sk := &sink{}
	sinkURL, stopSink, err := serve(sk)
	if err != nil {
		return err
	}
	defer stopSink()

	yaml := fmt.Sprintf(routeYAML, srcURL, sinkURL, pageSize, batch)
	cfg, err := config.Parse([]byte(yaml), filepath.Join(dir, "ferry.yaml"))
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	reg, err := registry.New(cfg)
	if err != nil {
		return err
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		return err
	}

	start := time.Now()
	res, err := eng.Run(ctx, "orders", engine.RunOptions{})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	want := records - records/10
	var wantSum int64
	for id := 1; id <= records; id++ {
		if id%10 != 0 {
			wantSum += int64(id)
		}
	}
	got := int(sk.records.Load())
	fmt.Printf("records        %d (source), %d delivered, %d filtered out\n", records, res.Done, res.Skipped)
	fmt.Printf("elapsed        %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput     %.0f records/s end to end (source records / elapsed)\n", float64(records)/elapsed.Seconds())
	fmt.Printf("delivered      %.0f records/s\n", float64(res.Done)/elapsed.Seconds())
	fmt.Printf("batches        %d requests to the sink\n", sk.requests.Load())
	fmt.Printf("peak_rss_mb    %.1f\n", peakRSSMB())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("go_heap_mb     %.1f in use, %.1f from the OS (the rest of RSS is SQLite's cache, stacks, binary)\n", float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20))
	if got != want || res.Done != want || sk.idSum.Load() != wantSum {
		return fmt.Errorf("sink got %d records with id sum %d (run says %d delivered), want %d with sum %d", got, sk.idSum.Load(), res.Done, want, wantSum)
	}
	fmt.Printf("check          ok: the sink got all %d records\n", want)
	return nil
}

const routeYAML = `
store: ferry.db
systems:
  shop: { url: "%s" }
  sink: { url: "%s" }
routes:
  orders:
    source:
      http:
        system: shop
        path: /orders
        records: data
        key: id
        paginate: { page: { size: %d } }
    steps:
      - filter: status != "cancelled"
      - map:
          external_id: string(id)
          number: number
          email: email
          country: customer.country
          total_cents: int(total * 100)
          currency: currency
    batch: %d
    destinations:
      default:
        http: { system: sink, path: /orders/batch, body: array, wrap: orders }
`

// sourceHandler serves n synthetic orders, page by page; every tenth is
// cancelled, so the route's filter drops 10%. Pages are built with
// strconv appends: the harness should spend its CPU sparingly, since it
// shares the machine with what it measures.
func sourceHandler(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		size, _ := strconv.Atoi(q.Get("size"))
		if page < 1 || size < 1 {
			http.Error(w, "page and size required", 400)
			return
		}
		b := make([]byte, 0, size*340)
		b = append(b, `{"data":[`...)
		for id := (page-1)*size + 1; id <= min(page*size, n); id++ {
			if id > (page-1)*size+1 {
				b = append(b, ',')
			}
			status := "paid"
			if id%10 == 0 {
				status = "cancelled"
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendInt(b, int64(id), 10)
			b = append(b, `,"number":"SO-`...)
			b = strconv.AppendInt(b, int64(id), 10)
			b = append(b, `","email":"customer`...)
			b = strconv.AppendInt(b, int64(id%5000), 10)
			b = append(b, `@example.com","status":"`...)
			b = append(b, status...)
			b = append(b, `","total":`...)
			b = strconv.AppendInt(b, int64(20+id%500), 10)
			b = append(b, '.')
			b = strconv.AppendInt(b, int64(10+id%90), 10)
			b = append(b, `,"currency":"EUR","customer":{"name":"Customer `...)
			b = strconv.AppendInt(b, int64(id%5000), 10)
			b = append(b, `","country":"DE"},"lines":[{"sku":"SKU-`...)
			b = strconv.AppendInt(b, int64(id%700), 10)
			b = append(b, `","qty":`...)
			b = strconv.AppendInt(b, int64(1+id%5), 10)
			b = append(b, `,"price":19.90}],"updated_at":"2026-01-01T00:00:00Z"}`...)
		}
		b = append(b, `]}`...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
}

// sink counts the records it receives and sums their external_id, so the
// check proves that every record arrived exactly once, not just as many.
// It scans for the field instead of decoding the whole body, to leave the
// CPU to what is measured.
type sink struct {
	records  atomic.Int64
	idSum    atomic.Int64
	requests atomic.Int64
}

var idField = []byte(`"external_id":"`)

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		http.Error(w, "body is not JSON", 400)
		return
	}
	var n, sum int64
	for i := bytes.Index(body, idField); i >= 0; {
		rest := body[i+len(idField):]
		end := bytes.IndexByte(rest, '"')
		id, err := strconv.ParseInt(string(rest[:end]), 10, 64)
		if err != nil {
			http.Error(w, "bad external_id", 400)
			return
		}
		n++
		sum += id
		body = rest[end:]
		i = bytes.Index(body, idField)
	}
	s.records.Add(n)
	s.idSum.Add(sum)
	s.requests.Add(1)
	w.WriteHeader(200)
	w.Write([]byte(`{"ok":true}`))
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// peakRSSMB reads the process's peak resident set (VmHWM) on Linux.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// flatCheck runs the bench at 200k and 1M records in child processes and
// compares their peak RSS: memory must not grow with the size of a sync.
func flatCheck() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rss [2]float64
	for i, n := range []int{200_000, 1_000_000} {
		out, err := exec.Command(self, "-records", strconv.Itoa(n)).CombinedOutput()
		fmt.Printf("--- %d records\n%s", n, out)
		if err != nil {
			return fmt.Errorf("%d records: %w", n, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "peak_rss_mb" {
				rss[i], _ = strconv.ParseFloat(f[1], 64)
			}
		}
	}
	fmt.Printf("rss_ratio      %.2f (peak RSS at 1M / at 200k; flat is about 1)\n", rss[1]/rss[0])
	return nil
}
