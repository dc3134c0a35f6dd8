// Command bench measures ferry end to end: synthetic orders served by an
// HTTP source on 127.0.0.1 in pages, a route with a filter (drops every
// tenth order) and a map, the durable SQLite queue, and batches delivered
// to a local sink that counts what it got. It prints records per second,
// CPU time and disk bytes per record, peak RSS, and checks that the sink
// got every record. See bench/README.md.
//
//	go run ./bench                          # 200,000 orders
//	go run ./bench -records 1000000
//	go run ./bench -alternate 3             # content hash on / off, back to back
//	go run ./bench -reread                  # a second pass: nothing may be sent
//	go run ./bench -retention 1s            # store size before and after pruning
//	go run ./bench -flat                    # RSS at 200k vs 1M (two child processes)
//	go run ./bench -cpuprofile cpu.out      # then: go tool pprof -top cpu.out
//	go run ./bench -source postgres         # a PostgreSQL table -> the HTTP sink
//	go run ./bench -dest postgres           # the HTTP source -> a PostgreSQL upsert
//	go run ./bench -store postgres          # the queue in PostgreSQL (a fresh schema, dropped at the end)
//	go run ./bench -store postgres -procs 2 # two processes at once on that schema, each its own route
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
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/gctune"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

func main() {
	var o options
	flag.IntVar(&o.records, "records", 200_000, "orders served by the source (with -procs: by each process's source)")
	flag.IntVar(&o.page, "page", 1000, "records per source page")
	flag.IntVar(&o.batch, "batch", 500, "records per delivery batch")
	flag.StringVar(&o.dir, "dir", "", "folder for the SQLite file (default: a temporary folder)")
	flag.BoolVar(&o.resend, "resend", false, "set resend_unchanged: true on the route (no content hash comparison)")
	flag.BoolVar(&o.reread, "reread", false, "run the route a second time over the same records and measure that pass (nothing may reach the sink unless -resend)")
	flag.DurationVar(&o.retention, "retention", 0, "a short retention (attempts, runs, delivered) applied at the end of the run; then wait for it to pass, prune with vacuum and report the store size before and after")
	flag.BoolVar(&o.scatter, "scatter", false, "serve the orders in a scattered key order (as most real sources do) instead of by ascending id")
	flag.StringVar(&o.source, "source", "http", "where the orders come from: http (the synthetic API) or postgres (a table of -records rows, read by the sql source)")
	flag.StringVar(&o.dest, "dest", "http", "where the orders go: http (the counting sink) or postgres (an sql upsert into a table)")
	flag.StringVar(&o.store, "store", "sqlite", "where the queue lives: sqlite (a file in -dir) or postgres (a fresh schema in -pg's database, dropped at the end)")
	flag.StringVar(&o.schema, "schema", "", "with -store postgres: the queue's schema, made beforehand and left at the end (what -procs gives its children; default: a fresh one, dropped)")
	flag.StringVar(&o.route, "route", "orders", "the route's name (-procs gives each child its own: a route never runs twice at once)")
	flag.StringVar(&o.pgDSN, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "the PostgreSQL of -source/-dest/-store postgres (a schema is created and dropped)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here (with -reread: of the second pass only)")
	memprofile := flag.String("memprofile", "", "write an allocation profile here")
	blockprofile := flag.String("blockprofile", "", "write a goroutine blocking profile here (where time is spent waiting)")
	flat := flag.Bool("flat", false, "run 200,000 and 1,000,000 records in child processes and compare peak RSS (and the store size after pruning with -retention)")
	alternate := flag.Int("alternate", 0, "run N pairs of child processes back to back, content hash on and off (-resend), and print both")
	procs := flag.Int("procs", 1, "with -store postgres: run N child processes at once on one schema, each its own route, source and sink (-records each), and print their sum")
	flag.Parse()
	gctune.Apply() // as the ferry binary does
	if o.source != "http" && o.source != "postgres" || o.dest != "http" && o.dest != "postgres" {
		fmt.Fprintln(os.Stderr, "bench: -source and -dest take http or postgres")
		os.Exit(2)
	}
	if o.store != "sqlite" && o.store != "postgres" {
		fmt.Fprintln(os.Stderr, "bench: -store takes sqlite or postgres")
		os.Exit(2)
	}
	if o.store == "postgres" && (o.source != "http" || o.dest != "http" || o.retention > 0 || *flat) {
		// Those modes measure the SQLite file (its size, its pruning) or
		// keep the queue in SQLite beside a PostgreSQL end.
		fmt.Fprintln(os.Stderr, "bench: -store postgres goes with the HTTP source and sink, without -retention or -flat")
		os.Exit(2)
	}
	if o.schema != "" && o.store != "postgres" {
		fmt.Fprintln(os.Stderr, "bench: -schema goes with -store postgres")
		os.Exit(2)
	}
	if *procs < 1 || *procs > 1 && (o.store != "postgres" || *alternate > 0 || o.schema != "") {
		fmt.Fprintln(os.Stderr, "bench: -procs takes 1 or more; more than 1 goes with -store postgres only, without -alternate or -schema")
		os.Exit(2)
	}
	if o.reread && o.retention > 0 {
		// A short retention forgets the delivered content the second
		// pass would compare with.
		fmt.Fprintln(os.Stderr, "bench: -reread and -retention measure different things; give one of them")
		os.Exit(2)
	}

	if *flat || *alternate > 0 || *procs > 1 {
		var err error
		if *flat {
			err = flatCheck(childArgs())
		} else if *procs > 1 {
			err = parallelRuns(*procs, o.records, o.pgDSN, childArgs())
		} else {
			err = alternateRuns(*alternate, o.records, childArgs())
		}
		if err != nil {
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
		if o.reread {
			o.profile = f // the second pass only, started by reread
		} else {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
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
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options is one benchmark run.
type options struct {
	records, page, batch int
	dir                  string
	resend               bool          // resend_unchanged: true
	reread               bool          // a second pass over the same records
	scatter              bool          // keys in a scattered order instead of ascending
	profile              *os.File      // with reread: the second pass's CPU profile
	retention            time.Duration // 0: the default retention
	source, dest, pgDSN  string        // -source/-dest postgres: see sqlbench.go
	store                string        // sqlite or postgres: where the queue lives
	schema               string        // -store postgres: an existing schema, left at the end ("": a fresh one)
	route                string        // the route's name ("": orders)
}

// childArgs are the flags given to this process that a child run needs
// too: all but the ones that pick the mode, the size or a profile.
func childArgs() []string {
	var args []string
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "flat", "alternate", "procs", "schema", "route", "records", "cpuprofile", "memprofile", "blockprofile", "dir":
			return
		}
		args = append(args, "-"+f.Name+"="+f.Value.String())
	})
	return args
}

func run(o options) error {
	if o.source == "postgres" || o.dest == "postgres" {
		return runSQL(o)
	}
	ctx := context.Background()
	if o.route == "" {
		o.route = "orders"
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "ferry-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	srcURL, stopSrc, err := serve(sourceHandler(o.records, o.scatter))
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

	cfg, err := config.Parse([]byte(routeConfig(o, srcURL, sinkURL)), filepath.Join(o.dir, "ferry.yaml"), all.Set())
	if err != nil {
		return err
	}
	var st store.Store
	var pgSchema string
	var pgApp string // application_name of the store's connections
	switch {
	case o.store == "postgres" && o.schema != "":
		// One of -procs's children: the schema is the parent's, and
		// the other children's connections are not this one's.
		pgSchema, pgApp = o.schema, o.schema+"/"+o.route
		pg, err := openStoreIn(ctx, o.pgDSN, pgSchema, pgApp)
		if err != nil {
			return err
		}
		defer pg.Close()
		st = pg
		fmt.Printf("store          postgres, schema %s, route %s\n", pgSchema, o.route)
	case o.store == "postgres":
		pg, schema, drop, err := openPostgresStore(ctx, o.pgDSN)
		if err != nil {
			return err
		}
		defer drop()
		st, pgSchema, pgApp = pg, schema, schema
		fmt.Printf("store          postgres, schema %s (dropped at the end)\n", schema)
	default:
		lite, err := sqlite.Open(ctx, cfg.Store)
		if err != nil {
			return err
		}
		defer lite.Close()
		st = lite
	}
	reg, err := registry.New(cfg)
	if err != nil {
		return err
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		return err
	}

	want := o.records - o.records/10
	var wantSum int64
	for id := 1; id <= o.records; id++ {
		if id%10 != 0 {
			wantSum += int64(id)
		}
	}
	size := watchSize(cfg.Store)
	cpu0, written0, busy0 := cpuSeconds(), writtenBytes(), machineBusy()
	start := time.Now()
	res, err := eng.Run(ctx, o.route, engine.RunOptions{})
	elapsed := time.Since(start)
	cpu, written, busy := cpuSeconds()-cpu0, writtenBytes()-written0, machineBusy()-busy0
	var dbCPU float64
	if o.store == "postgres" {
		dbCPU = backendCPU(ctx, o.pgDSN, pgApp)
	}
	peakStore := size.stop()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	got := int(sk.records.Load())
	hash := "on (default)"
	if o.resend {
		hash = "off (resend_unchanged: true)"
	}
	fmt.Printf("content_hash   %s\n", hash)
	if o.scatter {
		fmt.Printf("key_order      scattered\n")
	}
	fmt.Printf("records        %d (source), %d delivered, %d filtered out\n", o.records, res.Done, res.Skipped)
	fmt.Printf("elapsed        %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput     %.0f records/s end to end (source records / elapsed)\n", float64(o.records)/elapsed.Seconds())
	fmt.Printf("delivered      %.0f records/s\n", float64(res.Done)/elapsed.Seconds())
	fmt.Printf("batches        %d requests to the sink\n", sk.requests.Load())
	printCPU(cpu, o.records)
	if o.store == "postgres" {
		if o.schema != "" {
			busy = 0 // the machine's CPU is -procs's to count, for all its children
		}
		printServerCPU(dbCPU, cpu, busy, o.records)
	}
	if o.schema != "" {
		// For -procs: its wall time runs from the first start to the
		// last end of its children's runs.
		fmt.Printf("run_start      %.6f (Unix seconds)\n", float64(start.UnixNano())/1e9)
		fmt.Printf("run_end        %.6f (Unix seconds)\n", float64(start.Add(elapsed).UnixNano())/1e9)
	}
	if last := sk.last.Load(); last > 0 {
		// After the last delivery the run settles its last batch,
		// records its end and applies the retention (with a vacuum).
		fmt.Printf("run_tail_ms    %.0f from the sink's last answer to the end of the run (last settle, retention, vacuum)\n", float64(start.Add(elapsed).UnixNano()-last)/1e6)
	}
	if written > 0 && o.store == "sqlite" {
		fmt.Printf("disk_kb        %.1f KiB written to disk per source record (%.0f MB: the store's WAL and checkpoints)\n", float64(written)/1024/float64(o.records), mb(written))
	}
	if got != want || res.Done != want || sk.idSum.Load() != wantSum {
		return fmt.Errorf("sink got %d records with id sum %d (run says %d delivered), want %d with sum %d", got, sk.idSum.Load(), res.Done, want, wantSum)
	}
	fmt.Printf("check          ok: the sink got all %d records\n", want)
	if o.retention > 0 {
		if err := pruneAfter(ctx, st.(*sqlite.Store), cfg.Store, o.retention, peakStore); err != nil {
			return err
		}
	}
	if o.reread {
		if err := reread(ctx, eng, sk, o, want, wantSum); err != nil {
			return err
		}
	}
	fmt.Printf("peak_rss_mb    %.1f\n", peakRSSMB())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("go_heap_mb     %.1f in use, %.1f from the OS (the rest of RSS is SQLite's cache, stacks, binary)\n", float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20))
	return nil
}

// reread runs the route again over the same records: with the content
// hash on, every record is unchanged and the sink must get nothing; with
// -resend it must get every record again.
func reread(ctx context.Context, eng *engine.Engine, sk *sink, o options, want int, wantSum int64) error {
	records, sum, requests := sk.records.Load(), sk.idSum.Load(), sk.requests.Load()
	if o.profile != nil {
		pprof.StartCPUProfile(o.profile)
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	res, err := eng.Run(ctx, o.route, engine.RunOptions{})
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0
	if o.profile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return fmt.Errorf("second run: %w", err)
	}
	got, gotSum, gotRequests := sk.records.Load()-records, sk.idSum.Load()-sum, sk.requests.Load()-requests
	fmt.Printf("reread         second pass over the same %d records: %d unchanged, %d delivered, %d filtered out\n", o.records, res.Unchanged, res.Done, res.Skipped)
	fmt.Printf("reread_elapsed %s\n", elapsed.Round(time.Millisecond))
	fmt.Printf("reread_rate    %.0f records/s (source records / elapsed)\n", float64(o.records)/elapsed.Seconds())
	fmt.Printf("reread_sink    %d records in %d requests\n", got, gotRequests)
	fmt.Printf("reread_cpu_us  %.1f CPU microseconds per source record (%.2f s)\n", cpu*1e6/float64(o.records), cpu)
	if o.resend {
		if got != int64(want) || gotSum != wantSum || res.Done != want {
			return fmt.Errorf("second pass with resend_unchanged: sink got %d records with id sum %d (run says %d delivered), want %d with sum %d", got, gotSum, res.Done, want, wantSum)
		}
		fmt.Printf("reread_check   ok: resend_unchanged sent all %d records again\n", want)
		return nil
	}
	if got != 0 || gotRequests != 0 || res.Done != 0 || res.Unchanged != want {
		return fmt.Errorf("second pass over unchanged records: sink got %d records in %d requests, run says %d delivered and %d unchanged; want nothing sent and %d unchanged", got, gotRequests, res.Done, res.Unchanged, want)
	}
	fmt.Printf("reread_check   ok: the sink got nothing, all %d records settled unchanged\n", want)
	return nil
}

// routeConfig is the benchmark's ferry.yaml.
func routeConfig(o options, srcURL, sinkURL string) string {
	var extra, retention string
	if o.resend {
		extra = "    resend_unchanged: true\n"
	}
	if o.retention > 0 {
		d := o.retention.String()
		retention = fmt.Sprintf("retention: { attempts: %s, runs: %s, delivered: %s }\n", d, d, d)
	}
	return fmt.Sprintf(routeYAML, retention, srcURL, sinkURL, o.route, o.page, o.batch) + extra
}

// benchSteps are the route's steps in every mode (HTTP or PostgreSQL at
// either end), so the modes transform the same records the same way.
const benchSteps = `    steps:
      - filter: status != "cancelled"
      - map:
          external_id: string(id)
          number: number
          email: email
          country: customer.country
          total_cents: int(total * 100)
          currency: currency
`

const routeYAML = `
store: ferry.db
%ssystems:
  shop: { url: "%s" }
  sink: { url: "%s" }
routes:
  %s:
    source:
      http:
        system: shop
        path: /orders
        records: data
        key: id
        paginate: { page: { size: %d } }
` + benchSteps + `    batch: %d
    destinations:
      default:
        http: { system: sink, path: /orders/batch, body: array, wrap: orders }
`

// sourceHandler serves n synthetic orders, page by page; every tenth is
// cancelled, so the route's filter drops 10%. Pages are built with
// strconv appends: the harness should spend its CPU sparingly, since it
// shares the machine with what it measures.
func sourceHandler(n int, scatter bool) http.Handler {
	order := func(pos int) int { return pos }
	if scatter {
		order = scatterOrder(n)
	}
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
		for pos := (page-1)*size + 1; pos <= min(page*size, n); pos++ {
			if pos > (page-1)*size+1 {
				b = append(b, ',')
			}
			id := order(pos)
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

// scatterOrder maps the positions 1..n to the IDs 1..n in a scattered
// order (a stride coprime with n, near n/φ), as most real sources hand
// out keys: consecutive records then land on distant pages of the store's
// key indexes.
func scatterOrder(n int) func(int) int {
	stride := max(1, n*618/1000)
	for gcd(stride, n) != 1 {
		stride++
	}
	return func(pos int) int { return int((int64(pos-1)*int64(stride))%int64(n)) + 1 }
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sink counts the records it receives and sums their external_id, so the
// check proves that every record arrived exactly once, not just as many.
// It scans for the field instead of decoding the whole body, to leave the
// CPU to what is measured.
type sink struct {
	records  atomic.Int64
	idSum    atomic.Int64
	requests atomic.Int64
	last     atomic.Int64 // when the last request ended, in Unix nanoseconds
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
	s.last.Store(time.Now().UnixNano())
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

// printCPU reports the CPU time of the whole process (ferry and the
// harness's source and sink) per source record: unlike records/s it
// hardly moves when other work shares the machine, so it is the figure
// to compare on a busy machine. 2 cores / cpu_us is the ceiling of
// records/s on this machine.
func printCPU(seconds float64, records int) {
	if seconds <= 0 {
		return
	}
	us := seconds * 1e6 / float64(records)
	fmt.Printf("cpu_us         %.1f CPU microseconds per source record (%.2f s; 2 cores would allow %.0f records/s)\n", us, seconds, 2e6/us)
}

// cpuSeconds is the CPU time (user + system) this process has used, read
// from /proc on Linux (0 elsewhere). The kernel counts it in ticks of
// 1/100 s.
func cpuSeconds() float64 { return max(processCPU("/proc/self/stat"), 0) }

// processCPU reads user + system CPU seconds from a /proc/PID/stat file;
// -1 when it cannot.
func processCPU(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields count from
	// after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

// writtenBytes is what this process has caused to be written to disk
// (write_bytes of /proc/self/io on Linux; 0 elsewhere).
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
