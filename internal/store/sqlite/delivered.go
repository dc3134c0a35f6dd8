package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
)

// deliveredRow is one entry settled done: its content becomes its key's
// last delivered content.
type deliveredRow struct {
	id   int64
	hash string
	atMS int64
}

// deliveredChunk is the rows per upsertDelivered statement.
const deliveredChunk = 250

// upsertDelivered stores the payload of the entries still leased by owner
// as their keys' last delivered content, set-based: the settled IDs join
// the entries table, and triggers copy the payloads inside SQLite (see
// migration 0007). A key's row
// is never overwritten by an older entry (a lower ID) than the one it
// holds: a late settlement of an old version must not hide the newer
// content the destination has. It runs before the entries are deleted.
func (s *Store) upsertDelivered(ctx context.Context, tx *sql.Tx, owner string, rows []deliveredRow) error {
	for chunk := range slices.Chunk(rows, deliveredChunk) {
		args := make([]any, 0, 3*len(chunk)+1)
		for _, r := range chunk {
			args = append(args, r.id, r.hash, r.atMS)
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
	b.WriteString(`WITH s (id, hash, at) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?)")
	}
	b.WriteString(`) INSERT INTO delivered (route, key, entry_id, version, hash, delivered_at)
		SELECT e.route, e.key, e.id, e.version, s.hash, s.at FROM s JOIN entries e ON e.id = s.id
		WHERE e.status = 'L' AND e.lease_owner = ?
		ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, version = excluded.version,
			hash = excluded.hash, delivered_at = excluded.delivered_at
		WHERE excluded.entry_id >= delivered.entry_id`)
	return b.String()
}

// LastDelivered returns the last delivered content of key.
func (s *Store) LastDelivered(ctx context.Context, route, key string) (store.Delivered, error) {
	d := store.Delivered{Route: route, Key: key}
	var (
		payload []byte
		at      int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT d.entry_id, d.version, d.hash, p.payload, d.delivered_at
		FROM delivered d JOIN delivered_payloads p ON p.entry_id = d.entry_id
		WHERE d.route = ? AND d.key = ?`, route, key).Scan(&d.EntryID, &d.Version, &d.Hash, &payload, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("last delivered content of key %q in route %q: %w", key, route, err)
	}
	d.Payload, d.DeliveredAt = payload, fromMS(at)
	return d, nil
}
