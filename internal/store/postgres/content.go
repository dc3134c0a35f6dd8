package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// contentSQL reads, in one statement, what the store holds of keys $2 of
// route $1: the queued entry with its payload (kind Q), the newest leased
// entry (L), the delivered content (D) and the newest dead letter (X).
// Each is one index probe per key (LATERAL ... LIMIT 1, or OFFSET 0, is
// never turned into a join): a queue's tables churn faster than their
// statistics, and with stale ones the planner read every delivered row of
// the route into a hash for each page (15 ms at 30,000 rows, growing with
// the table). The leased entries and dead letters of a key come back all
// (rules.Content keeps the newest): ORDER BY id DESC LIMIT 1 sorted each
// key's rows in a sort set up anew per key, a quarter of the probe's time.
// The Q and X probes run only when the route has a queued entry or a dead
// letter at all (a one-time filter, one probe for the page): a sync whose
// pages are queued leased has neither, and saves half of the probes.
const contentSQL = `WITH k AS (SELECT DISTINCT unnest($2::text[]) AS key)
	SELECT 'Q', q.key, q.id, q.payload, q.hash, q.version, q.deleted FROM k CROSS JOIN LATERAL (SELECT e.key, e.id, e.payload, e.hash, e.version, e.deleted
		FROM entries e WHERE e.route = $1 AND e.key = k.key AND e.status IN ('P', 'E') LIMIT 1) q
		WHERE EXISTS (SELECT 1 FROM entries e WHERE e.route = $1 AND e.status IN ('P', 'E'))
	UNION ALL SELECT 'L', l.key, l.id, NULL, l.hash, l.version, false FROM k CROSS JOIN LATERAL (SELECT e.key, e.id, e.hash, e.version
		FROM entries e WHERE e.route = $1 AND e.key = k.key AND e.status = 'L' OFFSET 0) l
	UNION ALL SELECT 'D', d.key, d.entry_id, NULL, d.hash, d.version, false FROM k CROSS JOIN LATERAL (SELECT d.key, d.entry_id, d.hash, d.version
		FROM delivered d WHERE d.route = $1 AND d.key = k.key LIMIT 1) d
	UNION ALL SELECT 'X', x.key, x.entry_id, NULL, x.hash, x.version, false FROM k CROSS JOIN LATERAL (SELECT x.key, x.entry_id, x.hash, x.version
		FROM dead_letters x WHERE x.route = $1 AND x.key = k.key OFFSET 0) x
		WHERE EXISTS (SELECT 1 FROM dead_letters x WHERE x.route = $1)`

// loadContent reads what the store holds of keys of route.
func loadContent(ctx context.Context, tx pgx.Tx, route string, keys []string) (rules.Content, error) {
	var k rules.Content
	if len(keys) == 0 {
		return k, nil
	}
	rows, err := tx.Query(ctx, contentSQL, route, keys)
	if err != nil {
		return k, fmt.Errorf("look up what is known of %d keys: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, key, hash string
			id, version     int64
			payload         []byte
			deleted         bool
		)
		if err := rows.Scan(&kind, &key, &id, &payload, &hash, &version, &deleted); err != nil {
			return k, fmt.Errorf("look up what is known of %d keys: %w", len(keys), err)
		}
		k.Add(kind, key, id, version, payload, hash, deleted)
	}
	if err := rows.Err(); err != nil {
		return k, fmt.Errorf("look up what is known of %d keys: %w", len(keys), err)
	}
	return k, nil
}

// inRunningRun sets the run ID of unchanged attempts to the route's
// running run (0 when none runs).
func inRunningRun(ctx context.Context, tx pgx.Tx, route string, attempts []store.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM runs WHERE route = $1 AND status = 'running' ORDER BY id DESC LIMIT 1`, route).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the running run: %w", err)
	}
	rules.InRun(attempts, id)
	return nil
}
