package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// leasedChunk is the rows per multi-row insert of EnqueueLeased.
const leasedChunk = 500

// EnqueueLeased queues the page leased by owner in one transaction. The
// unique index on queued keys covers only P and E, so coalescing cannot be
// an upsert as in EnqueuePage: the keys of each chunk are first probed for
// a queued entry (none, on the engine's hot path), those found are
// replaced and leased in place, and the rest go in one multi-row INSERT.
// Records with a hash whose key is not queued are compared with their
// key's leased, delivered and dead content first (see knownContent.judge);
// a record not queued (unchanged) is not returned.
//
// Of duplicate keys in the page only the last is stored; the earlier ones
// count as replaced, as they would in EnqueuePage, so
// Inserted+Replaced+Unchanged is always len(entries).
func (s *Store) EnqueueLeased(ctx context.Context, route string, entries []store.NewEntry, cursor *string, now time.Time, owner string, until time.Time) ([]store.Entry, store.EnqueueResult, error) {
	var res store.EnqueueResult
	if route == "" {
		return nil, res, errors.New("enqueue leased: empty route")
	}
	if owner == "" {
		return nil, res, fmt.Errorf("enqueue leased to route %q: empty owner", route)
	}
	nowMS, untilMS := ms(now), ms(until)
	kept, dups := rules.LastOfKeys(entries)
	out := leasedEntries(route, kept, fromMS(nowMS), owner, fromMS(untilMS))
	res.Replaced = dups
	someUnchanged := false
	err := s.writeTx(ctx, fmt.Sprintf("enqueue %d leased entries of route %q", len(entries), route), func(tx *sql.Tx) error {
		var unchanged []store.Attempt
		for chunk := range chunks(out, leasedChunk) {
			fresh, replaced, skipped, err := s.leaseQueued(ctx, tx, chunk, nowMS, untilMS, &unchanged)
			if err != nil {
				return err
			}
			res.Replaced += replaced
			res.Unchanged += skipped
			res.Inserted += len(fresh)
			if err := s.insertLeased(ctx, tx, route, fresh, nowMS, owner, untilMS); err != nil {
				return err
			}
		}
		someUnchanged = res.Unchanged > 0
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
		return nil, store.EnqueueResult{}, err
	}
	if someUnchanged { // leaseQueued left the records not queued without an ID
		out = slices.DeleteFunc(out, func(e store.Entry) bool { return e.ID == 0 })
	}
	return out, res, nil
}

// leasedEntries builds the entries EnqueueLeased returns, in page order.
func leasedEntries(route string, entries []store.NewEntry, now time.Time, owner string, until time.Time) []store.Entry {
	out := make([]store.Entry, 0, len(entries))
	for _, e := range entries {
		p := e.Payload
		if p == nil {
			p = []byte("null")
		}
		out = append(out, store.Entry{
			Route: route, Key: e.Key, Version: 1, Payload: p, Status: store.StatusLeased, Priority: e.Priority, Hash: e.Hash, Deleted: e.Deleted,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now, LeaseOwner: owner, LeaseUntil: until,
		})
	}
	return out
}

// leaseQueued sorts chunk out against what the store holds of its keys.
// Records not to be queued (unchanged: the same content leased, delivered
// or queued) are counted in skipped and keep ID 0; attempts of records
// already delivered are added to unchanged. Queued (P/E) entries with
// another payload are replaced and leased, filling their ID, Version,
// Attempts, LastError and CreatedAt in chunk. It returns the entries left
// to insert.
func (s *Store) leaseQueued(ctx context.Context, tx *sql.Tx, chunk []store.Entry, nowMS, untilMS int64, unchanged *[]store.Attempt) (fresh []*store.Entry, replaced, skipped int, err error) {
	route := chunk[0].Route
	args := make([]any, 0, len(chunk)+1)
	args = append(args, route)
	var hashed []string
	for i := range chunk {
		args = append(args, chunk[i].Key)
		if chunk[i].Hash != "" {
			hashed = append(hashed, chunk[i].Key)
		}
	}
	known, err := s.loadChunkContent(ctx, tx, route, args, hashed)
	if err != nil {
		return nil, 0, 0, err
	}
	fresh = make([]*store.Entry, 0, len(chunk)-len(known.Queued))
	for i := range chunk {
		e := &chunk[i]
		action, attempt := known.Lease(route, e, fromMS(nowMS))
		if attempt != nil {
			*unchanged = append(*unchanged, *attempt)
		}
		switch action {
		case rules.LeaseKeep:
			skipped++ // a queued one stays queued as it is, for the normal passes
			continue
		case rules.LeaseInsert:
			fresh = append(fresh, e)
			continue
		}
		if err := s.replaceQueued(ctx, tx, e, nowMS, untilMS); err != nil {
			return nil, 0, 0, err
		}
		replaced++
	}
	return fresh, replaced, skipped, nil
}

// replaceQueued replaces the queued (P/E) entry of e's key with e's
// content, leased, and fills e's ID, Version, Attempts, LastError and
// CreatedAt from it. The key must have a queued entry (the one writer
// looked it up in this transaction).
func (s *Store) replaceQueued(ctx context.Context, tx *sql.Tx, e *store.Entry, nowMS, untilMS int64) error {
	var created int64
	err := s.queryRow(ctx, tx, `UPDATE entries SET status = 'L', payload = ?, priority = ?, hash = ?, version = version + 1,
		attempts = 0, last_error = '', batch = '', next_attempt_at = ?, updated_at = ?, lease_owner = ?, lease_until = ?, deleted = ?
		WHERE route = ? AND key = ? AND status IN ('P', 'E')
		RETURNING id, version, attempts, last_error, created_at`,
		[]any{[]byte(e.Payload), e.Priority, e.Hash, nowMS, nowMS, e.LeaseOwner, untilMS, e.Deleted, e.Route, e.Key},
		&e.ID, &e.Version, &e.Attempts, &e.LastError, &created)
	if err != nil {
		return fmt.Errorf("replace queued entry %q: %w", e.Key, err)
	}
	e.CreatedAt = fromMS(created)
	return nil
}

// insertLeased inserts fresh entries leased and sets their IDs.
func (s *Store) insertLeased(ctx context.Context, tx *sql.Tx, route string, fresh []*store.Entry, nowMS int64, owner string, untilMS int64) error {
	if len(fresh) == 0 {
		return nil
	}
	args := make([]any, 0, 4+leasedCols*len(fresh))
	args = append(args, route, nowMS, owner, untilMS)
	for _, e := range fresh {
		args = append(args, e.Key, []byte(e.Payload), int64(e.Priority), e.Hash)
	}
	q := s.text(textKey{"leased", 0, len(fresh)}, func() string { return insertLeasedSQL(len(fresh)) })
	r, err := s.exec(ctx, tx, q, args...)
	if err != nil {
		return fmt.Errorf("insert leased entries: %w", err)
	}
	// No RETURNING (it buffers every row in a temporary table): with
	// AUTOINCREMENT each row gets one more than the largest ID ever used,
	// and the rows go in VALUES order under the write lock, so the IDs are
	// the n up to the last one.
	n, err := r.RowsAffected()
	if err != nil || n != int64(len(fresh)) {
		return fmt.Errorf("insert leased entries: %d rows inserted of %d (%v)", n, len(fresh), err)
	}
	last, err := r.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert leased entries: %w", err)
	}
	var deletes []int64
	for i, e := range fresh {
		e.ID = last - int64(len(fresh)-1-i)
		if e.Deleted {
			deletes = append(deletes, e.ID)
		}
	}
	// Deletes are rare: marked after the insert, so the hot path binds
	// no extra parameter per row.
	for chunk := range chunks(deletes, idChunk) {
		if _, err := s.exec(ctx, tx, `UPDATE entries SET deleted = 1 WHERE id IN (`+placeholders(len(chunk))+`)`, int64Args(chunk)...); err != nil {
			return fmt.Errorf("mark deletes: %w", err)
		}
	}
	return nil
}

// leasedCols is the parameters per row of insertLeasedSQL; route, now,
// owner and until are bound once.
const leasedCols = 4

// insertLeasedSQL is the multi-row insert of n leased entries. Route, now,
// owner and until are ?1 to ?4 and must come first in the text: SQLite
// numbers an anonymous '?' one above the highest number seen so far, so
// the first row's ?1..?4 make its '?' 5 to 8, the next row's 9 to 12, and
// so on. OR IGNORE spares the statement journal (see attemptSQL);
// insertLeased checks that every row went in. Only the four numbered ones are looked up by name (a
// linear scan in SQLite per parameter); numbering every parameter made
// binding quadratic.
func insertLeasedSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO entries (route, created_at, lease_owner, lease_until, key, payload, priority,
		hash, status, version, next_attempt_at, updated_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?1,?2,?3,?4,?,?,?,?,'L',1,?2,?2)")
	}
	b.WriteString(``)
	return b.String()
}

// queryRow runs q in tx as a cached prepared statement and scans its one row.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, q string, args []any, dest ...any) error {
	st, err := s.stmt(ctx, tx, q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}
