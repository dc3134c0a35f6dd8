package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// pruneChunk is the rows one prune transaction deletes at most: a prune
// of millions of rows never holds locks or a snapshot for long.
const pruneChunk = 10000

// keptByEntry is true for an attempt whose entry still has a reason to
// show its history: it is queued, a dead letter, or owes outbox items.
const keptByEntry = `(EXISTS (SELECT 1 FROM entries e WHERE e.id = attempts.entry_id)
	OR EXISTS (SELECT 1 FROM dead_letters dl WHERE dl.entry_id = attempts.entry_id)
	OR EXISTS (SELECT 1 FROM outbox o WHERE o.entry_id = attempts.entry_id))`

// Prune applies a retention pass in chunked transactions (the rules of
// store.PruneRequest, as in the SQLite store). Vacuum runs a plain VACUUM
// of the store's tables: PostgreSQL reuses the freed space (autovacuum
// does the same on its own); the files do not shrink, which would take
// VACUUM FULL and an exclusive lock of the queue.
func (s *Store) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	return rules.PruneSteps{
		Dead:     s.pruneDead,
		Attempts: s.pruneAttempts,
		Runs: func(ctx context.Context, cutoff int64) (int, error) {
			return s.pruneChunks(ctx, "prune runs", `DELETE FROM runs WHERE id IN (SELECT id FROM runs
			WHERE status <> 'running' AND (CASE WHEN ended_at > 0 THEN ended_at ELSE started_at END) < $1 LIMIT $2)`, cutoff)
		},
		Delivered: s.pruneDelivered,
		Vacuum: func(ctx context.Context) error {
			if _, err := s.pool.Exec(ctx, `VACUUM entries, attempts, dead_letters, delivered, outbox, runs`); err != nil {
				return fmt.Errorf("vacuum: %w", err)
			}
			return nil
		},
	}.Run(ctx, req)
}

// pruneChunks runs q (a DELETE with the cutoff $1 and the chunk size $2)
// until it deletes nothing.
func (s *Store) pruneChunks(ctx context.Context, what, q string, cutoff int64) (int, error) {
	total := 0
	for {
		var n int64
		err := s.tx(ctx, what, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, q, cutoff, pruneChunk)
			n = tag.RowsAffected()
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
		err := s.tx(ctx, "prune dead letters", func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters
				WHERE died_at < $1 LIMIT $2) RETURNING entry_id`, cutoff, pruneChunk)
			if err != nil {
				return err
			}
			ids, err := collect(rows, func(r pgx.Rows) (int64, error) {
				var id int64
				return id, r.Scan(&id)
			})
			if err != nil {
				return err
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			tag, err := tx.Exec(ctx, `DELETE FROM attempts WHERE entry_id = ANY($1) AND NOT `+keptByEntry, ids)
			if err != nil {
				return fmt.Errorf("attempts of dead letters: %w", err)
			}
			a = int(tag.RowsAffected())
			return nil
		})
		deadLetters, attempts = deadLetters+n, attempts+a
		if err != nil || n == 0 {
			return deadLetters, attempts, err
		}
	}
}

// pruneAttempts walks the attempts in ID ranges of pruneChunk rows,
// removing those older than cutoff whose entry left for good. Attempts
// are recorded in time order, so the walk stops at the first range with
// nothing older than cutoff.
func (s *Store) pruneAttempts(ctx context.Context, cutoff int64) (int, error) {
	total := 0
	var lo int64
	for {
		var (
			hi, oldest *int64
			n          int64
		)
		err := s.tx(ctx, "prune attempts", func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT max(id), min(at) FROM (SELECT id, at FROM attempts WHERE id > $1 ORDER BY id LIMIT $2) r`,
				lo, pruneChunk).Scan(&hi, &oldest); err != nil {
				return err
			}
			if hi == nil || *oldest >= cutoff {
				return nil
			}
			// An unchanged attempt says only that the record was read
			// again: it goes with age even when its entry is kept.
			tag, err := tx.Exec(ctx, `DELETE FROM attempts WHERE id > $1 AND id <= $2 AND at < $3 AND (outcome = 'unchanged' OR NOT `+keptByEntry+`)`,
				lo, *hi, cutoff)
			n = tag.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || hi == nil || *oldest >= cutoff {
			return total, err
		}
		lo = *hi
	}
}

// pruneDelivered forgets delivered content older than cutoff, walking the
// table in primary key ranges of pruneChunk rows (delivered_at has no
// index, which would cost every settlement a write).
func (s *Store) pruneDelivered(ctx context.Context, cutoff int64) (int, error) {
	total := 0
	var fromRoute, fromKey string // exclusive lower bound; no route is ""
	for {
		var (
			n        int64
			more     bool
			toR, toK string
		)
		err := s.tx(ctx, "prune delivered content", func(tx pgx.Tx) error {
			more = false
			errEnd := tx.QueryRow(ctx, `SELECT route, key FROM delivered WHERE (route, key) > ($1, $2)
				ORDER BY route, key OFFSET $3 LIMIT 1`, fromRoute, fromKey, pruneChunk-1).Scan(&toR, &toK)
			q, args := `DELETE FROM delivered WHERE (route, key) > ($1, $2) AND delivered_at < $3`, []any{fromRoute, fromKey, cutoff}
			switch {
			case errEnd == nil:
				more = true
				q, args = q+` AND (route, key) <= ($4, $5)`, append(args, toR, toK)
			case !errors.Is(errEnd, pgx.ErrNoRows):
				return errEnd
			}
			tag, err := tx.Exec(ctx, q, args...)
			n = tag.RowsAffected()
			return err
		})
		total += int(n)
		if err != nil || !more {
			return total, err
		}
		fromRoute, fromKey = toR, toK
	}
}
