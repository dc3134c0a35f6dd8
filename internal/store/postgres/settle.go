package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Settle applies the settlements in one transaction. Every statement is
// guarded by status = 'L' AND lease_owner = owner, and by the version the
// settlement's attempt names (when it names one; see store.Settlement),
// so settlements of entries not leased by owner, or replaced by a newer
// version since, change nothing in the queue; their attempts are still
// recorded: the delivery did happen. Done and skipped entries leave in
// one DELETE per version settled; retries and dead letters go one by one
// (rare).
func (s *Store) Settle(ctx context.Context, owner string, settlements []store.Settlement) error {
	if len(settlements) == 0 {
		return nil
	}
	return s.tx(ctx, fmt.Sprintf("settle %d entries", len(settlements)), func(tx pgx.Tx) error {
		settled := make(map[int64]rules.Settled, len(settlements))
		// Done and skipped, by the version settled: one statement each.
		// A batch's entries are nearly all in one version, or a few; a
		// join of (ID, version) pairs in one statement made the planner
		// scan the pairs once per entry (1,500 x 1,500 rows filtered, up
		// to 2.4 s for one settle).
		gone := map[int64]*goneSet{}
		for _, st := range settlements {
			inc := rules.AttemptIncrement(st)
			var (
				e   rules.Settled
				ok  bool
				err error
			)
			switch st.Outcome {
			case store.OutcomeDone, store.OutcomeSkipped:
				g := gone[st.Attempt.Version]
				if g == nil {
					g = &goneSet{}
					gone[st.Attempt.Version] = g
				}
				if st.Outcome == store.OutcomeDone {
					g.done.ids, g.done.hashes = append(g.done.ids, st.EntryID), append(g.done.hashes, st.Hash)
					g.done.ats = append(g.done.ats, ms(rules.AttemptAt(st)))
				}
				g.ids = append(g.ids, st.EntryID)
				continue
			case store.OutcomeRetry:
				e, ok, err = settleRetry(ctx, tx, owner, st, inc, ms(rules.AttemptAt(st)))
			case store.OutcomeDead:
				e, ok, err = settleDead(ctx, tx, owner, st, inc, ms(rules.AttemptAt(st)))
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
		for _, version := range slices.Sorted(maps.Keys(gone)) {
			if err := deleteSettled(ctx, tx, owner, version, gone[version], settled); err != nil {
				return err
			}
		}
		if err := insertOutbox(ctx, tx, settlements, settled); err != nil {
			return err
		}
		if len(settled) < len(settlements) {
			// Fill bare attempts of entries that were not ours, if they exist.
			if err := lookupUnsettled(ctx, tx, settlements, settled); err != nil {
				return err
			}
		}
		return insertAttempts(ctx, tx, rules.SettleAttempts(settlements, settled, time.Now()))
	})
}

// scanSettled reads (id, route, key, version) rows into m.
func scanSettled(rows pgx.Rows, m map[int64]rules.Settled) error {
	defer rows.Close()
	return rules.AddSettled(rows, m)
}

// lookupUnsettled adds what is known of entries Settle did not settle
// whose attempts are bare.
func lookupUnsettled(ctx context.Context, tx pgx.Tx, settlements []store.Settlement, settled map[int64]rules.Settled) error {
	ids := rules.Unsettled(settlements, settled)
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id, route, key, version FROM entries WHERE id = ANY($1)`, ids)
	if err != nil {
		return fmt.Errorf("look up entries: %w", err)
	}
	if err := scanSettled(rows, settled); err != nil {
		return fmt.Errorf("look up entries: %w", err)
	}
	return nil
}

// deleteSettledSQL deletes the entries of IDs $2 still leased by owner
// $1 and still in version $6 (the version their settlements name; 0:
// any, see store.Settlement), and stores the content of those of them
// that were delivered (IDs $3, with their hashes $4 and times $5) as
// their keys' last delivered
// content, in one statement: the delete hands the rows over, so the
// delivered content costs no second look-up of the entries. It is never
// stored over a newer entry (a higher ID): a late settlement of an old
// version must not hide the newer content the destination has. Of two
// entries of one key the newer goes in (one row may be changed once per
// statement).
//
// The status is compared as text (here and in ExtendLeases, which pick
// many leased entries by ID; the statements of one entry each keep
// status = 'L', one probe either way) so that the planner cannot reach the rows
// through the partial index entries_leased. That index keeps an entry
// for every row leased since the table's last vacuum (the hot path
// inserts entries leased and deletes them moments later, far faster than
// autovacuum comes by), and with statistics that lag the churn the
// planner took it for a dozen rows and ANDed its bitmap with the IDs': a
// settle of 450 entries read 60,000 dead index entries, more with every
// page. By ID alone it is one probe of the primary key per entry.
const deleteSettledSQL = `WITH gone AS (DELETE FROM entries WHERE id = ANY($2) AND status::text = 'L' AND lease_owner = $1
		AND $6::bigint IN (0, version)
		RETURNING id, route, key, version, payload, deleted),
	kept AS (INSERT INTO delivered (route, key, entry_id, version, hash, payload, delivered_at, deleted)
		SELECT DISTINCT ON (g.route, g.key) g.route, g.key, g.id, g.version, s.hash, g.payload, s.at, g.deleted
		FROM gone g JOIN unnest($3::bigint[], $4::text[], $5::bigint[]) AS s(id, hash, at) ON s.id = g.id
		ORDER BY g.route, g.key, g.id DESC
		ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, version = excluded.version,
			hash = excluded.hash, payload = excluded.payload, delivered_at = excluded.delivered_at, deleted = excluded.deleted
		WHERE excluded.entry_id >= delivered.entry_id)
	SELECT id, route, key, version FROM gone`

// delivered are the done settlements of a Settle, in parallel arrays:
// their entries' content becomes their keys' delivered content.
type delivered struct {
	ids    []int64
	hashes []string
	ats    []int64
}

// goneSet is the done and skipped settlements of one version of a Settle.
type goneSet struct {
	ids  []int64
	done delivered
}

// deleteSettled runs deleteSettledSQL: it deletes the entries of g
// still leased by owner in version, keeps the content of those of g's
// done, and adds them to settled.
func deleteSettled(ctx context.Context, tx pgx.Tx, owner string, version int64, g *goneSet, settled map[int64]rules.Settled) error {
	done := g.done
	rows, err := tx.Query(ctx, deleteSettledSQL, owner, g.ids, done.ids, done.hashes, done.ats, version)
	if err != nil {
		return fmt.Errorf("delete settled entries: %w", err)
	}
	if err := scanSettled(rows, settled); err != nil {
		return fmt.Errorf("delete settled entries: %w", err)
	}
	return nil
}

// settleRetry puts the entry back as E (in st.Batch), unless its key has
// newer data (see supersededSQL): then it is dropped, so an old version is
// never retried over a newer one. ok is false when the entry is not
// leased by owner.
func settleRetry(ctx context.Context, tx pgx.Tx, owner string, st store.Settlement, inc int, atMS int64) (e rules.Settled, ok bool, err error) {
	err = tx.QueryRow(ctx, `UPDATE entries e SET status = 'E', attempts = e.attempts + $1, last_error = $2,
		next_attempt_at = $3, updated_at = $4, lease_owner = '', lease_until = 0, batch = $5
		WHERE e.id = $6 AND e.status = 'L' AND e.lease_owner = $7 AND $8::bigint IN (0, e.version) AND NOT `+supersededSQL+`
		RETURNING e.route, e.key, e.version`,
		inc, st.Error, ms(st.NextAttemptAt), atMS, st.Batch, st.EntryID, owner, st.Attempt.Version).Scan(&e.Route, &e.Key, &e.Version)
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return e, false, fmt.Errorf("entry %d: retry: %w", st.EntryID, err)
	}
	err = tx.QueryRow(ctx, `DELETE FROM entries WHERE id = $1 AND status = 'L' AND lease_owner = $2 AND $3::bigint IN (0, version)
		RETURNING route, key, version`, st.EntryID, owner, st.Attempt.Version).Scan(&e.Route, &e.Key, &e.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("entry %d: drop superseded: %w", st.EntryID, err)
	}
	return e, true, nil
}

// settleDead moves the entry to the dead letters, keeping its entry ID,
// in one statement.
func settleDead(ctx context.Context, tx pgx.Tx, owner string, st store.Settlement, inc int, atMS int64) (e rules.Settled, ok bool, err error) {
	err = tx.QueryRow(ctx, `WITH d AS (DELETE FROM entries WHERE id = $4 AND status = 'L' AND lease_owner = $5 AND $6::bigint IN (0, version)
			RETURNING id, route, key, version, payload, priority, attempts, created_at, hash, deleted)
		INSERT INTO dead_letters (entry_id, route, key, version, payload, priority, attempts, last_error, created_at, died_at, hash, deleted)
		SELECT id, route, key, version, payload, priority, attempts + $1, $2, created_at, $3, hash, deleted FROM d
		RETURNING route, key, version`,
		inc, st.Error, atMS, st.EntryID, owner, st.Attempt.Version).Scan(&e.Route, &e.Key, &e.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("entry %d: dead letter: %w", st.EntryID, err)
	}
	return e, true, nil
}

// insertOutbox stores the outbox items of settlements that took effect
// (their entry is in settled), filling what they leave out from the entry.
func insertOutbox(ctx context.Context, tx pgx.Tx, settlements []store.Settlement, settled map[int64]rules.Settled) error {
	for _, ow := range rules.OwedOutbox(settlements, settled) {
		o := ow.Item
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (route, entry_id, key, version, op, record, vars, idempotency_key,
			attempts, last_error, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			o.Route, o.EntryID, o.Key, o.Version, o.Op, blob(o.Record), blob(o.Vars), o.IdempotencyKey,
			int32(o.Attempts), o.LastError, ms(o.NextAttemptAt), ms(o.CreatedAt)); err != nil {
			return fmt.Errorf("entry %d: store outbox item %s: %w", ow.EntryID, o.Op, err)
		}
	}
	return nil
}

// blob is a JSON value as stored: never NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
