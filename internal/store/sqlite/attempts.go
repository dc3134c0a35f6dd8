package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
)

// attemptColumn is one column of the attempts table and how to read it
// from an attempt.
type attemptColumn struct {
	name  string
	value func(a *store.Attempt) any
	same  func(a, b *store.Attempt) bool
}

var attemptTable = [...]attemptColumn{
	{"entry_id", func(a *store.Attempt) any { return a.EntryID }, func(a, b *store.Attempt) bool { return a.EntryID == b.EntryID }},
	{"route", func(a *store.Attempt) any { return a.Route }, func(a, b *store.Attempt) bool { return a.Route == b.Route }},
	{"key", func(a *store.Attempt) any { return a.Key }, func(a, b *store.Attempt) bool { return a.Key == b.Key }},
	{"version", func(a *store.Attempt) any { return a.Version }, func(a, b *store.Attempt) bool { return a.Version == b.Version }},
	{"run_id", func(a *store.Attempt) any { return a.RunID }, func(a, b *store.Attempt) bool { return a.RunID == b.RunID }},
	{"at", func(a *store.Attempt) any { return ms(a.At) }, func(a, b *store.Attempt) bool { return ms(a.At) == ms(b.At) }},
	{"outcome", func(a *store.Attempt) any { return string(a.Outcome) }, func(a, b *store.Attempt) bool { return a.Outcome == b.Outcome }},
	{"status_code", func(a *store.Attempt) any { return int64(a.StatusCode) }, func(a, b *store.Attempt) bool { return a.StatusCode == b.StatusCode }},
	{"error", func(a *store.Attempt) any { return a.Error }, func(a, b *store.Attempt) bool { return a.Error == b.Error }},
	{"request", func(a *store.Attempt) any { return a.Request }, func(a, b *store.Attempt) bool { return a.Request == b.Request }},
	{"response", func(a *store.Attempt) any { return a.Response }, func(a, b *store.Attempt) bool { return a.Response == b.Response }},
	{"duration_ms", func(a *store.Attempt) any { return a.DurationMillis }, func(a, b *store.Attempt) bool { return a.DurationMillis == b.DurationMillis }},
	{"idempotency_key", func(a *store.Attempt) any { return a.IdempotencyKey }, func(a, b *store.Attempt) bool { return a.IdempotencyKey == b.IdempotencyKey }},
	{"op", func(a *store.Attempt) any { return a.Op }, func(a, b *store.Attempt) bool { return a.Op == b.Op }},
}

// insertAttempts records attempts in multi-row INSERTs. Binding is most
// of the cost of a row (each parameter is a call into SQLite, text is
// copied into C memory), and a batch's attempts share most columns (route,
// run, time, outcome, status, empty error and request), so a column
// whose value is the same in every row of a chunk is bound once.
func (s *Store) insertAttempts(ctx context.Context, tx *sql.Tx, attempts []store.Attempt) error {
	for chunk := range chunks(attempts, attemptChunk) {
		var (
			shared, perRow []int  // column indexes
			mask           uint32 // bit c set when column c is shared
		)
		for c := range attemptTable {
			if len(chunk) > 1 && allSame(chunk, attemptTable[c].same) {
				shared = append(shared, c)
				mask |= 1 << c
			} else {
				perRow = append(perRow, c)
			}
		}
		args := make([]any, 0, len(shared)+len(perRow)*len(chunk))
		for _, c := range shared {
			args = append(args, attemptTable[c].value(&chunk[0]))
		}
		for i := range chunk {
			for _, c := range perRow {
				args = append(args, attemptTable[c].value(&chunk[i]))
			}
		}
		q := s.text(textKey{"attempts", mask, len(chunk)}, func() string { return attemptSQL(shared, perRow, len(chunk)) })
		r, err := s.exec(ctx, tx, q, args...)
		if err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(len(chunk)) {
			return fmt.Errorf("record attempts: %d of %d rows inserted (%v)", n, len(chunk), err)
		}
	}
	return nil
}

func allSame(chunk []store.Attempt, same func(a, b *store.Attempt) bool) bool {
	for i := 1; i < len(chunk); i++ {
		if !same(&chunk[0], &chunk[i]) {
			return false
		}
	}
	return true
}

// attemptSQL is the insert of n attempts. OR IGNORE, with the row count
// checked by the caller: a plain INSERT may abort on a NOT NULL column
// midway, so SQLite copies every page it touches into a statement journal
// first (12% of the insert); no row here can break a constraint.
//
// Columns shared by every row are bound once as ?1..?k, listed first so
// the first row's numbered parameters come before any anonymous '?':
// SQLite numbers an anonymous parameter one above the highest seen so far,
// so the per-row ones follow from k+1 in order. Only numbered parameters are looked up by name when binding
// (a linear scan per parameter), so per-row ones stay anonymous.
func attemptSQL(shared, perRow []int, n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR IGNORE INTO attempts (`)
	for i, c := range slices.Concat(shared, perRow) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(attemptTable[c].name)
	}
	b.WriteString(`) VALUES `)
	var row strings.Builder
	row.WriteByte('(')
	for i := range shared {
		fmt.Fprintf(&row, "?%d,", i+1)
	}
	row.WriteString(strings.Repeat("?,", len(perRow)))
	r := strings.TrimSuffix(row.String(), ",") + ")"
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r)
	}
	return b.String()
}
