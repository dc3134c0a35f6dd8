package sqlconn

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// PostgreSQL pages are read through pgx itself, not database/sql: each
// row's raw column bytes go straight to their JSON values. database/sql
// would first turn every column into a driver value (a string or []byte
// copied once by the driver and again by Scan, an int64 or a time boxed
// in an interface), which cost the source about half of its CPU per row.
//
// The query asks for the same result formats as pgx's database/sql driver
// (binary for the types below, text for every other), so a column without
// a fast path below goes through exactly the driver value database/sql
// gives and through decode: every type maps as it does on MariaDB and
// SQLite's path.

// pgResultFormats are the result formats pgx's database/sql driver asks
// for: binary for these types, text for every other.
func pgResultFormats() pgx.QueryResultFormatsByOID {
	f := pgx.QueryResultFormatsByOID{}
	for _, oid := range []uint32{pgtype.BoolOID, pgtype.ByteaOID, pgtype.CIDOID, pgtype.DateOID,
		pgtype.Float4OID, pgtype.Float8OID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID,
		pgtype.TimestampOID, pgtype.TimestamptzOID, pgtype.XIDOID} {
		f[oid] = pgx.BinaryFormatCode
	}
	return f
}

// fast is how a column's raw bytes become JSON without a driver value.
type fast int

const (
	fastNone    fast = iota // the driver value, then decode
	fastInt                 // int2/int4/int8, binary
	fastText                // text, varchar, bpchar, name (text format) read as text
	fastDecimal             // numeric, text format
	fastJSON                // json, jsonb, text format
	fastTime                // timestamptz, timestamp, binary
	fastDate                // date, binary
	fastBool                // bool, binary
	fastFloat               // float4, float8, binary
	fastBytes               // bytea, binary
)

// pgEpoch is where PostgreSQL counts timestamps (microseconds) and dates
// (days) from: 2000-01-01 00:00:00 UTC in Unix seconds.
const pgEpoch = 946684800

// pgCol decodes one result column of a page.
type pgCol struct {
	col    *column
	fast   fast
	driver func([]byte) (driver.Value, error) // the value database/sql would give

	// The last short scalar decoded and its bytes: a column of few
	// distinct values (a status, a currency) repeats the interface value
	// instead of allocating a string and its box for every row. Only
	// immutable values (strings, numbers) are shared between records.
	last    []byte
	lastVal any
}

// pgReader reads the pages of one Read; its columns' caches last across
// pages.
type pgReader struct {
	s       *Source
	cols    []column
	keyI    int
	curI    int
	numbers bool
	formats pgx.QueryResultFormatsByOID
	dec     []pgCol
	vals    []any        // the row's JSON values by column (names may repeat)
	json    *jsonx.Cache // made at the first JSON value: ~60 KB, for reads that have one
	buf     []byte       // scratch for formatting times
	lastKey []byte       // the raw key and cursor of the page's last row
	lastCur []byte
}

func newPGReader(s *Source, cols []column, keyI, curI int, numbers bool) *pgReader {
	return &pgReader{s: s, cols: cols, keyI: keyI, curI: curI, numbers: numbers, formats: pgResultFormats(),
		dec: make([]pgCol, len(cols)), vals: make([]any, len(cols))}
}

// page runs one page query and decodes its rows. It returns the page's
// records and the last row's key and cursor as database/sql's driver
// values (the next page's parameters).
func (r *pgReader) page(ctx context.Context, q string, args []any, where string) (records []connector.SourceRecord, lastKey, lastCur any, err error) {
	// A connection the server closed while idle fails before anything is
	// read: another one is taken, as database/sql does for its queries.
	for attempt := 0; ; attempt++ {
		records, err = r.pageOnce(ctx, q, args, where)
		if !errors.Is(err, driver.ErrBadConn) || attempt == 2 || ctx.Err() != nil {
			break
		}
	}
	if errors.Is(err, driver.ErrBadConn) {
		err = r.s.db.errorf(err, "%s", where)
	}
	if err != nil || len(records) == 0 {
		return records, nil, nil, err
	}
	if lastKey, err = r.dec[r.keyI].driverOrNil(r.lastKey); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: key: %w", where, err)
	}
	if r.curI >= 0 {
		if lastCur, err = r.dec[r.curI].driverOrNil(r.lastCur); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: cursor: %w", where, err)
		}
	}
	return records, lastKey, lastCur, nil
}

// driverOrNil is the driver value of raw, nil for NULL (as the driver
// gives it).
func (d *pgCol) driverOrNil(raw []byte) (driver.Value, error) {
	if raw == nil {
		return nil, nil
	}
	return d.driver(raw)
}

func (r *pgReader) pageOnce(ctx context.Context, q string, args []any, where string) ([]connector.SourceRecord, error) {
	conn, err := r.s.db.pool.Conn(ctx)
	if err != nil {
		return nil, r.s.db.errorf(err, "%s", where)
	}
	defer conn.Close()
	var records []connector.SourceRecord
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("%s: unexpected PostgreSQL driver connection %T", where, dc)
		}
		var err error
		records, err = r.query(ctx, sc.Conn(), q, args, where)
		return err
	})
	return records, err
}

func (r *pgReader) query(ctx context.Context, pc *pgx.Conn, q string, args []any, where string) ([]connector.SourceRecord, error) {
	qargs := append([]any{r.formats}, args...)
	rows, err := pc.Query(ctx, q, qargs...)
	if err != nil && planChanged(err) { // see DB.query
		rows, err = pc.Query(ctx, q, qargs...)
	}
	if err != nil {
		if pgconn.SafeToRetry(err) && ctx.Err() == nil {
			// Nothing was sent: database/sql drops this connection and
			// page takes another.
			return nil, fmt.Errorf("%w: %w", driver.ErrBadConn, err)
		}
		return nil, r.s.db.errorf(err, "%s", where)
	}
	defer rows.Close()
	if err := r.plan(pc.TypeMap(), rows.FieldDescriptions()); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	records := make([]connector.SourceRecord, 0, min(r.s.cfg.PageSize, 1024))
	for rows.Next() {
		rec, err := r.row(rows.RawValues())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		records = append(records, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, r.s.db.errorf(err, "%s", where)
	}
	return records, nil
}

// plan sets each column's decoding from the page's field descriptions
// (the caches of the last values stay).
func (r *pgReader) plan(m *pgtype.Map, fds []pgconn.FieldDescription) error {
	if len(fds) != len(r.cols) {
		return fmt.Errorf("the query returns %d columns, %d when it was described", len(fds), len(r.cols))
	}
	for i := range fds {
		d := &r.dec[i]
		d.col = &r.cols[i]
		d.driver = driverValue(m, fds[i].DataTypeOID, fds[i].Format)
		if f := fastFor(d.col, fds[i].DataTypeOID, fds[i].Format); f != d.fast {
			d.fast, d.last, d.lastVal = f, nil, nil
		}
	}
	return nil
}

// fastFor picks a column's fast path: only where the column's kind is the
// one its type gives (a type named in the source's json: list is decoded
// as the driver value, as before).
func fastFor(col *column, oid uint32, format int16) fast {
	bin := format == pgx.BinaryFormatCode
	switch {
	case bin && col.kind == kInt && (oid == pgtype.Int2OID || oid == pgtype.Int4OID || oid == pgtype.Int8OID):
		return fastInt
	case !bin && col.kind == kAny && (oid == pgtype.TextOID || oid == pgtype.VarcharOID || oid == pgtype.BPCharOID || oid == pgtype.NameOID):
		return fastText
	case !bin && col.kind == kDecimal && oid == pgtype.NumericOID:
		return fastDecimal
	case !bin && col.kind == kJSON && (oid == pgtype.JSONOID || oid == pgtype.JSONBOID):
		return fastJSON
	case bin && col.kind == kTime && (oid == pgtype.TimestamptzOID || oid == pgtype.TimestampOID):
		return fastTime
	case bin && col.kind == kDate && oid == pgtype.DateOID:
		return fastDate
	case bin && col.kind == kBool && oid == pgtype.BoolOID:
		return fastBool
	case bin && col.kind == kFloat && (oid == pgtype.Float4OID || oid == pgtype.Float8OID):
		return fastFloat
	case bin && col.kind == kBytes && oid == pgtype.ByteaOID:
		return fastBytes
	}
	return fastNone
}

// row turns one row's raw values into a record.
func (r *pgReader) row(raw [][]byte) (connector.SourceRecord, error) {
	data := make(map[string]any, len(r.cols))
	var rec connector.SourceRecord
	for i := range r.dec {
		d := &r.dec[i]
		v, err := r.value(d, raw[i])
		if err != nil {
			return rec, fmt.Errorf("row of key %s: %w", r.text(&r.dec[r.keyI], raw[r.keyI], nil, false), err)
		}
		r.vals[i] = v
		data[d.col.name] = v
	}
	rec.Data = data
	rec.Key = r.text(&r.dec[r.keyI], raw[r.keyI], r.vals[r.keyI], false)
	if rec.Key == "" {
		// A queue entry needs a key: a NULL or empty one would be one
		// entry for every such row, each replacing the last.
		return rec, fmt.Errorf("a row has an empty key in column %q (the key must identify the row)", r.s.cfg.Key)
	}
	r.lastKey = append(r.lastKey[:0], raw[r.keyI]...)
	if r.curI >= 0 {
		rec.Cursor = r.text(&r.dec[r.curI], raw[r.curI], r.vals[r.curI], true)
		r.lastCur = keep(r.lastCur, raw[r.curI])
	}
	return rec, nil
}

// keep copies raw into buf (raw is the driver's until the next row),
// keeping NULL (nil) apart from an empty value.
func keep(buf, raw []byte) []byte {
	if raw == nil {
		return nil
	}
	return append(buf[:0], raw...)
}

// maxShared is the longest value a column's last-value cache keeps.
const maxShared = 32

// value is the JSON value of one column's raw bytes (nil: NULL).
func (r *pgReader) value(d *pgCol, raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	switch d.fast {
	case fastText, fastDecimal, fastFloat, fastInt:
		if d.lastVal != nil && bytes.Equal(raw, d.last) {
			return d.lastVal, nil
		}
		v, err := r.scalar(d, raw)
		if err == nil && len(raw) <= maxShared {
			d.last, d.lastVal = append(d.last[:0], raw...), v
		}
		return v, err
	case fastJSON:
		if r.json == nil {
			r.json = new(jsonx.Cache)
		}
		return decodeJSONColumn(r.json, d.col, raw)
	case fastTime:
		if len(raw) != 8 {
			break
		}
		us := int64(binary.BigEndian.Uint64(raw))
		if us == math.MaxInt64 || us == math.MinInt64 {
			break // infinity: as the driver gives it
		}
		t := time.Unix(pgEpoch+us/1e6, (us%1e6)*1e3).UTC()
		r.buf = t.AppendFormat(r.buf[:0], time.RFC3339Nano)
		return string(r.buf), nil
	case fastDate:
		if len(raw) != 4 {
			break
		}
		days := int32(binary.BigEndian.Uint32(raw))
		if days == math.MaxInt32 || days == math.MinInt32 {
			break
		}
		t := time.Unix(pgEpoch+int64(days)*86400, 0).UTC()
		r.buf = t.AppendFormat(r.buf[:0], time.DateOnly)
		return string(r.buf), nil
	case fastBool:
		if len(raw) == 1 {
			return raw[0] != 0, nil
		}
	case fastBytes:
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	v, err := d.driver(raw)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", d.col.name, err)
	}
	return decode(d.col, v, r.numbers)
}

// scalar decodes the short scalar types (those a column cache may keep).
func (r *pgReader) scalar(d *pgCol, raw []byte) (any, error) {
	switch d.fast {
	case fastText:
		return string(raw), nil
	case fastDecimal:
		return decimalValue(string(raw), r.numbers), nil
	case fastInt:
		if i, ok := pgInt(raw); ok {
			return intValue(i), nil
		}
	case fastFloat:
		switch len(raw) {
		case 4:
			return floatValue(float64(math.Float32frombits(binary.BigEndian.Uint32(raw)))), nil
		case 8:
			return floatValue(math.Float64frombits(binary.BigEndian.Uint64(raw))), nil
		}
	}
	v, err := d.driver(raw)
	if err != nil {
		return nil, fmt.Errorf("column %q: %w", d.col.name, err)
	}
	return decode(d.col, v, r.numbers)
}

// pgInt reads a binary int2, int4 or int8.
func pgInt(raw []byte) (int64, bool) {
	switch len(raw) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(raw))), true
	case 4:
		return int64(int32(binary.BigEndian.Uint32(raw))), true
	case 8:
		return int64(binary.BigEndian.Uint64(raw)), true
	}
	return 0, false
}

// text is a key's or cursor's text, as rawText (cursorText for a cursor)
// gives it from the driver value; val is the column's JSON value when
// decoded (the same string for text and times, so it is shared).
func (r *pgReader) text(d *pgCol, raw []byte, val any, cursor bool) string {
	if raw == nil {
		return ""
	}
	switch d.fast {
	case fastInt:
		if i, ok := pgInt(raw); ok {
			return strconv.FormatInt(i, 10)
		}
	case fastText, fastTime:
		// rawText of a string is itself; of a time, formatTime, which
		// is the JSON value (a finite time; an infinite one is text).
		if s, ok := val.(string); ok {
			return s
		}
	}
	v, err := d.driver(raw)
	if err != nil {
		return string(raw)
	}
	if cursor {
		return cursorText(d.col, v)
	}
	return rawText(v)
}

// driverValue is the function pgx's database/sql driver uses to turn a
// column's raw bytes into a driver value (stdlib.Rows.initValueFuncs),
// so that columns without a fast path decode exactly as before.
func driverValue(m *pgtype.Map, oid uint32, format int16) func([]byte) (driver.Value, error) {
	scan := func(dst any) func([]byte) error {
		plan := m.PlanScan(oid, format, dst)
		return func(src []byte) error { return plan.Scan(src, dst) }
	}
	switch oid {
	case pgtype.BoolOID:
		var d bool
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return d, err }
	case pgtype.ByteaOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
		var d []byte
		s := scan(&d)
		return func(src []byte) (driver.Value, error) {
			if err := s(src); err != nil {
				return nil, err
			}
			return d, nil // a copy the plan made
		}
	case pgtype.CIDOID, pgtype.OIDOID, pgtype.XIDOID:
		var d pgtype.Uint32
		return valuer(scan(&d), &d)
	case pgtype.DateOID:
		var d pgtype.Date
		return valuer(scan(&d), &d)
	case pgtype.Float4OID:
		var d float32
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return float64(d), err }
	case pgtype.Float8OID:
		var d float64
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return d, err }
	case pgtype.Int2OID:
		var d int16
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return int64(d), err }
	case pgtype.Int4OID:
		var d int32
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return int64(d), err }
	case pgtype.Int8OID:
		var d int64
		s := scan(&d)
		return func(src []byte) (driver.Value, error) { err := s(src); return d, err }
	case pgtype.TimestampOID:
		var d pgtype.Timestamp
		return valuer(scan(&d), &d)
	case pgtype.TimestamptzOID:
		var d pgtype.Timestamptz
		return valuer(scan(&d), &d)
	}
	var d string
	s := scan(&d)
	return func(src []byte) (driver.Value, error) { err := s(src); return d, err }
}

func valuer(scan func([]byte) error, d driver.Valuer) func([]byte) (driver.Value, error) {
	return func(src []byte) (driver.Value, error) {
		if err := scan(src); err != nil {
			return nil, err
		}
		return d.Value()
	}
}
