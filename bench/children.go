package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child runs this benchmark in a child process, so that each run has its
// own peak RSS, and returns its output's "name value" figures.
func child(records int, args []string) (map[string]float64, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	out, err := exec.Command(self, append([]string{"-records", strconv.Itoa(records)}, args...)...).CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("%d records %s: %w\n%s", records, strings.Join(args, " "), err, out)
	}
	figures := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			figures[f[0]] = v
		}
	}
	return figures, string(out), nil
}

// flatCheck runs the bench at 200k and 1M records in child processes and
// compares their peak RSS: memory must not grow with the size of a sync.
// With -retention it also compares the store's size after pruning, which
// must not grow with the records delivered either.
func flatCheck(args []string) error {
	var figs [2]map[string]float64
	for i, n := range []int{200_000, 1_000_000} {
		f, out, err := child(n, args)
		if err != nil {
			return err
		}
		fmt.Printf("--- %d records %s\n%s", n, strings.Join(args, " "), out)
		figs[i] = f
	}
	fmt.Printf("rss_ratio      %.2f (peak RSS at 1M / at 200k; flat is about 1)\n", figs[1]["peak_rss_mb"]/figs[0]["peak_rss_mb"])
	small, large := figs[0]["store_pruned_mb"], figs[1]["store_pruned_mb"]
	if small > 0 {
		fmt.Printf("store_ratio    %.2f (store after pruning at 1M / at 200k; bounded is about 1)\n", large/small)
		// A bound, not a timing: a store that keeps anything per
		// delivered record after pruning would be 5 times larger.
		if large > 2*small+1 {
			return fmt.Errorf("the store after pruning grew with the records delivered: %.1f MB at 1M, %.1f MB at 200k", large, small)
		}
	}
	return nil
}

// alternateRuns runs n pairs of child processes back to back, the content
// hash on (the default) and off (-resend), so that both see the same
// machine: on a shared machine only runs made close together compare.
func alternateRuns(n, records int, args []string) error {
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return strings.HasPrefix(a, "-resend") })
	var on, off []float64
	var rssOn, rssOff, cpuOn, cpuOff []float64
	fmt.Printf("%-4s %-5s %12s %10s %12s  %s\n", "run", "hash", "records/s", "peak RSS", "CPU µs/rec", "load average before the run")
	for i := 1; i <= n; i++ {
		for _, resend := range []bool{false, true} {
			a, name := args, "on"
			if resend {
				a, name = append(slices.Clone(args), "-resend"), "off"
			}
			load := loadAverage()
			f, _, err := child(records, a)
			if err != nil {
				return err
			}
			fmt.Printf("%-4d %-5s %12.0f %7.1f MB %12.1f  %s\n", i, name, f["throughput"], f["peak_rss_mb"], f["cpu_us"], load)
			if resend {
				off, rssOff, cpuOff = append(off, f["throughput"]), append(rssOff, f["peak_rss_mb"]), append(cpuOff, f["cpu_us"])
			} else {
				on, rssOn, cpuOn = append(on, f["throughput"]), append(rssOn, f["peak_rss_mb"]), append(cpuOn, f["cpu_us"])
			}
		}
	}
	fmt.Printf("median hash on   %.0f records/s, peak RSS %.1f MB, %.1f CPU µs/record (%d records, %d runs)\n", median(on), median(rssOn), median(cpuOn), records, n)
	fmt.Printf("median hash off  %.0f records/s, peak RSS %.1f MB, %.1f CPU µs/record\n", median(off), median(rssOff), median(cpuOff))
	fmt.Printf("hash on / off    %.3f records/s, %.3f CPU per record\n", median(on)/median(off), median(cpuOn)/median(cpuOff))
	fmt.Printf("load average     %s (after)\n", loadAverage())
	return nil
}

// parallelRuns runs n child processes at once on one PostgreSQL schema,
// made here once and dropped at the end: each runs the route end to end
// with its own source, sink and route name (a route never runs twice at
// once, its run lock is in the database), and checks that its sink got
// every record. It prints each child's figures and their sum: records/s
// over the wall time from the first run's start to the last one's end,
// and the CPU per record of the bench processes, of PostgreSQL's server
// processes serving them and of the machine.
func parallelRuns(n, records int, dsn string, args []string) error {
	schema, err := newSchemaName()
	if err != nil {
		return err
	}
	return parallelRunsIn(n, records, dsn, schema, args)
}

// parallelRunsIn is parallelRuns in a schema of the caller's naming.
func parallelRunsIn(n, records int, dsn, schema string, args []string) error {
	st, err := openStoreIn(context.Background(), dsn, schema, schema) // the tables, made once
	if err != nil {
		return err
	}
	st.Close()
	defer dropSchema(dsn, schema)
	type result struct {
		figures map[string]float64
		out     string
		err     error
	}
	results := make([]result, n)
	load := loadAverage()
	busy0 := machineBusy()
	var wg sync.WaitGroup
	for i := range results {
		a := append(slices.Clone(args), "-schema="+schema, fmt.Sprintf("-route=orders%d", i+1))
		wg.Go(func() {
			f, out, err := child(records, a)
			results[i] = result{f, out, err}
		})
	}
	wg.Wait()
	busy := machineBusy() - busy0

	var first, last, cpu, db float64
	var rates []string
	for i, r := range results {
		if r.err != nil {
			return fmt.Errorf("process %d of %d: %w", i+1, n, r.err)
		}
		fmt.Printf("--- process %d of %d, route orders%d\n%s", i+1, n, i+1, r.out)
		f := r.figures
		if !strings.Contains(r.out, "\ncheck          ok:") || f["run_start"] == 0 || f["run_end"] == 0 {
			return fmt.Errorf("process %d of %d printed no check or no run times", i+1, n)
		}
		if i == 0 || f["run_start"] < first {
			first = f["run_start"]
		}
		last = max(last, f["run_end"])
		cpu += f["cpu_us"] * float64(records) / 1e6
		db += f["db_cpu_us"] * float64(records) / 1e6
		rates = append(rates, fmt.Sprintf("%.0f", f["throughput"]))
	}
	total := n * records
	elapsed := time.Duration((last - first) * float64(time.Second))
	fmt.Printf("--- %d processes at once, schema %s (dropped at the end), load average %s before\n", n, schema, load)
	fmt.Printf("records        %d (source, %d per process)\n", total, records)
	fmt.Printf("elapsed        %s from the first run's start to the last one's end\n", elapsed.Round(time.Millisecond))
	fmt.Printf("throughput     %.0f records/s end to end, all processes (source records / elapsed)\n", float64(total)/elapsed.Seconds())
	fmt.Printf("per_process    %s records/s\n", strings.Join(rates, " / "))
	printCPU(cpu, total)
	printServerCPU(db, cpu, busy, total)
	fmt.Printf("check          ok: every sink got all its records\n")
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadAverage is the 1, 5 and 15 minute load average on Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
