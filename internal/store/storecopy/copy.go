// Package storecopy moves the whole content of one ferry store into an
// empty other one (ferry store copy): SQLite to PostgreSQL, back, or
// between two of a kind. The stores stream their rows through
// store.Exporter and store.Importer in a neutral form (store.Rows);
// rows.go holds the column layout both share.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Options tune Copy.
type Options struct {
	// Chunk is the number of rows read and written at a time; default
	// 1000. Memory is bounded by it, not by the size of the store.
	Chunk int
	// Progress receives a line per table and every ProgressEvery rows of
	// a large one (nil: none).
	Progress io.Writer
	// ProgressEvery is how many rows of a table pass between progress
	// lines; default 100,000.
	ProgressEvery int64
}

// Result says what Copy did.
type Result struct {
	ID     string           // the identity both stores share now
	Counts map[string]int64 // rows copied per table
	// Leased counts entries that were leased (being sent) in the source:
	// they were put back into the queue of the copy, as the rescuer does
	// for a worker that died (pending, or in error when attempted
	// before; dropped when a newer version of the key is queued).
	Leased   int64
	Released int
}

// Copy copies everything of from into to, which must be empty: entries
// (all statuses), dead letters, attempts, runs, cursors, delivered
// content, outbox items, ticks and the store's identity, with their IDs,
// so idempotency keys stay the same. Route locks, leaders and processes
// are not copied: they belong to the processes of the source. The import
// is one transaction, checked against the exported counts before it
// commits. The open to keeps its old ID() until opened again.
func Copy(ctx context.Context, from, to store.Store, opts Options) (Result, error) {
	ex, ok := from.(store.Exporter)
	if !ok {
		return Result{}, errors.New("copy: the source store cannot export its content")
	}
	im, ok := to.(store.Importer)
	if !ok {
		return Result{}, errors.New("copy: the target store cannot import")
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 100_000
	}
	imp, err := im.BeginImport(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("copy: %w", err)
	}
	// Roll back even when ctx was cancelled (no-op after Commit).
	defer imp.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the copy's error says more
	var (
		res    Result
		owners []string
		// Owners of leased outbox items: their operations are owed again.
		outboxOwners []string
		table        string
		n            int64
	)
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format, args...)
		}
	}
	info, err := ex.Export(ctx, opts.Chunk, func(r store.Rows) error {
		if t := r.Table(); t != table {
			if table != "" {
				progress("copy: %s: %d rows\n", table, n)
			}
			table, n = t, 0
		}
		for _, e := range r.Entries {
			if e.Status == store.StatusLeased {
				res.Leased++
				if !slices.Contains(owners, e.LeaseOwner) {
					owners = append(owners, e.LeaseOwner)
				}
			}
		}
		for _, o := range r.Outbox {
			if o.LeaseOwner != "" && !slices.Contains(outboxOwners, o.LeaseOwner) {
				outboxOwners = append(outboxOwners, o.LeaseOwner)
			}
		}
		if err := imp.Add(ctx, r); err != nil {
			return err
		}
		before := n / opts.ProgressEvery
		n += int64(r.Len())
		if n/opts.ProgressEvery > before {
			progress("copy: %s: %d rows so far\n", table, n)
		}
		return nil
	})
	if table != "" && err == nil {
		progress("copy: %s: %d rows\n", table, n)
	}
	if err != nil {
		return Result{}, fmt.Errorf("copy (nothing was written to the target): %w", err)
	}
	if err := imp.Commit(ctx, info); err != nil {
		return Result{}, fmt.Errorf("copy (nothing was written to the target): %w", err)
	}
	res.ID, res.Counts = info.ID, info.Counts
	if len(owners) > 0 {
		// The source's workers will never settle these leases in the copy:
		// put the entries back now, by the store's own rules.
		released, err := to.ReleaseLeases(ctx, "", time.Time{}, owners)
		if err != nil {
			return res, fmt.Errorf("copy: the copy is complete, but its %d leased entries could not be put back into the queue (ferry serve's rescuer does it when their leases expire): %w", res.Leased, err)
		}
		res.Released = released
	}
	if len(outboxOwners) > 0 {
		if _, err := to.ReleaseOutbox(ctx, "", time.Time{}, outboxOwners); err != nil {
			return res, fmt.Errorf("copy: the copy is complete, but its leased after/on_error operations could not be put back (ferry serve's rescuer does it when their leases expire): %w", err)
		}
	}
	return res, nil
}
