package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// lastOfKeys keeps the last record of each key, in page order: an earlier
// record of a key is replaced within the page before it reaches the store.
// dups counts the dropped ones. It returns entries itself when no key
// repeats.
func lastOfKeys(entries []store.NewEntry) (kept []store.NewEntry, dups int) {
	seen := make(map[string]int, len(entries)) // key -> index of its last record
	for i, e := range entries {
		if _, ok := seen[e.Key]; ok {
			dups++
		}
		seen[e.Key] = i
	}
	if dups == 0 {
		return entries, 0
	}
	kept = make([]store.NewEntry, 0, len(entries)-dups)
	for i, e := range entries {
		if seen[e.Key] == i {
			kept = append(kept, e)
		}
	}
	return kept, dups
}

// deliveredRef is what a record read again is compared with: the key's
// last delivered content.
type deliveredRef struct {
	hash    string
	entryID int64
	version int64
}

// knownContent is what the store holds of a chunk's keys that have a hash:
// the hashes of their leased entries (a key with a leased entry is present,
// even when its hash is "") and their last delivered content.
type knownContent struct {
	leased    map[string][]string
	delivered map[string]deliveredRef
}

// verdict is what becomes of one record with a hash.
type verdict int

const (
	queueIt          verdict = iota // not known: queued as usual
	inFlight                        // the same content is leased: nothing to do
	alreadyDelivered                // the destination has this content: drop the queued one, record it
)

func (k knownContent) judge(key, hash string) verdict {
	if hash == "" {
		return queueIt
	}
	leased, anyLeased := k.leased[key]
	for _, h := range leased {
		if h == hash {
			return inFlight
		}
	}
	if d, ok := k.delivered[key]; ok && d.hash == hash && !anyLeased {
		return alreadyDelivered
	}
	return queueIt
}

// loadKnownContent reads what the store holds of the hashed records'
// keys: two indexed lookups, skipped when no record has a hash.
func (s *Store) loadKnownContent(ctx context.Context, tx *sql.Tx, route string, keys []string) (knownContent, error) {
	var k knownContent
	if len(keys) == 0 {
		return k, nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, route)
	for _, key := range keys {
		args = append(args, key)
	}
	in := placeholders(len(keys))
	rows, err := s.query(ctx, tx, `SELECT key, hash FROM entries WHERE route = ? AND status = 'L' AND key IN (`+in+`)`, args...)
	if err != nil {
		return k, fmt.Errorf("look up leased keys: %w", err)
	}
	for rows.Next() {
		var key, hash string
		if err := rows.Scan(&key, &hash); err != nil {
			rows.Close()
			return k, fmt.Errorf("look up leased keys: %w", err)
		}
		if k.leased == nil {
			k.leased = map[string][]string{}
		}
		k.leased[key] = append(k.leased[key], hash)
	}
	if err := closeRows(rows); err != nil {
		return k, fmt.Errorf("look up leased keys: %w", err)
	}
	rows, err = s.query(ctx, tx, `SELECT key, hash, entry_id, version FROM delivered WHERE route = ? AND key IN (`+in+`)`, args...)
	if err != nil {
		return k, fmt.Errorf("look up delivered keys: %w", err)
	}
	for rows.Next() {
		var (
			key string
			d   deliveredRef
		)
		if err := rows.Scan(&key, &d.hash, &d.entryID, &d.version); err != nil {
			rows.Close()
			return k, fmt.Errorf("look up delivered keys: %w", err)
		}
		if k.delivered == nil {
			k.delivered = map[string]deliveredRef{}
		}
		k.delivered[key] = d
	}
	if err := closeRows(rows); err != nil {
		return k, fmt.Errorf("look up delivered keys: %w", err)
	}
	return k, nil
}

// closeRows closes rows and reports an error of the iteration.
func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}

// unchangedAttempt records that key was read again with the content last
// delivered, under the delivered entry, so the key's history shows it.
func unchangedAttempt(route, key string, d deliveredRef, now time.Time) store.Attempt {
	return store.Attempt{EntryID: d.entryID, Route: route, Key: key, Version: d.version, At: now, Outcome: store.OutcomeUnchanged}
}

// dropQueued deletes the queued (P/E) entries of keys: the destination
// already has the content they would replace with. An entry queued by
// ferry resend (no hash, a "resend" attempt) stays: the user asked for
// that content to be sent again.
func (s *Store) dropQueued(ctx context.Context, tx *sql.Tx, route string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, route)
	for _, k := range keys {
		args = append(args, k)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE route = ? AND status IN ('P', 'E')
		AND NOT (hash = '' AND EXISTS (SELECT 1 FROM attempts a WHERE a.entry_id = entries.id AND a.op = 'resend'))
		AND key IN (`+
		placeholders(len(keys))+`)`, args...); err != nil {
		return fmt.Errorf("drop queued entries of unchanged keys: %w", err)
	}
	return nil
}
