package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// conds builds a WHERE clause with numbered parameters.
type conds struct {
	where []string
	args  []any
}

// add appends a condition whose one parameter is written as '?'.
func (c *conds) add(cond string, arg any) {
	c.args = append(c.args, arg)
	c.where = append(c.where, strings.Replace(cond, "?", "$"+strconv.Itoa(len(c.args)), 1))
}

// next is the placeholder of one more parameter arg.
func (c *conds) next(arg any) string {
	c.args = append(c.args, arg)
	return "$" + strconv.Itoa(len(c.args))
}

func (c *conds) sql() string {
	if len(c.where) == 0 {
		return "true"
	}
	return strings.Join(c.where, " AND ")
}

// Entries lists entries by filter, ordered by ID. Route "" lists all routes.
func (s *Store) Entries(ctx context.Context, f store.EntryFilter) ([]store.Entry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var c conds
	if f.Route != "" {
		c.add("route = ?", f.Route)
	}
	if f.Status != "" {
		c.add("status = ?", string(f.Status))
	}
	if f.Key != "" {
		c.add("key = ?", f.Key)
	}
	c.add("id > ?", f.AfterID)
	q := `SELECT ` + entryColumns + ` FROM entries WHERE ` + c.sql() + ` ORDER BY id LIMIT ` + c.next(limit)
	rows, err := s.pool.Query(ctx, q, c.args...)
	if err != nil {
		return nil, fmt.Errorf("list entries of route %q: %w", f.Route, err)
	}
	out, err := collect(rows, scanEntryRows)
	if err != nil {
		return nil, fmt.Errorf("list entries of route %q: %w", f.Route, err)
	}
	return out, nil
}

// Entry returns one entry (store.ErrNotFound if gone).
func (s *Store) Entry(ctx context.Context, id int64) (store.Entry, error) {
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM entries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("entry %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", id, err)
	}
	return e, nil
}

// Counts returns the queue sizes of route.
func (s *Store) Counts(ctx context.Context, route string) (store.Counts, error) {
	var (
		c                 store.Counts
		p, e, l, d, o, od int64
	)
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM entries WHERE route = $1 AND status = 'P'),
		(SELECT count(*) FROM entries WHERE route = $1 AND status = 'E'),
		(SELECT count(*) FROM entries WHERE route = $1 AND status = 'L'),
		(SELECT count(*) FROM dead_letters WHERE route = $1),
		(SELECT count(*) FROM outbox WHERE route = $1 AND NOT dead),
		(SELECT count(*) FROM outbox WHERE route = $1 AND dead)`, route).Scan(&p, &e, &l, &d, &o, &od)
	if err != nil {
		return c, fmt.Errorf("count queue of route %q: %w", route, err)
	}
	return store.Counts{Pending: int(p), Error: int(e), Leased: int(l), Dead: int(d), Outbox: int(o), OutboxDead: int(od)}, nil
}

// NextDue returns the earliest NextAttemptAt among the route's E entries.
func (s *Store) NextDue(ctx context.Context, route string) (time.Time, bool, error) {
	var at *int64
	err := s.pool.QueryRow(ctx, `SELECT min(next_attempt_at) FROM entries WHERE route = $1 AND status = 'E'`, route).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due error of route %q: %w", route, err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromMS(*at), true, nil
}

// DeadLetters lists dead letters by filter, ordered by ID. Route "" lists all routes.
func (s *Store) DeadLetters(ctx context.Context, f store.DeadFilter) ([]store.DeadLetter, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var c conds
	if f.Route != "" {
		c.add("route = ?", f.Route)
	}
	if f.Key != "" {
		c.add("key = ?", f.Key)
	}
	c.add("id > ?", f.AfterID)
	rows, err := s.pool.Query(ctx, `SELECT id, entry_id, route, key, version, payload, priority, attempts,
		last_error, created_at, died_at, hash, deleted FROM dead_letters WHERE `+c.sql()+` ORDER BY id LIMIT `+c.next(limit), c.args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of route %q: %w", f.Route, err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.DeadLetter, error) {
		var (
			d                  store.DeadLetter
			payload            []byte
			created, died      int64
			priority, attempts int32
		)
		err := r.Scan(&d.ID, &d.EntryID, &d.Route, &d.Key, &d.Version, &payload, &priority, &attempts,
			&d.LastError, &created, &died, &d.Hash, &d.Deleted)
		d.Payload, d.CreatedAt, d.DiedAt = payload, fromMS(created), fromMS(died)
		d.Priority, d.Attempts = int(priority), int(attempts)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters of route %q: %w", f.Route, err)
	}
	return out, nil
}

// LastDelivered returns the last delivered content of key.
func (s *Store) LastDelivered(ctx context.Context, route, key string) (store.Delivered, error) {
	d, err := rules.ScanDelivered(s.pool.QueryRow(ctx, `SELECT entry_id, version, hash, payload, delivered_at, deleted
		FROM delivered WHERE route = $1 AND key = $2`, route, key), route, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, err)
	}
	return d, nil
}
