package sqlconn

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// dialect is what differs between the three databases in the SQL ferry
// writes: identifier quoting, placeholders, upsert syntax, the parameter
// limit of one statement and which errors are worth retrying.
type dialect struct {
	name      string
	quoteChar byte
	dollar    bool // $1, $2 (PostgreSQL) instead of ?
	maxParams int  // placeholders one statement may carry
}

var (
	postgresDialect = dialect{name: "postgres", quoteChar: '"', dollar: true, maxParams: 65535}
	mysqlDialect    = dialect{name: "mysql", quoteChar: '`', maxParams: 65535}
	sqliteDialect   = dialect{name: "sqlite", quoteChar: '"', maxParams: 32766}
)

// quote quotes one identifier, doubling the quote character inside it.
func (d dialect) quote(ident string) string {
	q := string(d.quoteChar)
	return q + strings.ReplaceAll(ident, q, q+q) + q
}

// quoteTable quotes a possibly qualified table name (schema.table).
func (d dialect) quoteTable(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = d.quote(strings.TrimSpace(p))
	}
	return strings.Join(parts, ".")
}

// ph is the placeholder of the n-th (1-based) parameter.
func (d dialect) ph(n int) string {
	if d.dollar {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// retryable tells whether retrying err can help: connection errors,
// deadlocks, serialization failures, lock and statement timeouts, a busy
// database. Data errors (constraint, type, length) and statement errors
// (unknown column, syntax) cannot be fixed by retrying.
func (d dialect) retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "40"), // serialization failure, deadlock
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			strings.HasPrefix(pe.Code, "57"), // operator intervention: shutdown, statement timeout
			pe.Code == "55P03":               // lock not available
			return true
		}
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1205, // lock wait timeout
			1213, // deadlock
			1040, // too many connections
			1053, // server shutdown
			1927, // connection killed
			1969, // statement timeout (MariaDB max_statement_time)
			3024: // statement timeout (MySQL max_execution_time)
			return true
		}
		return strings.HasPrefix(string(me.SQLState[:]), "08") || strings.HasPrefix(string(me.SQLState[:]), "40")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case 5, 6, 10, 13, 15: // BUSY, LOCKED, IOERR, FULL, PROTOCOL
			return true
		}
		return false
	}
	if errors.Is(err, mysql.ErrInvalidConn) {
		return true
	}
	// Unknown errors (a dropped connection the driver did not type):
	// retrying is the safe side, nothing is lost by it.
	return true
}
