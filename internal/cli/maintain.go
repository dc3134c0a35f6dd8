package cli

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/store"
)

// Commands that change the queue or the history on a user's order:
// discard, resend, prune.

func (a *app) discardCommand() *cobra.Command {
	var key, reason string
	var errs, dead, ops bool
	cmd := &cobra.Command{
		Use:   "discard ROUTE",
		Short: "End error entries or dead letters on purpose (recorded with who and why)",
		Long: `End failed entries on purpose, for example after the record was fixed by
hand in the destination: error entries leave the queue (they are not
retried again), dead letters leave the error history. Each gets a
"discarded" attempt in the key's history with who did it and why, so
'ferry history ROUTE --key K' still tells the whole story.

Discarding says the destination was dealt with by hand: the discarded
content becomes the record's delivered content, so reading the same
content again is "unchanged" (not sent); a changed record is sent.

--operations discards follow-up operations (after/on_error) that were
given up (with --key, only the key's). Owed operations, and entries being
sent right now (leased), are never touched. The user recorded is
$FERRY_USER when set, otherwise user@host.`,
		Example: `  ferry discard orders --key 1042 --reason "created by hand in the ERP"
  ferry discard orders --dead --reason "test orders"
  ferry discard orders --errors
  ferry discard orders --operations --reason "customer notified by phone"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			route := args[0]
			if cmd.Flags().Changed("key") && key == "" {
				return withCode(ExitUsage, errors.New("--key needs a business key"))
			}
			if key == "" && !errs && !dead && !ops {
				return withCode(ExitUsage, errors.New("say what to discard: --key K, --errors, --dead or --operations"))
			}
			st, err := a.openRouteStore(cmd, route)
			if err != nil {
				return err
			}
			defer st.Close()
			sel := store.DiscardSelector{Route: route, Key: key, Dead: dead, Errors: errs, Operations: ops, Who: whoAmI(), Why: reason, Now: time.Now()}
			if key != "" && !errs && !dead && !ops {
				sel.Dead, sel.Errors = true, true
			}
			n, err := st.Discard(cmd.Context(), sel)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("discard: %w", err))
			}
			what := discardWhat(sel, n)
			if n == 0 {
				if key != "" && (sel.Dead || sel.Errors) {
					return a.explainNoDiscard(cmd, st, sel, what)
				}
				if key != "" {
					return withCode(ExitFailed, fmt.Errorf("nothing discarded: no %s with key %q in route %q (see 'ferry history %s --key %s')", what, key, route, route, key))
				}
				fmt.Fprintf(a.stdout, "%s: nothing to discard (no %s)\n", route, what)
				return nil
			}
			by := "by " + sel.Who
			if reason != "" {
				by += ": " + reason
			}
			of, k := "", "K"
			if key != "" {
				of, k = fmt.Sprintf(" of key %s", key), key
			}
			fmt.Fprintf(a.stdout, "%s: discarded %d %s%s (%s); see 'ferry history %s --key %s'\n", route, n, what, of, by, route, k)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "discard the error entry or dead letters of this business key")
	cmd.Flags().BoolVar(&errs, "errors", false, "discard every entry in error")
	cmd.Flags().BoolVar(&dead, "dead", false, "discard every dead letter")
	cmd.Flags().BoolVar(&ops, "operations", false, "discard after/on_error operations that were given up")
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the history")
	return cmd
}

// explainNoDiscard says why nothing of a --key was discarded: the key is
// pending or being sent (never discarded), or it has nothing of the kind
// asked for.
func (a *app) explainNoDiscard(cmd *cobra.Command, st store.Store, sel store.DiscardSelector, what string) error {
	route, key := sel.Route, sel.Key
	entries, err := st.Entries(cmd.Context(), store.EntryFilter{Route: route, Key: key, Limit: 10})
	if err != nil {
		return withCode(ExitFailed, err)
	}
	for _, e := range entries {
		switch e.Status {
		case store.StatusPending:
			return withCode(ExitFailed, fmt.Errorf("nothing discarded: key %q of route %q is pending (the next run sends it), not an error entry or dead letter", key, route))
		case store.StatusLeased:
			return withCode(ExitFailed, fmt.Errorf("nothing discarded: key %q of route %q is being sent right now; an entry in flight is never discarded", key, route))
		case store.StatusError:
			if !sel.Errors {
				return withCode(ExitFailed, fmt.Errorf("nothing discarded: key %q of route %q is an error entry, not a dead letter; 'ferry discard %s --key %s --errors' ends it", key, route, route, key))
			}
		}
	}
	return withCode(ExitFailed, fmt.Errorf("nothing discarded: no %s with key %q in route %q (see 'ferry history %s --key %s')", what, key, route, route, key))
}

// discardWhat names what a discard selection looks at, for n of them.
func discardWhat(sel store.DiscardSelector, n int) string {
	if !sel.Operations {
		return entriesWhat(sel, n)
	}
	ops := "operations given up"
	if n == 1 {
		ops = "operation given up"
	}
	if !sel.Dead && !sel.Errors {
		return ops
	}
	return entriesWhat(sel, n) + " or " + ops
}

// entriesWhat names the entries a discard selection looks at.
func entriesWhat(sel store.DiscardSelector, n int) string {
	one := n == 1
	switch {
	case sel.Dead && sel.Errors && one:
		return "error entry or dead letter"
	case sel.Dead && sel.Errors:
		return "error entries or dead letters"
	case sel.Dead && one:
		return "dead letter"
	case sel.Dead:
		return "dead letters"
	case one:
		return "error entry"
	}
	return "error entries"
}

// whoAmI names the user for the history: $FERRY_USER when set (a service
// account, a CI job), otherwise user@host.
func whoAmI() string {
	if v := os.Getenv("FERRY_USER"); v != "" {
		return v
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return name
	}
	return name + "@" + host
}

func (a *app) resendCommand() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "resend ROUTE --key K",
		Short: "Queue the last delivered payload of a key again",
		Long: `Queue the payload last delivered for a key again, as a new pending entry
with a new idempotency key, so the next run sends it even though it did not
change (for example after the destination lost it). The key's history
records who asked for it.

It refuses when the key already has an entry queued, in error or being
sent: that newer data goes first. The delivered payload is kept for
retention.delivered (default forever).`,
		Example: `  ferry resend orders --key 1042 && ferry run orders`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			route := args[0]
			if key == "" {
				return withCode(ExitUsage, errors.New("say which key to resend: --key K"))
			}
			st, err := a.openRouteStore(cmd, route)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := st.Resend(cmd.Context(), route, key, whoAmI(), time.Now())
			switch {
			case errors.Is(err, store.ErrNotFound):
				return withCode(ExitFailed, fmt.Errorf("no delivered payload kept for key %s in route %q (never delivered, or forgotten after retention.delivered; see 'ferry history %s --key %s')", key, route, route, key))
			case errors.Is(err, store.ErrNewerQueued):
				return withCode(ExitFailed, fmt.Errorf("key %s of route %q already has an entry queued, in error or being sent: that newer data goes first, nothing resent (see 'ferry queue %s --key %s')", key, route, route, key))
			case err != nil:
				return withCode(ExitFailed, fmt.Errorf("resend key %s: %w", key, err))
			}
			fmt.Fprintf(a.stdout, "%s: key %s queued again as entry %d with its last delivered payload; run 'ferry run %s' to send it\n", route, key, e.ID, route)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the business key to send again (required)")
	return cmd
}

func (a *app) pruneCommand() *cobra.Command {
	var vacuum bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Apply the retention now: remove old attempts, runs and dead letters",
		Long: `Remove the history the config's retention: block no longer keeps (attempts
of delivered records, finished runs, dead letters, last delivered content;
see docs/configuration.md) and print what was removed and the store file's
size. Runs apply the retention too; prune does it now, for example from
cron on a store that is not run often.

--vacuum gives the freed space back to the file system (SQLite incremental
vacuum); without it the space is reused by new data but the file does not
shrink.`,
		Example: `  ferry prune
  ferry prune --vacuum`,
		Args: cobra.NoArgs,
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
			sizeBefore := storeSize(cfg.Store)
			req := pruneRequest(cfg.Retention, time.Now())
			req.Vacuum = vacuum
			res, err := st.Prune(cmd.Context(), req)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("prune: %w", err))
			}
			rt := cfg.Retention
			fmt.Fprintf(a.stdout, "removed %s attempt%s of delivered records (%s), %s finished run%s (%s), %s dead letter%s (%s), %s delivered content%s (%s)\n",
				num(res.Attempts), plural(res.Attempts), keptText(rt.Attempts),
				num(res.Runs), plural(res.Runs), keptText(rt.Runs),
				num(res.DeadLetters), plural(res.DeadLetters), keptText(rt.DeadLetters),
				num(res.Delivered), plural(res.Delivered), keptText(rt.Delivered))
			// A PostgreSQL URL may hold a password from ${env:}: redacted.
			line := fmt.Sprintf("store %s: %s before, %s after", cfg.Redactor().String(cfg.Store), byteSize(sizeBefore), byteSize(storeSize(cfg.Store)))
			if !vacuum {
				line += " (--vacuum gives the freed space back to the file system)"
			}
			fmt.Fprintln(a.stdout, line)
			return nil
		},
	}
	cmd.Flags().BoolVar(&vacuum, "vacuum", false, "reclaim the freed space so the file shrinks")
	return cmd
}

// pruneRequest turns the retention into cutoffs at now: Forever keeps a
// kind (zero cutoff).
func pruneRequest(r config.Retention, now time.Time) store.PruneRequest {
	cutoff := func(d config.Duration) time.Time {
		if d == config.Forever || d <= 0 {
			return time.Time{}
		}
		return now.Add(-d.D())
	}
	return store.PruneRequest{
		AttemptsBefore:  cutoff(r.Attempts),
		RunsBefore:      cutoff(r.Runs),
		DeadBefore:      cutoff(r.DeadLetters),
		DeliveredBefore: cutoff(r.Delivered),
	}
}

// keptText says what a retention keeps: "older than 30d", "kept forever".
func keptText(d config.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == config.Forever || d <= 0:
		return "kept forever"
	case d.D()%day == 0:
		return fmt.Sprintf("older than %dd", d.D()/day)
	}
	return "older than " + d.D().String()
}

// storeSize is the size of the SQLite file with its write-ahead log (what
// the store takes on disk); 0 when it cannot be read.
func storeSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// byteSize formats n bytes as 12.3 MB.
func byteSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
