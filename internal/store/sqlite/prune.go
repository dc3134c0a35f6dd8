package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// pruneChunk is the rows one prune transaction looks at: small enough that
// a prune of millions of rows never holds the write lock for long.
const pruneChunk = 10000

// keptByEntry is true for an attempt whose entry still has a reason to
// show its history: it is queued, a dead letter, or owes outbox items.
const keptByEntry = `(EXISTS (SELECT 1 FROM entries e WHERE e.id = attempts.entry_id)
	OR EXISTS (SELECT 1 FROM dead_letters dl WHERE dl.entry_id = attempts.entry_id)
	OR EXISTS (SELECT 1 FROM outbox o WHERE o.entry_id = attempts.entry_id))`

// Prune applies a retention pass in chunked transactions, then reclaims
// the freed space when asked.
func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	return rules.PruneSteps{
		Dead:     s.pruneDead,
		Attempts: s.pruneAttempts,
		Runs: func(ctx context.Context, cutoff int64) (int, error) {
			return s.pruneChunks(ctx, "prune runs", `DELETE FROM runs WHERE id IN (SELECT id FROM runs
			WHERE status != 'running' AND (CASE WHEN ended_at > 0 THEN ended_at ELSE started_at END) < ? LIMIT ?)`, cutoff)
		},
		Delivered: s.pruneDelivered,
		Vacuum:    s.vacuum,
	}.Run(ctx, req)
}

// pruneChunks runs q (a DELETE whose last two parameters are the cutoff
// and the chunk size) until it deletes nothing.
func (s *Store) pruneChunks(ctx context.Context, what, q string, cutoff int64) (int, error) {
	total := 0
	for {
		var n int64
		err := s.writeTx(ctx, what, func(tx *sql.Tx) error {
			r, err := tx.ExecContext(ctx, q, cutoff, pruneChunk)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// pruneDead removes dead letters that died before cutoff, and the
// attempts of their entries unless the entry is back in the queue or
// still owes outbox items.
func (s *Store) pruneDead(ctx context.Context, cutoff int64) (deadLetters, attempts int, err error) {
	for {
		var n, a int
		err := s.writeTx(ctx, "prune dead letters", func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters
				WHERE died_at < ? LIMIT ?) RETURNING entry_id`, cutoff, pruneChunk)
			if err != nil {
				return err
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			if err := closeRows(rows); err != nil {
				return err
			}
			n = len(ids)
			for i := 0; i < len(ids); i += idChunk {
				chunk := ids[i:min(i+idChunk, len(ids))]
				r, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE entry_id IN (`+placeholders(len(chunk))+`)
					AND NOT `+keptByEntry, int64Args(chunk)...)
				if err != nil {
					return fmt.Errorf("attempts of dead letters: %w", err)
				}
				d, _ := r.RowsAffected()
				a += int(d)
			}
			return nil
		})
		deadLetters, attempts = deadLetters+n, attempts+a
		if err != nil || n == 0 {
			return deadLetters, attempts, err
		}
	}
}

// pruneAttempts walks the attempts in ID ranges of pruneChunk rows,
// removing those older than cutoff whose entry left for good (delivered,
// skipped, discarded, superseded). Attempts are recorded in time order, so
// the walk stops at the first range with nothing older than cutoff
// instead of reading the whole history each time.
func (s *Store) pruneAttempts(ctx context.Context, cutoff int64) (int, error) {
	total := 0
	var lo int64
	for {
		var (
			hi, oldest sql.NullInt64
			n          int64
		)
		err := s.writeTx(ctx, "prune attempts", func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT max(id), min(at) FROM (SELECT id, at FROM attempts WHERE id > ? ORDER BY id LIMIT ?)`,
				lo, pruneChunk).Scan(&hi, &oldest); err != nil {
				return err
			}
			if !hi.Valid || oldest.Int64 >= cutoff {
				return nil
			}
			// An unchanged attempt says only that the record was read
			// again: it goes with age even when its entry is kept (a dead
			// letter read again every run would grow for ever).
			r, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE id > ? AND id <= ? AND at < ? AND (outcome = 'unchanged' OR NOT `+keptByEntry+`)`,
				lo, hi.Int64, cutoff)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || !hi.Valid || oldest.Int64 >= cutoff {
			return total, err
		}
		lo = hi.Int64
	}
}

// pruneDelivered forgets delivered content older than cutoff, walking the
// table in primary key ranges of pruneChunk rows: delivered_at has no
// index, which would cost every settlement a write.
func (s *Store) pruneDelivered(ctx context.Context, cutoff int64) (int, error) {
	total := 0
	var fromRoute, fromKey string // exclusive lower bound; no route is ""
	for {
		var (
			n      int64
			more   bool
			toR    string
			toK    string
			errEnd error
		)
		err := s.writeTx(ctx, "prune delivered content", func(tx *sql.Tx) error {
			errEnd = tx.QueryRowContext(ctx, `SELECT route, key FROM delivered WHERE (route, key) > (?, ?)
				ORDER BY route, key LIMIT 1 OFFSET ?`, fromRoute, fromKey, pruneChunk-1).Scan(&toR, &toK)
			q, args := `DELETE FROM delivered WHERE (route, key) > (?, ?) AND delivered_at < ?`, []any{fromRoute, fromKey, cutoff}
			switch {
			case errEnd == nil:
				more = true
				q, args = q+` AND (route, key) <= (?, ?)`, append(args, toR, toK)
			case !errors.Is(errEnd, sql.ErrNoRows):
				return errEnd
			}
			r, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || !more {
			return total, err
		}
		fromRoute, fromKey = toR, toK
	}
}

// vacuum gives the free pages back to the file system: incremental
// vacuum in steps (each its own short write), then a checkpoint that
// truncates the WAL, so the file really shrinks. A store that is not in
// incremental auto-vacuum yet (its conversion at Open failed) gets a full
// VACUUM, which also converts it.
func (s *Store) vacuum(ctx context.Context) error {
	var mode int
	if err := s.write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("vacuum: read auto_vacuum: %w", err)
	}
	if mode != autoVacuumIncremental {
		if err := s.convertAutoVacuum(ctx); err != nil {
			return err
		}
	}
	for {
		var free int
		if err := s.write.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		if free == 0 {
			break
		}
		if _, err := s.write.ExecContext(ctx, `PRAGMA incremental_vacuum(2048)`); err != nil {
			return fmt.Errorf("vacuum: incremental vacuum: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	// The background checkpoint would make this one answer busy at once
	// (SQLite does not wait for another checkpoint): take its turn.
	s.ckpt.mu.Lock()
	defer s.ckpt.mu.Unlock()
	var busy, frames, copied int
	if err := s.write.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("vacuum: checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("vacuum: checkpoint: a reader or another process kept the log (%d of %d pages copied); the space comes back at a later checkpoint", copied, frames)
	}
	return nil
}

// autoVacuumIncremental is PRAGMA auto_vacuum's INCREMENTAL.
const autoVacuumIncremental = 2

// ensureIncrementalVacuum puts the store in incremental auto-vacuum at
// Open, so Prune can give freed pages back to the file system. The mode
// can be set only before a file's first page is written: the driver
// applies its DSN pragmas in its own order (auto_vacuum before page_size,
// which then stays at 4 KiB) and writes the first page when it turns WAL
// on. So a new store is converted like an old one, by a VACUUM: nothing to
// copy in an empty file, and done once for a store created before. A failed conversion (the disk too full for
// VACUUM's copy, the write lock held longer than the busy timeout) does not
// keep the store from opening: a Prune with Vacuum tries again and reports
// why it fails.
func (s *Store) ensureIncrementalVacuum(ctx context.Context) error {
	var mode int
	if err := s.write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	_ = s.convertAutoVacuum(ctx)
	return nil
}

// convertAutoVacuum turns the store into incremental auto-vacuum: VACUUM
// rebuilds the file with the pending setting. Its copy goes to a
// temporary file, not memory (temp_store), since the store may be larger
// than the memory at hand.
func (s *Store) convertAutoVacuum(ctx context.Context) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("convert to incremental vacuum: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{`PRAGMA auto_vacuum = INCREMENTAL`, `PRAGMA temp_store = FILE`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("convert to incremental vacuum: %s: %w", q, err)
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`) //nolint:errcheck // best effort: only sorts spill to a file otherwise
	start := time.Now()
	if _, err := conn.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("convert to incremental vacuum (VACUUM failed after %s): %w", time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}
