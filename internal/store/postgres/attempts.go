package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// insertAttemptsSQL records attempts from parallel arrays, one statement
// for any number.
const insertAttemptsSQL = `INSERT INTO attempts (entry_id, route, key, version, run_id, at, outcome, status_code, error,
		request, response, duration_ms, idempotency_key, op)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[],
		$8::integer[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[])`

// insertAttempts records attempts in one statement.
func insertAttempts(ctx context.Context, tx pgx.Tx, attempts []store.Attempt) error {
	if len(attempts) == 0 {
		return nil
	}
	n := len(attempts)
	var (
		entryIDs, versions, runIDs, ats, durations = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		routes, keys, outcomes, errs, requests     = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		responses, idemKeys, ops                   = make([]string, n), make([]string, n), make([]string, n)
		codes                                      = make([]int32, n)
	)
	for i, a := range attempts {
		entryIDs[i], routes[i], keys[i], versions[i], runIDs[i] = a.EntryID, a.Route, a.Key, a.Version, a.RunID
		ats[i], outcomes[i], codes[i], errs[i] = ms(a.At), string(a.Outcome), int32(a.StatusCode), a.Error
		requests[i], responses[i], durations[i], idemKeys[i], ops[i] = a.Request, a.Response, a.DurationMillis, a.IdempotencyKey, a.Op
	}
	if _, err := tx.Exec(ctx, insertAttemptsSQL, entryIDs, routes, keys, versions, runIDs, ats, outcomes, codes, errs,
		requests, responses, durations, idemKeys, ops); err != nil {
		return fmt.Errorf("record %d attempts: %w", n, err)
	}
	return nil
}

const attemptColumns = `id, entry_id, route, key, version, run_id, at, outcome, status_code, error,
	request, response, duration_ms, idempotency_key, op`

func scanAttempt(row pgx.Rows) (store.Attempt, error) { return rules.ScanAttempt(row) }

func (s *Store) queryAttempts(ctx context.Context, q string, args ...any) ([]store.Attempt, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAttempt)
}

// defaultLimit is the page size of lists whose caller gives none.
const defaultLimit = 100

// Attempts lists the attempts of an entry ID, oldest first.
func (s *Store) Attempts(ctx context.Context, entryID int64) ([]store.Attempt, error) {
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE entry_id = $1 ORDER BY id`, entryID)
	if err != nil {
		return nil, fmt.Errorf("attempts of entry %d: %w", entryID, err)
	}
	return out, nil
}

// RecentAttempts lists the newest attempts of route, newest first.
func (s *Store) RecentAttempts(ctx context.Context, route string, limit int) ([]store.Attempt, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE route = $1 ORDER BY id DESC LIMIT $2`, route, limit)
	if err != nil {
		return nil, fmt.Errorf("recent attempts of route %q: %w", route, err)
	}
	return out, nil
}

// KeyAttempts lists the attempts of the route's entries that carried key,
// oldest first.
func (s *Store) KeyAttempts(ctx context.Context, route, key string, limit int) ([]store.Attempt, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE route = $1 AND key = $2 ORDER BY id LIMIT $3`, route, key, limit)
	if err != nil {
		return nil, fmt.Errorf("attempts of key %q in route %q: %w", key, route, err)
	}
	return out, nil
}
