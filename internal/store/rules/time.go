package rules

import "time"

// MS is how both stores keep a time: Unix milliseconds, 0 for the zero
// time (never set).
func MS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMS reads a time kept by MS, in UTC.
func FromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Scanner is a row being read: *sql.Row(s) and pgx.Row(s) both are one.
type Scanner interface{ Scan(dest ...any) error }
