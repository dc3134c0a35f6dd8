package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/store"
)

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config and report every error at once",
		Long: `Load the config strictly and report every problem with file:line:column:
unknown fields, wrong types, missing fields, unknown systems or destinations,
cycles in depends_on, expressions that do not compile, secrets that cannot
be read. Exits 0 when the file is valid, 2 when it is not.`,
		Example: `  ferry validate
  ferry -c examples/shop-to-erp.yaml validate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(a.configPath, all.Set())
			if err != nil {
				var errs *config.Errors
				if errors.As(err, &errs) {
					for _, e := range *errs {
						fmt.Fprintln(a.stderr, e)
					}
					return withCode(ExitUsage, fmt.Errorf("%s: %d error%s", a.configPath, len(*errs), plural(len(*errs))))
				}
				return withCode(ExitUsage, err)
			}
			fmt.Fprintf(a.stdout, "%s: valid (%d system%s, %d route%s)\n", a.configPath,
				len(cfg.Systems), plural(len(cfg.Systems)), len(cfg.Routes), plural(len(cfg.Routes)))
			return nil
		},
	}
}

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of ferry.yaml for editor completion",
		Example: `  ferry schema > ferry.schema.json
  # then, at the top of ferry.yaml (YAML language server):
  # yaml-language-server: $schema=./ferry.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := config.Schema(all.Set())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			_, err = fmt.Fprintln(a.stdout, string(b))
			return err
		},
	}
}

func (a *app) routesCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "routes",
		Short:   "List the routes with their queues",
		Example: `  ferry routes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			ticks, err := st.Ticks(cmd.Context())
			if err != nil {
				return withCode(ExitFailed, err)
			}
			next := map[string]store.Tick{}
			for _, t := range ticks {
				next[t.Route] = t
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROUTE\tPRIORITY\tDEPENDS ON\tTRIGGER\tNEXT RUN\tPENDING\tERROR\tDEAD\tOWED\tOPS DEAD\tCURSOR\tLAST RUN")
			for _, name := range cfg.RouteNames() {
				r := cfg.Routes[name]
				trigger, nextRun := triggerOf(r), "-"
				if sched, ok := r.Trigger(); ok {
					if t, ok := next[name]; ok && t.Spec == sched.String() {
						nextRun = t.Next.Local().Format("2006-01-02 15:04:05") // set by ferry serve
					}
				}
				c, err := st.Counts(cmd.Context(), name)
				if err != nil {
					return withCode(ExitFailed, err)
				}
				cur, err := st.Cursor(cmd.Context(), name)
				if err != nil {
					return withCode(ExitFailed, err)
				}
				last := "never"
				if runs, err := st.Runs(cmd.Context(), name, 1); err == nil && len(runs) > 0 {
					last = fmt.Sprintf("%s %s", runs[0].StartedAt.Local().Format("2006-01-02 15:04"), runs[0].Status)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", name, r.Priority, dash(strings.Join(r.DependsOn, ",")),
					trigger, nextRun, c.Pending+c.Leased, c.Error, c.Dead, c.Outbox, c.OutboxDead, dash(cur), last)
			}
			return tw.Flush()
		},
	}
}

func (a *app) queueCommand() *cobra.Command {
	var status, key string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "queue ROUTE",
		Short: "Show a route's queued entries",
		Long:  `List the entries in a route's queue: pending (P), error (E) and leased (L), with attempts, last error and next attempt time.`,
		Example: `  ferry queue orders
  ferry queue orders --status error
  ferry queue orders --key 1042 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "limit"); err != nil {
				return err
			}
			st, err := a.openRouteStore(cmd, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			f := store.EntryFilter{Route: args[0], Key: key, Limit: limit}
			switch status {
			case "", "all":
			case "pending", "P":
				f.Status = store.StatusPending
			case "error", "E":
				f.Status = store.StatusError
			case "leased", "L":
				f.Status = store.StatusLeased
			default:
				return withCode(ExitUsage, fmt.Errorf("--status %q: expected pending, error, leased or all", status))
			}
			entries, err := st.Entries(cmd.Context(), f)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if key != "" && len(entries) == 0 {
				// Like history --key: a key that is not there is an answer a
				// script must be able to tell from an empty queue.
				what := "entry"
				if status != "" && status != "all" {
					what = status + " entry"
				}
				return withCode(ExitFailed, fmt.Errorf("no queued %s with key %q in route %q (delivered, discarded or dead? see 'ferry history %s --key %s')", what, key, args[0], args[0], key))
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(entriesJSON(entries))
			}
			c, err := st.Counts(cmd.Context(), args[0])
			if err != nil {
				return withCode(ExitFailed, err)
			}
			fmt.Fprintf(a.stdout, "%s: %d pending, %d error, %d leased, %d dead letters", args[0], c.Pending, c.Error, c.Leased, c.Dead)
			if c.Outbox+c.OutboxDead > 0 {
				fmt.Fprintf(a.stdout, "; operations (after/on_error): %d owed, %d given up", c.Outbox, c.OutboxDead)
				if c.OutboxDead > 0 {
					fmt.Fprintf(a.stdout, " ('ferry retry %s --operations' runs them again)", args[0])
				}
			}
			fmt.Fprintln(a.stdout)
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKEY\tSTATUS\tV\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
			for _, e := range entries {
				next := "-"
				if e.Status == store.StatusError && !e.NextAttemptAt.IsZero() {
					next = e.NextAttemptAt.Local().Format("01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", e.ID, e.Key, e.Status, e.Version, e.Attempts, next, dash(oneLine(e.LastError, 100)))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(entries) == f.Limit || (f.Limit == 0 && len(entries) == 100) {
				fmt.Fprintln(a.stdout, "(more entries: use --limit)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "pending, error, leased or all")
	cmd.Flags().StringVar(&key, "key", "", "only the entry with this business key")
	cmd.Flags().IntVar(&limit, "limit", 100, "entries to show")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type entryJSON struct {
	ID            int64           `json:"id"`
	Key           string          `json:"key"`
	Status        string          `json:"status"`
	Version       int64           `json:"version"`
	Priority      int             `json:"priority"`
	Attempts      int             `json:"attempts"`
	LastError     string          `json:"last_error,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	Payload       json.RawMessage `json:"payload"`
}

func entriesJSON(entries []store.Entry) []entryJSON {
	out := make([]entryJSON, 0, len(entries))
	for _, e := range entries {
		j := entryJSON{ID: e.ID, Key: e.Key, Status: string(e.Status), Version: e.Version, Priority: e.Priority,
			Attempts: e.Attempts, LastError: e.LastError, Payload: e.Payload}
		if e.Status == store.StatusError && !e.NextAttemptAt.IsZero() {
			t := e.NextAttemptAt
			j.NextAttemptAt = &t
		}
		out = append(out, j)
	}
	return out
}

func (a *app) retryCommand() *cobra.Command {
	var key string
	var errs, dead, ops bool
	cmd := &cobra.Command{
		Use:   "retry ROUTE",
		Short: "Put failed entries back in the queue, due now",
		Long: `Make failed entries pending again with their attempts reset, so the next
run (or 'ferry run ROUTE') sends them at once. Dead letters keep their
entry ID, so their attempt history stays in one piece.

--operations makes follow-up operations (after/on_error) that were given
up (attempts spent, or a template error) due again with their attempts
reset; the next run performs them. --key K alone retries the key's error
entry, dead letter and operations given up.`,
		Example: `  ferry retry orders --dead            # replay every dead letter
  ferry retry orders --errors          # retry error entries now, not at their next attempt time
  ferry retry orders --key 1042        # one record, wherever it is (error, dead, operations given up)
  ferry retry orders --operations      # after/on_error operations that were given up
  ferry retry orders --dead && ferry run orders`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("key") && key == "" {
				return withCode(ExitUsage, errors.New("--key needs a business key"))
			}
			if key == "" && !errs && !dead && !ops {
				return withCode(ExitUsage, errors.New("say what to retry: --key K, --errors, --dead or --operations"))
			}
			st, err := a.openRouteStore(cmd, args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			route, now := args[0], time.Now()
			keyAlone := key != "" && !errs && !dead && !ops
			opsN := 0
			if ops || keyAlone {
				if opsN, err = st.ReplayOutbox(cmd.Context(), route, key, now); err != nil {
					return withCode(ExitFailed, fmt.Errorf("retry operations: %w", err))
				}
				if opsN > 0 {
					fmt.Fprintf(a.stdout, "%s: %d operation%s given up (after/on_error) due again; run 'ferry run %s' to perform %s\n",
						route, opsN, plural(opsN), route, map[bool]string{true: "it", false: "them"}[opsN == 1])
				}
			}
			if !errs && !dead && !keyAlone {
				if opsN > 0 {
					return nil
				}
				if key != "" {
					return withCode(ExitFailed, fmt.Errorf("no operation given up with key %q in route %q (see 'ferry history %s --key %s')", key, route, route, key))
				}
				fmt.Fprintf(a.stdout, "%s: nothing to retry (no operations given up)\n", route)
				return nil
			}
			sel := store.ReplaySelector{Route: route, Key: key, Dead: dead, Errors: errs, Now: now}
			if keyAlone {
				sel.Dead, sel.Errors = true, true
			}
			return a.retry(cmd, st, sel, opsN)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "retry the entry with this business key")
	cmd.Flags().BoolVar(&errs, "errors", false, "retry every entry in error now")
	cmd.Flags().BoolVar(&dead, "dead", false, "replay every dead letter")
	cmd.Flags().BoolVar(&ops, "operations", false, "run after/on_error operations that were given up again")
	return cmd
}

// retry replays what sel selects and says what became of it: replayed,
// superseded by newer data (never replayed over it), or, for a key, why
// nothing was done. opsReplayed is how many operations given up of the
// same selection were made due already (then finding no entry is fine).
func (a *app) retry(cmd *cobra.Command, st store.Store, sel store.ReplaySelector, opsReplayed int) error {
	ctx, route := cmd.Context(), sel.Route
	before, err := st.Counts(ctx, route)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	rr, err := st.Replay(ctx, sel)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	after, err := st.Counts(ctx, route)
	if err != nil {
		return withCode(ExitFailed, err)
	}
	n := rr.Replayed
	for _, k := range rr.Superseded {
		fmt.Fprintf(a.stdout, "%s: key %s: not replayed, a newer version was queued or delivered after it died (its dead letter stays; 'ferry discard %s --key %s' ends it)\n", route, k, route, k)
	}
	if n == 0 && opsReplayed > 0 && len(rr.Superseded) == 0 {
		return nil
	}
	if n == 0 && sel.Key != "" {
		if slices.Contains(rr.Superseded, sel.Key) {
			return withCode(ExitFailed, errors.New(""))
		}
		return a.explainNoReplay(cmd, st, sel)
	}
	if n == 0 {
		if len(rr.Superseded) == 0 {
			fmt.Fprintf(a.stdout, "%s: nothing to retry (%s)\n", route, nothingWhat(sel))
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "%s: %d entr%s queued again; run 'ferry run %s' to send\n", route, n, map[bool]string{true: "y", false: "ies"}[n == 1], route)
	// A key that died more than once is replayed with its newest version;
	// the older dead letters leave the error history (their attempts
	// stay): say so rather than lose them quietly.
	if sel.Dead {
		if older := before.Dead - after.Dead - min(n, before.Dead-after.Dead); older > 0 {
			fmt.Fprintf(a.stdout, "%s: %d older dead letter%s of the same keys superseded by a newer version (their attempts stay in the history)\n", route, older, plural(older))
		}
	}
	return nil
}

func nothingWhat(sel store.ReplaySelector) string {
	switch {
	case sel.Dead && sel.Errors:
		return "no dead letters and no entries in error"
	case sel.Dead:
		return "no dead letters"
	}
	return "no entries in error"
}

// explainNoReplay says why a key selected by --key was not replayed: it
// is somewhere the selection did not look (an error entry asked for with
// --dead), in flight, already pending, or nowhere. Only "already
// pending" is success: the key will be sent.
func (a *app) explainNoReplay(cmd *cobra.Command, st store.Store, sel store.ReplaySelector) error {
	ctx, route, key := cmd.Context(), sel.Route, sel.Key
	entries, err := st.Entries(ctx, store.EntryFilter{Route: route, Key: key, Limit: 10})
	if err != nil {
		return withCode(ExitFailed, err)
	}
	for _, e := range entries {
		switch e.Status {
		case store.StatusPending:
			fmt.Fprintf(a.stdout, "%s: the entry with key %q is already pending; run 'ferry run %s' to send it\n", route, key, route)
			return nil
		case store.StatusLeased:
			return withCode(ExitFailed, fmt.Errorf("key %q of route %q is being sent right now (leased by a run); nothing retried", key, route))
		case store.StatusError:
			if !sel.Errors {
				next := ""
				if !e.NextAttemptAt.IsZero() {
					next = ", next attempt " + e.NextAttemptAt.Local().Format("2006-01-02 15:04:05")
				}
				return withCode(ExitFailed, fmt.Errorf("key %q of route %q is an error entry (%d attempt%s%s), not a dead letter: nothing retried; 'ferry retry %s --key %s --errors' retries it now", key, route, e.Attempts, plural(e.Attempts), next, route, key))
			}
		}
	}
	if !sel.Dead {
		dl, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, Key: key, Limit: 1})
		if err != nil {
			return withCode(ExitFailed, err)
		}
		if len(dl) > 0 {
			return withCode(ExitFailed, fmt.Errorf("key %q of route %q is a dead letter, not an error entry: nothing retried; 'ferry retry %s --key %s --dead' replays it", key, route, route, key))
		}
	}
	return withCode(ExitFailed, fmt.Errorf("no error entry or dead letter with key %q in route %q (see 'ferry queue %s' and 'ferry history %s --dead')", key, route, route, route))
}

func (a *app) historyCommand() *cobra.Command {
	var limit int
	var dead, attempts, asJSON bool
	var key string
	cmd := &cobra.Command{
		Use:   "history ROUTE",
		Short: "Show a route's runs, attempts and dead letters",
		Example: `  ferry history orders                 # the latest runs
  ferry history orders --attempts      # the latest delivery attempts
  ferry history orders --dead          # the error history (dead letters)
  ferry history orders --key 1042      # every attempt for one record
  ferry history orders --dead --json   # in full: errors, payloads, request and response excerpts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := firstErr(
				exclusive(cmd, "--dead lists dead letters, --attempts the latest attempts of any record, --key every attempt of one record; pick one", "dead", "attempts", "key"),
				atLeastOne(cmd, "limit"),
			); err != nil {
				return err
			}
			if cmd.Flags().Changed("limit") && key != "" {
				return withCode(ExitUsage, errors.New("--limit does not apply to --key: a record's whole history is shown, oldest first (up to 1,000 attempts)"))
			}
			route := args[0]
			st, err := a.openRouteStore(cmd, route)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			defer tw.Flush()
			// --json prints the same rows in full, nothing cut short.
			printJSON := func(v any) error {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			switch {
			case key != "":
				// A record's whole history, oldest first: --limit would cut
				// off the newest attempts, so it only caps it generously.
				list, err := st.KeyAttempts(ctx, route, key, max(limit, 1000))
				if err != nil {
					return withCode(ExitFailed, err)
				}
				if len(list) == 0 {
					return withCode(ExitFailed, fmt.Errorf("no attempt for key %q in route %q", key, route))
				}
				if asJSON {
					return printJSON(list)
				}
				printAttempts(tw, list)
			case attempts:
				list, err := st.RecentAttempts(ctx, route, limit)
				if err != nil {
					return withCode(ExitFailed, err)
				}
				if asJSON {
					return printJSON(list)
				}
				printAttempts(tw, list)
			case dead:
				list, err := st.DeadLetters(ctx, store.DeadFilter{Route: route, Limit: limit})
				if err != nil {
					return withCode(ExitFailed, err)
				}
				if asJSON {
					return printJSON(list)
				}
				fmt.Fprintln(tw, "ENTRY\tKEY\tATTEMPTS\tDIED\tLAST ERROR")
				for _, d := range list {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", d.EntryID, d.Key, d.Attempts, d.DiedAt.Local().Format("2006-01-02 15:04:05"), oneLine(d.LastError, 120))
				}
			default:
				runs, err := st.Runs(ctx, route, limit)
				if err != nil {
					return withCode(ExitFailed, err)
				}
				if asJSON {
					return printJSON(runs)
				}
				fmt.Fprintln(tw, "RUN\tSTARTED\tDURATION\tMODE\tSTATUS\tITER\tREAD\tDONE\tUNCHANGED\tFAILED\tDEAD\tSKIPPED\tNOTE")
				for _, r := range runs {
					dur := "-"
					if !r.EndedAt.IsZero() {
						dur = r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.StartedAt.Local().Format("2006-01-02 15:04:05"), dur,
						r.Mode, r.Status, r.Iterations, r.Collected, r.Done, r.Unchanged, r.Failed, r.Dead, r.Skipped, dash(oneLine(r.Error, 80)))
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "rows to show")
	cmd.Flags().BoolVar(&dead, "dead", false, "show dead letters (the error history)")
	cmd.Flags().BoolVar(&attempts, "attempts", false, "show the latest delivery attempts")
	cmd.Flags().StringVar(&key, "key", "", "show every attempt for the record with this key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, in full (the table cuts long errors)")
	return cmd
}

func printAttempts(tw *tabwriter.Writer, list []store.Attempt) {
	// OP tells a delivery ("-") from a follow-up operation (after[0],
	// on_error[0]) and a user's command (retry, resend, discard).
	fmt.Fprintln(tw, "AT\tENTRY\tKEY\tV\tRUN\tOP\tOUTCOME\tHTTP\tMS\tERROR")
	for _, a := range list {
		code := "-"
		if a.StatusCode != 0 {
			code = fmt.Sprint(a.StatusCode)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\n", a.At.Local().Format("2006-01-02 15:04:05.000"), a.EntryID, a.Key, a.Version, a.RunID,
			dash(a.Op), a.Outcome, code, a.DurationMillis, dash(oneLine(a.Error, 120)))
	}
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print ferry's version",
		Example: `  ferry version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "ferry %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine flattens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// triggerOf says what starts a route under ferry serve besides a manual
// run: its schedule, its webhook, or both ("-": manual only).
func triggerOf(r *config.Route) string {
	var parts []string
	if sched, ok := r.Trigger(); ok {
		parts = append(parts, sched.String())
	}
	if r.Webhook != nil {
		parts = append(parts, "webhook")
	}
	return dash(strings.Join(parts, " + "))
}
