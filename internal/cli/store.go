package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/postgres"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
	"github.com/ferry-dev/ferry/internal/store/storeopen"
)

// ferry store: operations on the store itself (issue 9, deliverable 6).

func (a *app) storeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Operate the store: its status, its schema, a copy to another store",
		Long: `Commands about the store itself, the SQLite file or PostgreSQL database
that holds the queue and the history. STORE is a value as in store: of
ferry.yaml (a SQLite path, or a postgres:// URL, optionally with
&schema=NAME); without it, the store of ferry.yaml. A password in a URL
comes from the environment: write ${env:NAME} in single quotes, or leave it
out and set PGPASSWORD.`,
		Example: `  ferry store status
  ferry store status 'postgres://ferry:${env:FERRY_DB_PASSWORD}@db:5432/ferry' --json
  ferry store migrate
  ferry store copy ferry.db 'postgres://ferry:${env:FERRY_DB_PASSWORD}@db:5432/ferry'`,
	}
	cmd.AddCommand(a.storeStatusCommand(), a.storeMigrateCommand(), a.storeCopyCommand())
	return cmd
}

// envRef is ${env:NAME} in a STORE argument.
var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)

// storeValue resolves a STORE argument (or the config's store: when
// args is empty). A URL's password must come from ${env:NAME} or
// PGPASSWORD, never the command line, where ps and shell histories show
// it. The value is never quoted in errors.
func (a *app) storeValue(args []string, at int, what string) (string, error) {
	if len(args) <= at {
		cfg, err := a.loadConfig()
		if err != nil {
			return "", err
		}
		return cfg.Store, nil
	}
	raw := args[at]
	if raw == "" {
		return "", withCode(ExitUsage, fmt.Errorf("%s: empty store value", what))
	}
	if !config.StoreIsPostgres(raw) {
		if strings.Contains(raw, "://") {
			return "", withCode(ExitUsage, fmt.Errorf("%s: expected the path of a SQLite file or a postgres:// URL", what))
		}
		return raw, nil
	}
	// Parse with the references as placeholders: only then is the
	// password known to be nothing but references.
	const ref = "ferry-env-ref"
	u, err := url.Parse(envRef.ReplaceAllString(raw, ref))
	if err != nil {
		return "", withCode(ExitUsage, fmt.Errorf("%s: not a valid PostgreSQL URL (expected postgres://user@host:5432/db; characters such as @ / : in a password must be URL-encoded)", what))
	}
	if u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", withCode(ExitUsage, fmt.Errorf("%s: the PostgreSQL URL needs a host and a database (postgres://user@host:5432/db)", what))
	}
	if pw, ok := u.User.Password(); ok && strings.ReplaceAll(pw, ref, "") != "" {
		return "", withCode(ExitUsage, fmt.Errorf("%s: the PostgreSQL password is on the command line: write ${env:NAME} in its place (in single quotes) or set PGPASSWORD", what))
	}
	var missing []string
	value := envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return url.PathEscape(v)
	})
	if len(missing) > 0 {
		return "", withCode(ExitUsage, fmt.Errorf("%s: environment variable %s is not set", what, strings.Join(missing, ", ")))
	}
	return value, nil
}

// storeName shows a store value without its password.
func storeName(value string) string {
	if !config.StoreIsPostgres(value) {
		return value
	}
	u, err := url.Parse(value)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

// openStoreValue opens a store by value (migrating it, as every open
// does), without the clean-up of runs openStore does: ferry store shows
// and copies a store as it is.
func openStoreValue(ctx context.Context, value, what string) (store.Store, error) {
	st, err := storeopen.Open(ctx, value)
	if err != nil {
		return nil, withCode(ExitFailed, fmt.Errorf("%s: %w", what, err))
	}
	return st, nil
}

// peekSchemaVersion reads the schema version of the store at value
// without migrating it (0: none yet). It splits off schema= as
// storeopen.Open does.
func peekSchemaVersion(ctx context.Context, value string) (int, error) {
	if !config.StoreIsPostgres(value) {
		return sqlite.PeekSchemaVersion(ctx, value)
	}
	u, err := url.Parse(value)
	if err != nil {
		return 0, errors.New("the store URL does not parse")
	}
	q := u.Query()
	opts := postgres.Options{Schema: q.Get("schema")}
	q.Del("schema")
	u.RawQuery = q.Encode()
	return postgres.PeekSchemaVersion(ctx, u.String(), opts)
}

func (a *app) storeMigrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate [STORE]",
		Short: "Bring the store's schema up to this ferry's version",
		Long: `Apply the store's pending schema migrations and print the schema version
before and after. Every ferry command migrates the store it opens; this
one does only that, for example before starting several ferry serve
processes on a new version. Safe while others start: PostgreSQL migrates
under an advisory lock, SQLite in one exclusive transaction.`,
		Example: `  ferry store migrate
  ferry store migrate 'postgres://ferry:${env:FERRY_DB_PASSWORD}@db:5432/ferry?schema=ferry'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			value, err := a.storeValue(args, 0, "STORE")
			if err != nil {
				return err
			}
			before, err := peekSchemaVersion(ctx, value)
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("read the schema version of %s: %w", storeName(value), err))
			}
			st, err := openStoreValue(ctx, value, "migrate")
			if err != nil {
				return err
			}
			defer st.Close()
			in, ok := st.(store.Inspector)
			if !ok {
				return withCode(ExitFailed, errors.New("this store cannot tell its schema version"))
			}
			after, known, err := in.SchemaVersion(ctx)
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if before == after {
				fmt.Fprintf(a.stdout, "%s store %s: schema version %d, up to date (this ferry knows %d)\n", in.Kind(), storeName(value), after, known)
				return nil
			}
			fmt.Fprintf(a.stdout, "%s store %s: schema version %d -> %d\n", in.Kind(), storeName(value), before, after)
			return nil
		},
	}
}

// storeStatus is what ferry store status shows (and --json prints).
type storeStatus struct {
	Kind          string             `json:"kind"`
	Store         string             `json:"store"` // without password
	ID            string             `json:"id"`
	SchemaVersion int                `json:"schema_version"`
	KnownVersion  int                `json:"known_version"` // the newest this ferry knows
	Tables        map[string]int64   `json:"tables"`
	Processes     []processStatus    `json:"processes"`
	Leaders       []leaderStatus     `json:"leaders"`
	Leases        []store.LeaseCount `json:"leases"`
	Now           time.Time          `json:"now"` // the time alive/expired are judged by (the database's, for PostgreSQL)
}

type processStatus struct {
	store.Process
	Alive bool `json:"alive"`
}

type leaderStatus struct {
	store.Leader
	Expired bool `json:"expired"`
}

func (a *app) storeStatusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [STORE]",
		Short: "Show the store: kind, schema version, contents, processes, leaders, leases",
		Long: `Show what the store holds and who uses it: its kind and identity, the
schema version, the rows of each table, the ferry processes that beat into
it (alive until their last beat's term passes, gone after), who leads each
role of ferry serve (scheduler, rescuer, ...), and the entries leased (being
sent) per route and worker. Opening the store migrates it, as every
command does.`,
		Example: `  ferry store status
  ferry store status --json | jq .processes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			value, err := a.storeValue(args, 0, "STORE")
			if err != nil {
				return err
			}
			st, err := openStoreValue(ctx, value, "status")
			if err != nil {
				return err
			}
			defer st.Close()
			s, err := readStoreStatus(ctx, st, storeName(value))
			if err != nil {
				return withCode(ExitFailed, fmt.Errorf("status of %s: %w", storeName(value), err))
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			return printStoreStatus(a, s)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func readStoreStatus(ctx context.Context, st store.Store, name string) (storeStatus, error) {
	in, ok := st.(store.Inspector)
	if !ok {
		return storeStatus{}, errors.New("this store cannot be inspected")
	}
	s := storeStatus{Kind: in.Kind(), Store: name, ID: st.ID(), Now: time.Now()}
	if c, ok := st.(store.Clock); ok {
		now, err := c.Now(ctx)
		if err != nil {
			return s, fmt.Errorf("read the database's clock: %w", err)
		}
		s.Now = now
	}
	var err error
	if s.SchemaVersion, s.KnownVersion, err = in.SchemaVersion(ctx); err != nil {
		return s, err
	}
	if s.Tables, err = in.TableCounts(ctx); err != nil {
		return s, err
	}
	procs, err := st.Processes(ctx)
	if err != nil {
		return s, fmt.Errorf("processes: %w", err)
	}
	s.Processes = make([]processStatus, 0, len(procs))
	for _, p := range procs {
		s.Processes = append(s.Processes, processStatus{Process: p, Alive: p.Until.After(s.Now)})
	}
	leaders, err := in.Leaders(ctx)
	if err != nil {
		return s, err
	}
	s.Leaders = make([]leaderStatus, 0, len(leaders))
	for _, l := range leaders {
		s.Leaders = append(s.Leaders, leaderStatus{Leader: l, Expired: !l.Until.After(s.Now)})
	}
	if s.Leases, err = in.LeaseCounts(ctx); err != nil {
		return s, err
	}
	if s.Leases == nil {
		s.Leases = []store.LeaseCount{}
	}
	return s, nil
}

func printStoreStatus(a *app, s storeStatus) error {
	const stamp = "2006-01-02 15:04:05"
	w := a.stdout
	fmt.Fprintf(w, "store:     %s %s\n", s.Kind, s.Store)
	fmt.Fprintf(w, "identity:  %s\n", s.ID)
	newer := ""
	if s.SchemaVersion < s.KnownVersion {
		newer = fmt.Sprintf(" (this ferry knows %d: run 'ferry store migrate')", s.KnownVersion)
	}
	fmt.Fprintf(w, "schema:    version %d%s\n", s.SchemaVersion, newer)
	fmt.Fprintf(w, "holds:     %s\n", storecopy.Holdings(s.Tables))

	fmt.Fprintf(w, "\nprocesses: %d\n", len(s.Processes))
	if len(s.Processes) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tHOST\tPID\tLISTEN\tVERSION\tSTARTED\tLAST SEEN\tSTATE")
		for _, p := range s.Processes {
			state := "alive"
			if !p.Alive {
				state = "gone"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, dash(p.Host), p.PID, dash(p.Listen), dash(p.Version),
				p.StartedAt.Local().Format(stamp), p.SeenAt.Local().Format(stamp), state)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nleaders:   %d\n", len(s.Leaders))
	if len(s.Leaders) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROLE\tOWNER\tUNTIL\tSTATE")
		for _, l := range s.Leaders {
			state := "leads"
			if l.Expired {
				state = "expired"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", l.Role, l.Owner, l.Until.Local().Format(stamp), state)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	var leased int64
	for _, l := range s.Leases {
		leased += l.Entries
	}
	fmt.Fprintf(w, "\nleases:    %d entries\n", leased)
	if len(s.Leases) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROUTE\tOWNER\tENTRIES\tUNTIL")
		for _, l := range s.Leases {
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", l.Route, dash(l.Owner), l.Entries, l.Until.Local().Format(stamp))
		}
		return tw.Flush()
	}
	return nil
}

func (a *app) storeCopyCommand() *cobra.Command {
	var chunk int
	var live bool
	cmd := &cobra.Command{
		Use:   "copy FROM TO",
		Short: "Copy a whole store into a new, empty one (e.g. SQLite to PostgreSQL)",
		Long: `Copy everything of the store FROM into the store TO: the queue (every
entry, whatever its status), dead letters, the history of attempts, runs,
cursors, the last delivered content of every key, owed after/on_error
operations, the schedule's ticks, and the store's identity, with all IDs,
so the idempotency keys of records already sent stay the same and a
destination recognises a repeat. FROM and TO are store values as in
store: (a SQLite path, a postgres:// URL); TO must be empty (a new file,
an empty or new schema), else the copy is refused, saying what TO holds.

Entries leased (being sent) in FROM are put back into TO's queue, as the
rescuer does for a worker that died: their delivery may be repeated, with
the same idempotency key. Run locks, leaders and processes stay behind.
The copy reads FROM from one snapshot and writes TO in one transaction,
checked against what was read before it commits: it lands whole or not at
all. Stop the ferry processes on FROM first: what they do after the
snapshot is not copied, so the copy is refused while one is alive (--live
copies anyway). Then point store: at TO.`,
		Example: `  ferry store copy ferry.db 'postgres://ferry:${env:FERRY_DB_PASSWORD}@db:5432/ferry'
  ferry store copy 'postgres://ferry@db:5432/ferry' ferry-backup.db     # PGPASSWORD set`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			from, err := a.storeValue(args, 0, "FROM")
			if err != nil {
				return err
			}
			to, err := a.storeValue(args, 1, "TO")
			if err != nil {
				return err
			}
			if chunk <= 0 {
				return withCode(ExitUsage, fmt.Errorf("--chunk %d: expected a positive number of rows", chunk))
			}
			if from == to {
				return withCode(ExitUsage, errors.New("FROM and TO are the same store"))
			}
			src, err := openStoreValue(ctx, from, "open FROM")
			if err != nil {
				return err
			}
			defer src.Close()
			if !live {
				if err := refuseLive(ctx, src); err != nil {
					return err
				}
			}
			dst, err := openStoreValue(ctx, to, "open TO")
			if err != nil {
				return err
			}
			defer dst.Close()
			fmt.Fprintf(a.stderr, "copy: %s -> %s\n", storeName(from), storeName(to))
			res, err := storecopy.Copy(ctx, src, dst, storecopy.Options{Chunk: chunk, Progress: a.stderr})
			if err != nil {
				return withCode(ExitFailed, err)
			}
			if res.Leased > 0 {
				fmt.Fprintf(a.stderr, "ferry: warning: %d entries were being sent (leased) in FROM; they are queued again in TO (%d put back or superseded) and may be delivered once more, with the same idempotency key\n", res.Leased, res.Released)
			}
			fmt.Fprintf(a.stdout, "copied %s into %s (store identity %s kept)\n", storecopy.Holdings(res.Counts), storeName(to), res.ID)
			return nil
		},
	}
	cmd.Flags().IntVar(&chunk, "chunk", 1000, "rows read and written at a time (memory is bounded by it)")
	cmd.Flags().BoolVar(&live, "live", false, "copy even while a ferry process on FROM is alive (what it does after the snapshot is not copied)")
	return cmd
}

// refuseLive refuses a copy while a process on the source is alive: what
// it queues or settles after the snapshot would be missing from the copy.
func refuseLive(ctx context.Context, st store.Store) error {
	now := time.Now()
	if c, ok := st.(store.Clock); ok {
		if t, err := c.Now(ctx); err == nil {
			now = t
		}
	}
	procs, err := st.Processes(ctx)
	if err != nil {
		return withCode(ExitFailed, fmt.Errorf("FROM: list its processes: %w", err))
	}
	var alive []string
	for _, p := range procs {
		if p.Until.After(now) {
			alive = append(alive, fmt.Sprintf("%s (pid %d on %s)", p.ID, p.PID, p.Host))
		}
	}
	if len(alive) > 0 {
		return withCode(ExitFailed, fmt.Errorf("FROM is in use by %d live ferry process(es): %s; stop them first (what they do after the copy's snapshot would be lost), or pass --live", len(alive), strings.Join(alive, ", ")))
	}
	return nil
}
