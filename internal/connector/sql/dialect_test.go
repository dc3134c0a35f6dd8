package sqlconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestRetryable: connection errors, deadlocks and timeouts are retried;
// data and statement errors are not.
func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40P01"}, true},                          // deadlock
		{&pgconn.PgError{Code: "40001"}, true},                          // serialization failure
		{&pgconn.PgError{Code: "57014"}, true},                          // statement timeout
		{&pgconn.PgError{Code: "08006"}, true},                          // connection failure
		{fmt.Errorf("exec: %w", &pgconn.PgError{Code: "23505"}), false}, // unique violation
		{&pgconn.PgError{Code: "22001"}, false},                         // value too long
		{&pgconn.PgError{Code: "42703"}, false},                         // undefined column
		{&mysql.MySQLError{Number: 1213}, true},                         // deadlock
		{&mysql.MySQLError{Number: 1205}, true},                         // lock wait timeout
		{&mysql.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}}, false},
		{&mysql.MySQLError{Number: 1406, SQLState: [5]byte{'2', '2', '0', '0', '1'}}, false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{context.DeadlineExceeded, true},
		{mysql.ErrInvalidConn, true},
	} {
		if got := postgresDialect.retryable(c.err); got != c.want {
			t.Errorf("%v: retryable %v, want %v", c.err, got, c.want)
		}
	}
}
