package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// deliveredRow is one entry settled done: its content becomes its key's
// last delivered content.
type deliveredRow struct {
	ref  settledRef
	hash string
	atMS int64
}

// deliveredChunk is the rows per upsertDelivered statement.
const deliveredChunk = 250

// upsertDelivered stores the payload of the entries still leased by owner
// (in the version settled) as their keys' last delivered content, set-based: the settled IDs join
// the entries table, and triggers copy the payloads inside SQLite (see
// migration 0007). A key's row
// is never overwritten by an older entry (a lower ID) than the one it
// holds: a late settlement of an old version must not hide the newer
// content the destination has. It runs before the entries are deleted.
func (s *Store) upsertDelivered(ctx context.Context, tx *sql.Tx, owner string, rows []deliveredRow) error {
	for chunk := range chunks(rows, deliveredChunk) {
		args := make([]any, 0, 4*len(chunk)+1)
		for _, r := range chunk {
			args = append(args, r.ref.id, r.hash, r.atMS, r.ref.version)
		}
		args = append(args, owner)
		q := s.text(textKey{"delivered", 0, len(chunk)}, func() string { return upsertDeliveredSQL(len(chunk)) })
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("record delivered content: %w", err)
		}
	}
	return nil
}

func upsertDeliveredSQL(n int) string {
	var b strings.Builder
	b.WriteString(`WITH s (id, hash, at, version) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?)")
	}
	b.WriteString(`) INSERT INTO delivered (route, key, entry_id, version, hash, delivered_at, deleted)
		SELECT e.route, e.key, e.id, e.version, s.hash, s.at, e.deleted FROM s JOIN entries e ON e.id = s.id
		WHERE e.status = 'L' AND e.lease_owner = ? AND s.version IN (0, e.version)
		ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, version = excluded.version,
			hash = excluded.hash, delivered_at = excluded.delivered_at, deleted = excluded.deleted
		WHERE excluded.entry_id >= delivered.entry_id`)
	return b.String()
}

// LastDelivered returns the last delivered content of key.
func (s *Store) LastDelivered(ctx context.Context, route, key string) (store.Delivered, error) {
	d, err := rules.ScanDelivered(s.read.QueryRowContext(ctx, `SELECT d.entry_id, d.version, d.hash, p.payload, d.delivered_at, d.deleted
		FROM delivered d JOIN delivered_payloads p ON p.entry_id = d.entry_id
		WHERE d.route = ? AND d.key = ?`, route, key), route, key)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, err)
	}
	return d, nil
}

// Resend queues the key's last delivered payload again as a new pending
// entry, unless an entry of the key is queued, in error or leased.
func (s *Store) Resend(ctx context.Context, route, key, who string, now time.Time) (store.Entry, error) {
	now = rules.Now(now)
	nowMS := ms(now)
	var e store.Entry
	err := s.writeTx(ctx, fmt.Sprintf("resend key %q of route %q", key, route), func(tx *sql.Tx) error {
		var busy bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM entries WHERE route = ?1 AND key = ?2 AND status IN ('P', 'E'))
			OR EXISTS (SELECT 1 FROM entries WHERE route = ?1 AND key = ?2 AND status = 'L')`, route, key).Scan(&busy); err != nil {
			return err
		}
		var found bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM delivered WHERE route = ? AND key = ?)`, route, key).Scan(&found); err != nil {
			return err
		}
		if err := rules.ResendBlocked(found, busy); err != nil {
			return err
		}
		var err error
		e, err = scanEntry(tx.QueryRowContext(ctx, `INSERT INTO entries (route, key, version, payload, status, priority,
			next_attempt_at, created_at, updated_at, deleted) SELECT d.route, d.key, 1, p.payload, 'P', 0, ?1, ?1, ?1, d.deleted
			FROM delivered d JOIN delivered_payloads p ON p.entry_id = d.entry_id
			WHERE d.route = ?2 AND d.key = ?3 RETURNING `+entryColumns, nowMS, route, key))
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		return s.insertAttempts(ctx, tx, []store.Attempt{rules.ResendAttempt(e, who, now)})
	})
	if err != nil {
		return store.Entry{}, err
	}
	return e, nil
}
