package rules

import (
	"fmt"
	"sort"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
)

// Rows is a result being read: *sql.Rows and pgx.Rows both are one.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ExportRows reads every row of rows into dest (storecopy.Scanner's),
// adds each with add and hands them to sink in chunks of at most chunk
// rows. It returns how many rows it read; the caller closes rows.
func ExportRows(rows Rows, dest []any, add func(*store.Rows), chunk int, sink func(store.Rows) error) (int64, error) {
	var (
		n   int64
		buf store.Rows
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, err
		}
		add(&buf)
		n++
		if buf.Len() >= chunk {
			if err := sink(buf); err != nil {
				return n, err
			}
			buf = store.Rows{}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	if buf.Len() > 0 {
		if err := sink(buf); err != nil {
			return n, err
		}
	}
	return n, nil
}

// SequenceTables lists the tables of an export's sequences, sorted; a
// table without IDs is an error.
func SequenceTables(info store.ExportInfo) ([]string, error) {
	tables := make([]string, 0, len(info.Sequences))
	for t := range info.Sequences {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		if !storecopy.HasID(t) {
			return nil, fmt.Errorf("import: sequence of unknown table %q", t)
		}
	}
	return tables, nil
}
