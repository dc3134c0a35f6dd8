package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// loadRefs reads (key, hash, entry ID, version) rows, keeping the highest
// entry ID of each key; nil when there are none.
func (s *Store) loadRefs(ctx context.Context, tx *sql.Tx, q string, args []any) (map[string]rules.Ref, error) {
	var c rules.Content
	err := s.scanKeys(ctx, tx, q, args, func(rows *sql.Rows) error {
		var (
			key string
			r   rules.Ref
		)
		if err := rows.Scan(&key, &r.Hash, &r.EntryID, &r.Version); err != nil {
			return err
		}
		c.Add(rules.KindDead, key, r.EntryID, r.Version, nil, r.Hash, false)
		return nil
	})
	return c.Dead, err
}

// scanKeys runs q in tx and calls scan for each row.
func (s *Store) scanKeys(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.query(ctx, tx, q, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := scan(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return closeRows(rows)
}

// closeRows closes rows and reports an error of the iteration.
func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// inRunningRun sets the run ID of unchanged attempts to the route's
// running run (one run of a route at a time, under its run lock), so the
// history tells which run read the record again; 0 when none runs (an
// enqueue outside a run). One indexed probe, only for pages with
// unchanged records.
func (s *Store) inRunningRun(ctx context.Context, tx *sql.Tx, route string, attempts []store.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	var id int64
	err := s.queryRow(ctx, tx, `SELECT id FROM runs WHERE route = ? AND status = 'running' ORDER BY id DESC LIMIT 1`, []any{route}, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up the running run: %w", err)
	}
	rules.InRun(attempts, id)
	return nil
}

// loadChunkContent is what EnqueuePage, EnqueueLeased and Accept need
// to know of a chunk's keys (args: the route, then the keys): their
// queued entries' content and, for the keys in hashed, their leased,
// delivered and dead content. The leased and delivered content of keys
// without a hash is read too, and ignored by rules.Content.Judge.
func (s *Store) loadChunkContent(ctx context.Context, tx *sql.Tx, route string, args []any, hashed []string) (rules.Content, error) {
	var c rules.Content
	q := s.text(textKey{"chunkContent", 0, len(args) - 1}, func() string { return chunkContentSQL(len(args) - 1) })
	err := s.scanKeys(ctx, tx, q, args, func(rows *sql.Rows) error {
		var (
			kind, key, hash string
			id, version     int64
			payload         []byte
			deleted         bool
		)
		if err := rows.Scan(&kind, &key, &id, &payload, &hash, &version, &deleted); err != nil {
			return err
		}
		c.Add(kind, key, id, version, payload, hash, deleted)
		return nil
	})
	if err != nil {
		return rules.Content{}, fmt.Errorf("look up queued, leased and delivered keys: %w", err)
	}
	if len(hashed) == 0 {
		return rules.Content{Queued: c.Queued}, nil
	}
	c.Dead, err = s.loadDead(ctx, tx, route, hashed)
	return c, err
}

// loadDead reads the newest dead letter of each of keys; nil when there
// are none.
func (s *Store) loadDead(ctx context.Context, tx *sql.Tx, route string, keys []string) (map[string]rules.Ref, error) {
	// Most routes have no dead letters: one probe spares binding every key.
	var anyDead bool
	if err := s.queryRow(ctx, tx, `SELECT EXISTS (SELECT 1 FROM dead_letters WHERE route = ?)`, []any{route}, &anyDead); err != nil {
		return nil, fmt.Errorf("look up dead letters: %w", err)
	}
	if !anyDead {
		return nil, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, route)
	for _, key := range keys {
		args = append(args, key)
	}
	m, err := s.loadRefs(ctx, tx, `SELECT key, hash, entry_id, version FROM dead_letters WHERE route = ? AND key IN (`+placeholders(len(keys))+`)`, args)
	if err != nil {
		return nil, fmt.Errorf("look up dead letters of keys: %w", err)
	}
	return m, nil
}

// chunkContentSQL looks up, in one statement, what the store holds of n
// keys (?2...) of route ?1: their queued (P/E) entries with payload and
// hash (kind 'Q'), their leased entries (kind 'L') and their last
// delivered content (kind 'D'), with their entry's ID and version; the
// last column tells a queued delete. One statement binds the keys once, where
// three IN lists bound and sorted them three times per chunk. CROSS JOIN
// keeps the keys the outer loop: with no statistics SQLite would rather
// scan the leased index and probe the keys for each leased row.
func chunkContentSQL(n int) string {
	var b strings.Builder
	b.WriteString(`WITH r (route) AS (VALUES (?1)), k (key) AS (VALUES `) // ?1 first: the plain ? that follow are ?2, ?3...
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?)")
	}
	b.WriteString(`)
	SELECT 'Q', e.key, e.id, e.payload, e.hash, e.version, e.deleted FROM k CROSS JOIN entries e ON e.route = ?1 AND e.key = k.key AND e.status IN ('P', 'E')
	UNION ALL SELECT 'L', e.key, e.id, NULL, e.hash, e.version, 0 FROM k CROSS JOIN entries e ON e.route = ?1 AND e.key = k.key AND e.status = 'L'
	UNION ALL SELECT 'D', d.key, d.entry_id, NULL, d.hash, d.version, 0 FROM k CROSS JOIN delivered d ON d.route = ?1 AND d.key = k.key`)
	return b.String()
}
