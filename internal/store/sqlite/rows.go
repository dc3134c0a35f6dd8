package sqlite

import (
	"database/sql"

	"github.com/ferry-dev/ferry/internal/store/rules"
)

// collectRows reads every row of rows with scan, then closes them.
func collectRows[T any](rows *sql.Rows, scan func(rules.Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	return rules.Collect(rows, func(r *sql.Rows) (T, error) { return scan(r) })
}
