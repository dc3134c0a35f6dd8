// Command schedule measures how many scheduled routes one ferry process
// keeps on time: N routes on `every: D` against a loopback mock source
// (one record per read, so most runs find nothing new after the first)
// and a sink, for a number of periods. It prints ticks due and fired,
// how late runs started after their tick (p50/p99/max), ticks skipped,
// and the process's CPU time per tick. See bench/README.md.
//
//	go run ./bench/schedule                      # 1000 routes every 1m, 3 periods
//	go run ./bench/schedule -routes 200 -every 10s -periods 6
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/cputime"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

func main() {
	routes := flag.Int("routes", 1000, "scheduled routes")
	every := flag.Duration("every", time.Minute, "each route's interval")
	periods := flag.Int("periods", 3, "intervals to measure")
	workers := flag.Int("workers", 16, "runs side by side")
	flag.Parse()
	if err := run(*routes, *every, *periods, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench/schedule:", err)
		os.Exit(1)
	}
}

func run(n int, every time.Duration, periods, workers int) error {
	mock := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":1,"name":"the same record every time"}]}`)
	}))
	defer mock.Close()

	dir, err := os.MkdirTemp("", "ferry-bench-schedule-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	fmt.Fprintf(&b, "store: ferry.db\nworkers: %d\nsystems:\n  mock: { url: %q }\nroutes:\n", workers, mock.URL)
	for i := range n {
		fmt.Fprintf(&b, `  r%04d:
    every: %s
    concurrent: true
    source: { http: { system: mock, path: /src, records: data, key: id } }
    destinations: { default: { http: { system: mock, method: POST, path: /dst, body: each } } }
`, i, every)
	}
	cfg, err := config.Parse([]byte(b.String()), filepath.Join(dir, "ferry.yaml"), all.Set())
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

	var mu sync.Mutex
	var late []time.Duration
	// The first pass only stores each route's next tick; measure from the
	// first tick on, for whole periods.
	first := time.Now().Truncate(every).Add(every)
	end := first.Add(time.Duration(periods) * every)
	sub := svc.Events().Subscribe(65536, func(ev events.Event) bool { return ev.Type == events.RunStarted || ev.Type == events.TickSkipped })
	skipped := 0
	go func() {
		for ev := range sub.C {
			mu.Lock()
			if ev.Type == events.TickSkipped {
				skipped++
			} else {
				// every: ticks fall on multiples of the interval since the epoch.
				tick := ev.Run.StartedAt.Truncate(every)
				if !tick.Before(first) && tick.Before(end) {
					late = append(late, ev.Run.StartedAt.Sub(tick))
				}
			}
			mu.Unlock()
		}
	}()

	if err := svc.Start(ctx); err != nil {
		return err
	}
	time.Sleep(time.Until(first))
	cpu0 := cputime.Process()
	time.Sleep(time.Until(end) + every/2) // runs of the last tick finish
	cpu := cputime.Process() - cpu0
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := svc.Stop(stopCtx); err != nil {
		return err
	}
	sub.Close()

	mu.Lock()
	defer mu.Unlock()
	due := n * periods
	slices.Sort(late)
	pct := func(p float64) time.Duration {
		if len(late) == 0 {
			return 0
		}
		return late[min(len(late)-1, int(p*float64(len(late))))]
	}
	fmt.Printf("routes %d, every %s, %d periods, workers %d\n", n, every, periods, workers)
	fmt.Printf("ticks due %d, runs started %d, ticks skipped %d\n", due, len(late), skipped)
	fmt.Printf("start after tick: p50 %s, p99 %s, max %s\n", pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	fmt.Printf("CPU %.2fs over %s (%.1f%% of one core), %.2f ms per run\n",
		cpu.Seconds(), (time.Duration(periods) * every), 100*cpu.Seconds()/(time.Duration(periods)*every).Seconds(),
		1000*cpu.Seconds()/float64(max(len(late), 1)))
	return nil
}
