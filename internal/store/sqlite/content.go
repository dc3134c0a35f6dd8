package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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

// contentRef is what a record read again is compared with when its key
// has no entry: the key's last delivered content or its newest dead
// letter.
type contentRef struct {
	hash    string
	entryID int64
	version int64
}

// knownContent is what the store holds of a chunk's keys that have a hash:
// the hash of each key's newest leased entry, and their last delivered
// content and newest dead letter.
type knownContent struct {
	leased    map[string]leasedRef
	delivered map[string]contentRef
	dead      map[string]contentRef
}

// leasedRef is a key's newest leased entry.
type leasedRef struct {
	id, version int64
	hash        string
}

// verdict is what becomes of one record with a hash.
type verdict int

const (
	queueIt          verdict = iota // not known: queued as usual (the queued-entry rules apply)
	inFlight                        // the same content is leased: nothing to do
	alreadyDelivered                // no entry, and the newest delivered or dead content is this one: record it
)

// judge decides what becomes of a record of key with hash; queued says
// whether the key has a P/E entry. The comparison with the delivered or
// dead content applies only to a key with no entry at all: a queued or
// leased entry may have reached the destination (an unknown outcome, a
// crash mid-send), so the destination is not known to hold the delivered
// content any more (it would be the ABA of A delivered, B timed out, A
// read again). ref is the content the record matched, for its attempt.
func (k knownContent) judge(key, hash string, queued bool) (verdict, contentRef) {
	if hash == "" || queued {
		return queueIt, contentRef{}
	}
	if l, ok := k.leased[key]; ok {
		if l.hash == hash {
			return inFlight, contentRef{}
		}
		return queueIt, contentRef{}
	}
	newest, ok := k.delivered[key]
	if d, dok := k.dead[key]; dok && (!ok || d.entryID > newest.entryID) {
		newest, ok = d, true
	}
	if ok && newest.hash == hash {
		return alreadyDelivered, newest
	}
	return queueIt, contentRef{}
}

// loadRefs reads (key, hash, entry ID, version) rows, keeping the highest
// entry ID of each key; nil when there are none.
func (s *Store) loadRefs(ctx context.Context, tx *sql.Tx, q string, args []any) (map[string]contentRef, error) {
	var m map[string]contentRef
	err := s.scanKeys(ctx, tx, q, args, func(rows *sql.Rows) error {
		var (
			key string
			r   contentRef
		)
		if err := rows.Scan(&key, &r.hash, &r.entryID, &r.version); err != nil {
			return err
		}
		if m == nil {
			m = map[string]contentRef{}
		}
		if r.entryID >= m[key].entryID {
			m[key] = r
		}
		return nil
	})
	return m, err
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

// unchangedAttempt records that key was read again with the content last
// delivered (or that died), under that entry, so the key's history shows
// it.
func unchangedAttempt(route, key string, d contentRef, now time.Time) store.Attempt {
	return store.Attempt{EntryID: d.entryID, Route: route, Key: key, Version: d.version, At: now, Outcome: store.OutcomeUnchanged}
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
	for i := range attempts {
		attempts[i].RunID = id
	}
	return nil
}

// loadChunkContent is what EnqueuePage and EnqueueLeased need to know of a chunk's keys
// (args: the route, then the keys): their queued entries' content and,
// for the keys in hashed, knownContent (leased, delivered, dead). The
// leased and delivered content of keys without a hash is read too, and
// ignored by judge.
func (s *Store) loadChunkContent(ctx context.Context, tx *sql.Tx, route string, args []any, hashed []string) (map[string]queuedContent, knownContent, error) {
	var (
		queued map[string]queuedContent
		k      knownContent
	)
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
		switch kind {
		case "Q":
			if queued == nil {
				queued = map[string]queuedContent{}
			}
			queued[key] = queuedContent{id: id, version: version, payload: payload, hash: hash, deleted: deleted}
		case "L":
			if k.leased == nil {
				k.leased = map[string]leasedRef{}
			}
			if id > k.leased[key].id {
				k.leased[key] = leasedRef{id: id, version: version, hash: hash}
			}
		case "D":
			if k.delivered == nil {
				k.delivered = map[string]contentRef{}
			}
			k.delivered[key] = contentRef{hash: hash, entryID: id, version: version}
		}
		return nil
	})
	if err != nil {
		return nil, k, fmt.Errorf("look up queued, leased and delivered keys: %w", err)
	}
	if len(hashed) == 0 {
		return queued, knownContent{}, nil
	}
	k.dead, err = s.loadDead(ctx, tx, route, hashed)
	return queued, k, err
}

// loadDead reads the newest dead letter of each of keys; nil when there
// are none.
func (s *Store) loadDead(ctx context.Context, tx *sql.Tx, route string, keys []string) (map[string]contentRef, error) {
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
