package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// SQLite allows 32766 bound parameters per statement; chunks stay far
// below it and keep statement text short enough to prepare quickly.
const (
	enqueueChunk = 250 // rows per multi-row upsert
	idChunk      = 500 // ids per IN (...) list
	attemptChunk = 250 // rows per multi-row attempt insert
)

// entryColumns is the column list scanEntry reads, in order.
const entryColumns = `id, route, key, version, payload, status, priority, attempts, last_error,
	next_attempt_at, created_at, updated_at, lease_owner, lease_until, hash, batch, deleted`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(row scanner) (store.Entry, error) {
	var (
		e                                  store.Entry
		status                             string
		payload                            []byte
		next, created, updated, leaseUntil int64
	)
	err := row.Scan(&e.ID, &e.Route, &e.Key, &e.Version, &payload, &status, &e.Priority, &e.Attempts,
		&e.LastError, &next, &created, &updated, &e.LeaseOwner, &leaseUntil, &e.Hash, &e.Batch, &e.Deleted)
	if err != nil {
		return e, err
	}
	e.Payload = payload
	e.Status = store.Status(status)
	e.NextAttemptAt, e.CreatedAt, e.UpdatedAt, e.LeaseUntil = fromMS(next), fromMS(created), fromMS(updated), fromMS(leaseUntil)
	return e, nil
}

// EnqueuePage upserts the page in multi-row statements, one transaction.
// A fresh entry has Version 1, so RETURNING version tells inserts (1) from
// replacements (>1); a record whose payload equals the queued one's is
// left out by the upsert's WHERE and returns no row: unchanged. Records
// with a hash whose key is not queued are first compared with their key's
// leased, delivered and dead content (see knownContent.judge).
func (s *Store) EnqueuePage(ctx context.Context, route string, entries []store.NewEntry, cursor *string, now time.Time) (store.EnqueueResult, error) {
	var res store.EnqueueResult
	if route == "" {
		return res, errors.New("enqueue: empty route")
	}
	nowMS := ms(now)
	kept, dups := rules.LastOfKeys(entries)
	res.Replaced = dups
	err := s.writeTx(ctx, fmt.Sprintf("enqueue %d entries of route %q", len(entries), route), func(tx *sql.Tx) error {
		var unchanged []store.Attempt
		for chunk := range chunks(kept, enqueueChunk) {
			known, err := s.loadHashedContent(ctx, tx, route, chunk)
			if err != nil {
				return err
			}
			var queue []store.NewEntry
			queue, unchanged = known.Sift(route, chunk, fromMS(nowMS), &res, unchanged)
			if err := s.upsert(ctx, tx, route, queue, nowMS, &res); err != nil {
				return err
			}
		}
		if err := s.inRunningRun(ctx, tx, route, unchanged); err != nil {
			return err
		}
		if err := s.insertAttempts(ctx, tx, unchanged); err != nil {
			return err
		}
		if cursor != nil {
			return s.setCursor(ctx, tx, route, *cursor, nowMS)
		}
		return nil
	})
	if err != nil {
		return store.EnqueueResult{}, err
	}
	return res, nil
}

// loadHashedContent is loadChunkContent for the records of chunk that
// carry a hash (the others are queued as usual); no look-up when none
// does.
func (s *Store) loadHashedContent(ctx context.Context, tx *sql.Tx, route string, chunk []store.NewEntry) (rules.Content, error) {
	var keys []string
	args := []any{route}
	for _, e := range chunk {
		if e.Hash != "" {
			keys, args = append(keys, e.Key), append(args, e.Key)
		}
	}
	if len(keys) == 0 {
		return rules.Content{}, nil
	}
	return s.loadChunkContent(ctx, tx, route, args, keys)
}

// upsert queues entries (keys distinct) in one multi-row statement and
// counts what it did into res.
func (s *Store) upsert(ctx context.Context, tx *sql.Tx, route string, entries []store.NewEntry, nowMS int64, res *store.EnqueueResult) error {
	if len(entries) == 0 {
		return nil
	}
	args := upsertArgs(route, entries, nowMS)
	q := s.text(textKey{"upsert", 0, len(entries)}, func() string { return upsertSQL(len(entries), "version") })
	rows, err := s.query(ctx, tx, q, args...)
	if err != nil {
		return err
	}
	n := 0
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		n++
		if v == 1 {
			res.Inserted++
		} else {
			res.Replaced++
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	res.Unchanged += len(entries) - n
	return nil
}

// upsertArgs binds entries to upsertSQL's parameters.
func upsertArgs(route string, entries []store.NewEntry, nowMS int64) []any {
	args := make([]any, 0, upsertCols*len(entries))
	for _, e := range entries {
		args = append(args, route, e.Key, rules.NullPayload(e.Payload), e.Priority, e.Hash, nowMS, nowMS, nowMS, e.Deleted)
	}
	return args
}

// upsertCols is the parameters per upserted row. Plain '?' only: the
// driver looks numbered ones (?NNN) up by a linear scan per parameter.
const upsertCols = 9

// upsertSQL is the multi-row upsert for n entries, returning the given
// columns of each row inserted or replaced.
func upsertSQL(n int, returning string) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO entries (route, key, payload, priority, hash, next_attempt_at, created_at, updated_at, deleted, status, version) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,'P',1)")
	}
	// A new payload is a new version: its attempts start again and it
	// leaves any batch. The same payload (or hash) changes nothing, not
	// even the backoff of an entry in error.
	b.WriteString(` ON CONFLICT (route, key) WHERE status IN ('P', 'E') DO UPDATE SET
		payload = excluded.payload, priority = excluded.priority, hash = excluded.hash, version = version + 1,
		status = 'P', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at,
		attempts = 0, last_error = '', batch = '', deleted = excluded.deleted
		WHERE NOT ((entries.payload = excluded.payload AND entries.deleted = excluded.deleted) OR (excluded.hash != '' AND entries.hash = excluded.hash))
		RETURNING `)
	b.WriteString(returning)
	return b.String()
}

// Cursor returns the route's cursor ("" when none).
func (s *Store) Cursor(ctx context.Context, route string) (string, error) {
	var v string
	err := s.read.QueryRowContext(ctx, `SELECT value FROM cursors WHERE route = ?`, route).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cursor of route %q: %w", route, err)
	}
	return v, nil
}

// SetCursor sets the route's cursor.
func (s *Store) SetCursor(ctx context.Context, route, value string) error {
	return s.writeTx(ctx, fmt.Sprintf("set cursor of route %q", route), func(tx *sql.Tx) error {
		return s.setCursor(ctx, tx, route, value, time.Now().UnixMilli())
	})
}

func (s *Store) setCursor(ctx context.Context, tx *sql.Tx, route, value string, nowMS int64) error {
	_, err := s.exec(ctx, tx, `INSERT INTO cursors (route, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (route) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		route, value, nowMS)
	if err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	return nil
}

const leasePendingSQL = `UPDATE entries SET status = 'L', lease_owner = ?1, lease_until = ?2, updated_at = ?3
	WHERE id IN (SELECT id FROM entries WHERE route = ?4 AND status = 'P' ORDER BY priority DESC, id LIMIT ?5)
	RETURNING ` + entryColumns

// leaseErrorsSQL leases due errors that are in no batch.
const leaseErrorsSQL = `UPDATE entries SET status = 'L', lease_owner = ?1, lease_until = ?2, updated_at = ?3
	WHERE id IN (SELECT id FROM entries WHERE route = ?4 AND status = 'E' AND next_attempt_at <= ?3 AND batch = ''
		ORDER BY priority DESC, next_attempt_at, id LIMIT ?5)
	RETURNING ` + entryColumns

// firstDueSQL finds the batch of the first due error ("" for none).
const firstDueSQL = `SELECT batch FROM entries WHERE route = ? AND status = 'E' AND next_attempt_at <= ?
	ORDER BY priority DESC, next_attempt_at, id LIMIT 1`

// leaseBatchSQL leases every due error of batch ?5, beyond any limit: the
// request is repeated with the same composition.
const leaseBatchSQL = `UPDATE entries SET status = 'L', lease_owner = ?1, lease_until = ?2, updated_at = ?3
	WHERE id IN (SELECT id FROM entries WHERE route = ?4 AND status = 'E' AND next_attempt_at <= ?3 AND batch = ?5)
	RETURNING ` + entryColumns

// Lease takes up to req.Limit entries in one transaction. The error pass
// first looks at the first due error: when it is in a batch (a request
// whose outcome was unknown), that whole batch is leased alone, so the
// retry repeats the same request; otherwise up to req.Limit due errors in
// no batch.
func (s *Store) Lease(ctx context.Context, req store.LeaseRequest) ([]store.Entry, error) {
	if none, err := rules.CheckLease(req); none || err != nil {
		return nil, err
	}
	now := rules.Now(req.Now)
	var (
		out   []store.Entry
		batch string
	)
	err := s.writeTx(ctx, fmt.Sprintf("lease route %q", req.Route), func(tx *sql.Tx) error {
		q, args := leasePendingSQL, []any{req.Owner, ms(req.Until), ms(now), req.Route, req.Limit}
		if req.Mode == store.LeaseErrors {
			err := tx.QueryRowContext(ctx, firstDueSQL, req.Route, ms(now)).Scan(&batch)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("first due error: %w", err)
			}
			q = leaseErrorsSQL
			if batch != "" {
				q, args[4] = leaseBatchSQL, batch
			}
		}
		rows, err := s.query(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]store.Entry, 0, req.Limit)
		for rows.Next() {
			e, err := scanEntry(rows)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING order is unspecified.
	if batch != "" {
		slices.SortFunc(out, func(a, b store.Entry) int { return int(a.ID - b.ID) })
		return out, nil
	}
	slices.SortFunc(out, func(a, b store.Entry) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// Settle applies the settlements in one transaction. Every statement is
// guarded by status = 'L' AND lease_owner = owner, and by the version the
// settlement's attempt names (when it names one; see store.Settlement),
// so settlements of entries not leased by owner, or replaced by a newer
// version since, change nothing in the queue; their attempts are still
// recorded: the delivery did happen. Done and skipped entries leave in
// chunked DELETEs; retries and dead letters go one by one (rare).
func (s *Store) Settle(ctx context.Context, owner string, settlements []store.Settlement) error {
	if len(settlements) == 0 {
		return nil
	}
	return s.writeTx(ctx, fmt.Sprintf("settle %d entries", len(settlements)), func(tx *sql.Tx) error {
		settled := make(map[int64]rules.Settled, len(settlements))
		var gone, goneReturning []settledRef // done, skipped; goneReturning's need the entry's route, key, version
		var delivered []deliveredRow
		for _, st := range settlements {
			inc := rules.AttemptIncrement(st)
			var (
				e   rules.Settled
				ok  bool
				err error
			)
			switch st.Outcome {
			case store.OutcomeDone, store.OutcomeSkipped:
				ref := settledRef{st.EntryID, st.Attempt.Version}
				if st.Outcome == store.OutcomeDone {
					delivered = append(delivered, deliveredRow{ref, st.Hash, ms(rules.AttemptAt(st))})
				}
				// Outbox items are owed only if the settlement takes
				// effect: the returning delete tells.
				if rules.Bare(st.Attempt) || len(st.Outbox) > 0 {
					goneReturning = append(goneReturning, ref)
				} else {
					gone = append(gone, ref)
				}
				continue
			case store.OutcomeRetry:
				e, ok, err = s.settleRetry(ctx, tx, owner, st, inc, ms(rules.AttemptAt(st)))
			case store.OutcomeDead:
				e, ok, err = s.settleDead(ctx, tx, owner, st, inc, ms(rules.AttemptAt(st)))
			default:
				return fmt.Errorf("entry %d: unknown outcome %q: expected done, skipped, error or dead", st.EntryID, st.Outcome)
			}
			if err != nil {
				return err
			}
			if ok {
				settled[st.EntryID] = e
			}
		}
		if err := s.upsertDelivered(ctx, tx, owner, delivered); err != nil {
			return err
		}
		if err := s.deleteLeased(ctx, tx, owner, gone, nil); err != nil {
			return err
		}
		if err := s.deleteLeased(ctx, tx, owner, goneReturning, settled); err != nil {
			return err
		}
		if err := s.insertOutbox(ctx, tx, settlements, settled); err != nil {
			return err
		}
		if len(settled) < len(settlements) {
			// Fill bare attempts of entries that were not ours, if they exist.
			if err := s.lookupUnsettled(ctx, tx, settlements, settled); err != nil {
				return err
			}
		}
		return s.insertAttempts(ctx, tx, rules.SettleAttempts(settlements, settled, time.Now()))
	})
}

// lookupUnsettled adds what is known of entries Settle did not settle.
func (s *Store) lookupUnsettled(ctx context.Context, tx *sql.Tx, settlements []store.Settlement, settled map[int64]rules.Settled) error {
	ids := rules.Unsettled(settlements, settled)
	for chunk := range chunks(ids, idChunk) {
		rows, err := tx.QueryContext(ctx, `SELECT id, route, key, version FROM entries WHERE id IN (`+placeholders(len(chunk))+`)`, int64Args(chunk)...)
		if err != nil {
			return fmt.Errorf("look up entries: %w", err)
		}
		if err := scanSettled(rows, settled); err != nil {
			return fmt.Errorf("look up entries: %w", err)
		}
	}
	return nil
}

// scanSettled reads (id, route, key, version) rows into m and closes rows.
func scanSettled(rows *sql.Rows, m map[int64]rules.Settled) error {
	defer rows.Close()
	return rules.AddSettled(rows, m)
}

// settledRef is an entry a settlement is for: its ID and the version the
// settlement's attempt names (0: any, for settlements that name none).
type settledRef struct{ id, version int64 }

// deleteLeased deletes the entries of refs still leased by owner and
// still in the version settled. With settled, it adds the deleted entries
// to it, for the attempts that lack their route, key or version and for
// the outbox items owed only if the settlement took effect.
//
// One statement per version settled (and per chunk): the entries of a
// batch are nearly all in version 1, or in a few, so this costs what the
// delete by IDs alone did. A list of (ID, version) pairs instead cost the
// store's cycle 10–20% (go test -bench 'Store/(Settle|Cycle)').
func (s *Store) deleteLeased(ctx context.Context, tx *sql.Tx, owner string, refs []settledRef, settled map[int64]rules.Settled) error {
	byVersion := map[int64][]int64{}
	for _, r := range refs {
		byVersion[r.version] = append(byVersion[r.version], r.id)
	}
	for _, version := range slices.Sorted(maps.Keys(byVersion)) {
		for chunk := range chunks(byVersion[version], idChunk) {
			q, args := deleteLeasedSQL(owner, version, chunk)
			if settled == nil {
				if _, err := s.exec(ctx, tx, q, args...); err != nil {
					return fmt.Errorf("delete settled entries: %w", err)
				}
				continue
			}
			rows, err := s.query(ctx, tx, q+` RETURNING id, route, key, version`, args...)
			if err != nil {
				return fmt.Errorf("delete settled entries: %w", err)
			}
			if err := scanSettled(rows, settled); err != nil {
				return fmt.Errorf("delete settled entries: %w", err)
			}
		}
	}
	return nil
}

// deleteLeasedSQL is the DELETE of the entries of ids still leased by
// owner and still in version (0: in any version).
func deleteLeasedSQL(owner string, version int64, ids []int64) (string, []any) {
	args := make([]any, 0, len(ids)+2)
	args = append(args, owner, version)
	for _, id := range ids {
		args = append(args, id)
	}
	return `DELETE FROM entries WHERE status = 'L' AND lease_owner = ? AND ? IN (0, version) AND id IN (` + placeholders(len(ids)) + `)`, args
}

// settleRetry puts the entry back as E (in st.Batch), unless a newer
// payload of its key was queued meanwhile (pending, in error, in flight, or
// delivered already): then this one is superseded and dropped, so an old
// version is never retried over a newer one. ok is false when the entry is
// not leased by owner.
func (s *Store) settleRetry(ctx context.Context, tx *sql.Tx, owner string, st store.Settlement, inc int, atMS int64) (e rules.Settled, ok bool, err error) {
	err = s.one(ctx, tx, &e, `UPDATE entries SET status = 'E', attempts = attempts + ?, last_error = ?,
		next_attempt_at = ?, updated_at = ?, lease_owner = '', lease_until = 0, batch = ?
		WHERE id = ? AND status = 'L' AND lease_owner = ? AND ? IN (0, version) AND NOT EXISTS (SELECT 1 FROM entries n
			WHERE n.route = entries.route AND n.key = entries.key AND n.status IN ('P', 'E'))
		AND NOT EXISTS (SELECT 1 FROM entries n
			WHERE n.route = entries.route AND n.key = entries.key AND n.status = 'L' AND n.id > entries.id)
		AND NOT EXISTS (SELECT 1 FROM delivered d
			WHERE d.route = entries.route AND d.key = entries.key AND d.entry_id > entries.id)
		RETURNING route, key, version`,
		inc, st.Error, ms(st.NextAttemptAt), atMS, st.Batch, st.EntryID, owner, st.Attempt.Version)
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return e, false, fmt.Errorf("entry %d: retry: %w", st.EntryID, err)
	}
	err = s.one(ctx, tx, &e, `DELETE FROM entries WHERE id = ? AND status = 'L' AND lease_owner = ? AND ? IN (0, version)
		RETURNING route, key, version`, st.EntryID, owner, st.Attempt.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("entry %d: drop superseded: %w", st.EntryID, err)
	}
	return e, true, nil
}

// settleDead moves the entry to the dead letters, keeping its entry ID.
func (s *Store) settleDead(ctx context.Context, tx *sql.Tx, owner string, st store.Settlement, inc int, atMS int64) (e rules.Settled, ok bool, err error) {
	err = s.one(ctx, tx, &e, `INSERT INTO dead_letters
		(entry_id, route, key, version, payload, priority, attempts, last_error, created_at, died_at, hash, deleted)
		SELECT id, route, key, version, payload, priority, attempts + ?, ?, created_at, ?, hash, deleted
		FROM entries WHERE id = ? AND status = 'L' AND lease_owner = ? AND ? IN (0, version)
		RETURNING route, key, version`,
		inc, st.Error, atMS, st.EntryID, owner, st.Attempt.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("entry %d: dead letter: %w", st.EntryID, err)
	}
	if _, err := s.exec(ctx, tx, `DELETE FROM entries WHERE id = ?`, st.EntryID); err != nil {
		return e, false, fmt.Errorf("entry %d: dead letter: %w", st.EntryID, err)
	}
	return e, true, nil
}

// one runs a statement returning (route, key, version) of at most one row.
func (s *Store) one(ctx context.Context, tx *sql.Tx, e *rules.Settled, q string, args ...any) error {
	rows, err := s.query(ctx, tx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(&e.Route, &e.Key, &e.Version); err != nil {
		return err
	}
	for rows.Next() { // drain, so the statement completes before the next
	}
	return rows.Close()
}

// ReleaseLeases returns leased entries to P (never tried) or E. A leased
// entry whose key got a newer queued payload meanwhile is dropped instead:
// the newer one replaces it, as it would have on enqueue.
func (s *Store) ReleaseLeases(ctx context.Context, route string, now time.Time, owners []string) (int, error) {
	where := `status = 'L' AND (lease_until < ?`
	args := []any{ms(now)}
	if len(owners) > 0 {
		where += ` OR lease_owner IN (` + placeholders(len(owners)) + `)`
		for _, o := range owners {
			args = append(args, o)
		}
	}
	where += `)`
	if route != "" {
		where = `route = ? AND ` + where
		args = append([]any{route}, args...)
	}
	if now.IsZero() && len(owners) == 0 {
		return 0, nil
	}
	var released int
	err := s.writeTx(ctx, fmt.Sprintf("release leases of route %q", route), func(tx *sql.Tx) error {
		// A released entry is dropped when a newer payload of its key is
		// queued (P or E), also leased with a higher ID (two versions
		// handed to one worker) or delivered: the unique index allows one
		// P/E per key, and the old version must not be sent after the new
		// one.
		res, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE `+where+` AND (EXISTS (SELECT 1 FROM entries n
			WHERE n.route = entries.route AND n.key = entries.key AND n.status IN ('P', 'E'))
			OR EXISTS (SELECT 1 FROM entries n
			WHERE n.route = entries.route AND n.key = entries.key AND n.status = 'L' AND n.id > entries.id)
			OR EXISTS (SELECT 1 FROM delivered d
			WHERE d.route = entries.route AND d.key = entries.key AND d.entry_id > entries.id))`, args...)
		if err != nil {
			return fmt.Errorf("drop superseded: %w", err)
		}
		dropped, _ := res.RowsAffected()
		res, err = tx.ExecContext(ctx, `UPDATE entries SET status = CASE WHEN attempts > 0 THEN 'E' ELSE 'P' END,
			lease_owner = '', lease_until = 0 WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		released = int(n + dropped)
		return nil
	})
	return released, err
}

// ExtendLeases moves the lease expiry of those of ids still leased by
// owner to until, in chunked UPDATEs of one transaction.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) (int, error) {
	if none, err := rules.CheckExtend(owner, ids); none || err != nil {
		return 0, err
	}
	var extended int64
	err := s.writeTx(ctx, fmt.Sprintf("extend %d leases of %q", len(ids), owner), func(tx *sql.Tx) error {
		for chunk := range chunks(ids, idChunk) {
			args := make([]any, 0, len(chunk)+2)
			args = append(args, ms(until), owner)
			for _, id := range chunk {
				args = append(args, id)
			}
			res, err := s.exec(ctx, tx, `UPDATE entries SET lease_until = ? WHERE status = 'L' AND lease_owner = ? AND id IN (`+
				placeholders(len(chunk))+`)`, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			extended += n
		}
		return nil
	})
	return int(extended), err
}

// LeaseOwners lists the distinct owners of leased entries of route (of
// every route when "").
func (s *Store) LeaseOwners(ctx context.Context, route string) ([]string, error) {
	q, args := `SELECT DISTINCT lease_owner FROM entries WHERE route = ? AND status = 'L' ORDER BY lease_owner`, []any{route}
	if route == "" {
		q, args = `SELECT DISTINCT lease_owner FROM entries WHERE status = 'L' ORDER BY lease_owner`, nil
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("lease owners of route %q: %w", route, err)
	}
	defer rows.Close()
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("lease owners of route %q: %w", route, err)
		}
		owners = append(owners, o)
	}
	return owners, rows.Err()
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return "?" + strings.Repeat(",?", n-1)
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
