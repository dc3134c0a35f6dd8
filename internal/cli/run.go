package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

func (a *app) runCommand() *cobra.Command {
	var full, dryRun, all, noProgress, cancelOnInterrupt bool
	var limit int
	var server, tokenFile string
	cmd := &cobra.Command{
		Use:   "run [ROUTE...]",
		Short: "Run routes once: collect, send, settle, retry",
		Long: `Run the named routes once, dependencies first (depends_on).

A run reads the source from the route's cursor (or everything with --full),
queues the records durably, sends them in batches, settles every record on
its own from the destination's answer, and retries errors that fall due.
On a terminal it shows a progress bar; otherwise it prints plain lines.

With --server (or FERRY_SERVER) the routes run on that ferry serve instead:
the requests queue behind or beside its runs by its rules, and this command
waits for them with the same progress and summary. The API token comes from
--token-file or FERRY_API_TOKEN. Ctrl-C stops waiting; the run goes on on
the server unless --cancel-on-interrupt.

Exit codes: 0 all delivered, 1 a run failed, 2 bad usage or config,
3 some records failed (see 'ferry queue ROUTE --status error'), 130 interrupted.`,
		Example: `  ferry run orders
  ferry run orders --full            # ignore the cursor, read everything
  ferry run orders --dry-run         # show what would be sent; send nothing
  ferry run --all                    # every route, in dependency order
  ferry run orders --server http://127.0.0.1:8080 --token-file ~/.ferry-token
  ferry -c /etc/ferry/ferry.yaml run stock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return withCode(ExitUsage, errors.New("name a route (see 'ferry routes') or use --all"))
			}
			if err := runFlags(cmd, args, all, dryRun); err != nil {
				return err
			}
			if err := serverFlags(cmd, server, dryRun); err != nil {
				return err
			}
			if server != "" {
				return a.runRemote(cmd, args, all, remoteOptions{server: server, tokenFile: tokenFile, full: full, noProgress: noProgress, cancelOnInterrupt: cancelOnInterrupt})
			}
			s, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			names := args
			if all {
				names = s.cfg.RouteNames()
			}
			for _, n := range names {
				if err := routeArg(s.cfg, n); err != nil {
					return err
				}
			}
			ordered, err := s.cfg.Order(names)
			if err != nil {
				return withCode(ExitUsage, err)
			}
			if dryRun {
				return a.dryRun(cmd, s, ordered, full, limit)
			}
			worst := ExitOK
			failed := map[string]bool{}
			for _, name := range ordered {
				if cmd.Context().Err() != nil {
					return withCode(ExitCancelled, errors.New("interrupted"))
				}
				// A route whose dependency failed in this same command is
				// not run: it would send orders for customers that are not
				// there yet.
				if dep := failedDependency(s.cfg.Routes[name].DependsOn, failed); dep != "" {
					fmt.Fprintf(a.stdout, "%s: skipped, because %s (which it depends on) failed or could not read its whole source\n", name, dep)
					failed[name] = true
					worst = worse(worst, ExitFailed)
					continue
				}
				code, readAll := a.runOne(cmd, s, name, full, noProgress)
				if code == ExitCancelled {
					return withCode(code, errors.New(""))
				}
				// A route whose source broke off delivered only part of
				// its records: what depends on it waits too.
				if code == ExitFailed || !readAll {
					failed[name] = true
				}
				worst = worse(worst, code)
			}
			if worst != ExitOK {
				return withCode(worst, errors.New(""))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "full sync: ignore the cursor and read every record")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "read and transform, print what would be sent, send and store nothing")
	cmd.Flags().BoolVar(&all, "all", false, "run every route")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "plain progress lines (every 2 s, on stderr) instead of a bar, even on a terminal")
	cmd.Flags().IntVar(&limit, "limit", 0, "with --dry-run: records to show (default the route's collect_limit)")
	cmd.Flags().StringVar(&server, "server", envOr("FERRY_SERVER", ""), "run on this ferry serve (http://HOST:PORT) and wait for the runs (env FERRY_SERVER; \"\" runs here)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "with --server: file holding the API token (else env FERRY_API_TOKEN)")
	cmd.Flags().BoolVar(&cancelOnInterrupt, "cancel-on-interrupt", false, "with --server: Ctrl-C cancels the run on the server (default: stop waiting, the run goes on)")
	return cmd
}

// runFlags refuses flags that contradict each other or would be ignored.
func runFlags(cmd *cobra.Command, args []string, all, dryRun bool) error {
	if all && len(args) > 0 {
		return withCode(ExitUsage, fmt.Errorf("--all runs every route: name routes (%s) or use --all, not both", strings.Join(args, " ")))
	}
	if cmd.Flags().Changed("limit") && !dryRun {
		return withCode(ExitUsage, errors.New("--limit only applies with --dry-run (a real run reads collect_limit records per iteration; set collect_limit in the route)"))
	}
	if cmd.Flags().Changed("no-progress") && dryRun {
		return withCode(ExitUsage, errors.New("--no-progress does not apply to --dry-run (a dry run prints records, not progress)"))
	}
	return nonNegative(cmd, "limit")
}

// runOne runs one route with progress and a summary; it returns the exit
// code and whether the source was read to its end (no source error).
func (a *app) runOne(cmd *cobra.Command, s *session, name string, full, noProgress bool) (code int, readAll bool) {
	p := newProgressPrinter(a.stderr, name, !noProgress && isTerminal(a.stderr))
	res, err := s.engine.Run(cmd.Context(), name, engine.RunOptions{Full: full, Progress: p.update})
	p.finish()
	if cmd.Context().Err() != nil && res.ID == 0 {
		return ExitCancelled, false
	}
	if res.ID == 0 && err != nil {
		fmt.Fprintf(a.stderr, "ferry: %v\n", err)
		return ExitFailed, false
	}
	printSummary(a.stdout, res)
	readAll = res.SourceError == ""
	switch {
	case res.Status == store.RunCancelled:
		return ExitCancelled, readAll
	case res.Status == store.RunFailed:
		return ExitFailed, readAll
	case res.Status == store.RunPartiallyFailed:
		return ExitPartial, readAll
	}
	return ExitOK, readAll
}

// worse returns the more severe of two run exit codes: a failed run
// outranks a partly failed one, which outranks success.
func worse(a, b int) int {
	rank := map[int]int{ExitOK: 0, ExitPartial: 1, ExitFailed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// failedDependency returns the first of deps that failed, or "".
func failedDependency(deps []string, failed map[string]bool) string {
	for _, d := range deps {
		if failed[d] {
			return d
		}
	}
	return ""
}

func printSummary(w io.Writer, res engine.Result) {
	d := res.EndedAt.Sub(res.StartedAt).Round(time.Millisecond)
	waited := ""
	if res.WaitIterations > 0 {
		waited = fmt.Sprintf(", %d waiting for retries", res.WaitIterations)
	}
	fmt.Fprintf(w, "%s: %s in %s (run #%d, %s, %d iteration%s%s)\n", res.Route, strings.ReplaceAll(string(res.Status), "_", " "), d, res.ID, res.Mode, res.Iterations, plural(res.Iterations), waited)
	rate := ""
	if secs := d.Seconds(); secs > 0 && res.Done > 0 {
		if r := float64(res.Done) / secs; r < 10 {
			rate = fmt.Sprintf("   %.1f rec/s", r)
		} else {
			rate = fmt.Sprintf("   %s rec/s", num(int(r)))
		}
	}
	unchanged := ""
	if res.Unchanged > 0 {
		// Read again with the content last delivered: settled, not sent.
		unchanged = fmt.Sprintf("   unchanged %s", num(res.Unchanged))
	}
	if res.Pruned > 0 {
		// Gone from the source before sending (or deletes the route
		// ignores): counted in skipped too.
		unchanged += fmt.Sprintf("   pruned %s", num(res.Pruned))
	}
	fmt.Fprintf(w, "  collected %s   delivered %s%s   skipped %s   failed attempts %s   dead %s%s\n",
		num(res.Collected), num(res.Done), unchanged, num(res.Skipped), num(res.Failed), num(res.Dead), rate)
	q := res.Queue
	line := fmt.Sprintf("  queue now: %s pending, %s error, %s dead letters", num(q.Pending), num(q.Error), num(q.Dead))
	if q.Leased > 0 {
		// Entries still leased after the run: their outcome is not known
		// yet (a lost answer, a store error); they go back to the queue
		// when the lease expires.
		line += fmt.Sprintf(", %s leased", num(q.Leased))
	}
	if q.Outbox > 0 {
		line += fmt.Sprintf(", %s follow-up operation%s owed (after/on_error)", num(q.Outbox), plural(q.Outbox))
	}
	if q.OutboxDead > 0 {
		line += fmt.Sprintf(", %s follow-up operation%s given up", num(q.OutboxDead), plural(q.OutboxDead))
	}
	if !res.NextRetry.IsZero() {
		line += fmt.Sprintf(" (next retry %s)", res.NextRetry.Local().Format("15:04:05"))
	}
	fmt.Fprintln(w, line)
	if o := res.Operations; o.Done+o.Failed+o.Dead > 0 {
		fmt.Fprintf(w, "  follow-up operations (after/on_error): %s done, %s failed attempts, %s given up\n", num(o.Done), num(o.Failed), num(o.Dead))
	}
	if res.Error != "" {
		fmt.Fprintf(w, "  %s\n", res.Error)
	}
	if res.SourceError != "" && !strings.Contains(res.Error, res.SourceError) {
		fmt.Fprintf(w, "  source: %s\n", res.SourceError)
	}
	if res.StoreError != "" {
		// The run's record or these counts may be incomplete: say so
		// rather than print them as if they were the whole truth.
		fmt.Fprintf(w, "  store error (this summary may be incomplete): %s\n", res.StoreError)
	}
	var see []string
	if q.Error > 0 {
		see = append(see, fmt.Sprintf("ferry queue %s --status error", res.Route))
	}
	if q.Leased > 0 {
		see = append(see, fmt.Sprintf("ferry queue %s --status leased", res.Route))
	}
	if q.Dead > 0 {
		see = append(see, fmt.Sprintf("ferry history %s --dead", res.Route), fmt.Sprintf("ferry retry %s --dead", res.Route))
	}
	if q.OutboxDead > 0 {
		see = append(see, fmt.Sprintf("ferry retry %s --operations", res.Route))
	}
	if len(see) > 0 {
		fmt.Fprintf(w, "  see: %s\n", strings.Join(see, " | "))
	}
}

func (a *app) dryRun(cmd *cobra.Command, s *session, names []string, full bool, limit int) error {
	for _, name := range names {
		fmt.Fprintf(a.stdout, "# %s (dry run: nothing is queued or sent)\n", name)
		var n, skipped, failed int
		err := s.engine.DryRun(cmd.Context(), name, full, limit, func(r engine.DryRecord) error {
			n++
			switch {
			case r.Skipped != "":
				skipped++
				fmt.Fprintf(a.stdout, "%s  skip   %s\n", r.Key, r.Skipped)
			case r.Error != "":
				failed++
				fmt.Fprintf(a.stdout, "%s  error  %s\n", r.Key, r.Error)
			default:
				body, _ := json.Marshal(r.Body)
				target := r.URL // rendered, secrets redacted
				if target == "" {
					target = r.Path
				}
				fmt.Fprintf(a.stdout, "%s  -> %s  %s %s  %s\n", r.Key, r.Destination, r.Method, target, body)
			}
			return nil
		})
		if err != nil {
			return withCode(ExitFailed, err)
		}
		fmt.Fprintf(a.stdout, "# %s: %d records, %d would be sent, %d skipped, %d would fail\n", name, n, n-skipped-failed, skipped, failed)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// num formats 1234567 as 1,234,567.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
