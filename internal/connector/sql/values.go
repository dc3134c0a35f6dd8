package sqlconn

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// kind is how a column's values become JSON.
type kind int

const (
	kAny     kind = iota // by the Go value the driver returns
	kInt                 // integers: float64 when exact, json.Number beyond 2^53
	kDecimal             // NUMERIC/DECIMAL: exact text, string or json.Number
	kFloat               // REAL/DOUBLE
	kBool                // booleans
	kDate                // DATE: YYYY-MM-DD
	kTime                // timestamps: RFC 3339 in UTC, full precision
	kBytes               // binary: base64
	kText                // text
	kJSON                // json/jsonb: decoded into JSON values
	kArray               // PostgreSQL arrays: JSON arrays of their elements (pgarray.go)
)

// column is one column of a query's result.
type column struct {
	name   string
	dbType string // normalised: upper case, without (size)
	kind   kind
	elem   *column // kArray: the elements' column
}

// columnsOf describes a result's columns. jsonCols are columns the user
// says hold JSON text.
func columnsOf(d dialect, cts []*sql.ColumnType, jsonCols map[string]bool) []column {
	cols := make([]column, len(cts))
	for i, ct := range cts {
		t := strings.ToUpper(strings.TrimSpace(ct.DatabaseTypeName()))
		if p := strings.IndexByte(t, '('); p >= 0 {
			t = strings.TrimSpace(t[:p])
		}
		k := kindOf(d, t)
		if jsonCols[ct.Name()] {
			k = kJSON
		}
		cols[i] = column{name: ct.Name(), dbType: t, kind: k}
		if d.name == "postgres" && k == kAny {
			if elem, ok := pgArrayElem(&cols[i]); ok {
				cols[i].kind, cols[i].elem = kArray, &elem
			}
		}
	}
	return cols
}

func kindOf(d dialect, t string) kind {
	t = strings.TrimPrefix(t, "UNSIGNED ")
	switch t {
	case "INT2", "INT4", "INT8", "SMALLINT", "INTEGER", "INT", "BIGINT", "TINYINT", "MEDIUMINT",
		"YEAR", "SERIAL", "BIGSERIAL", "OID":
		return kInt
	case "NUMERIC", "DECIMAL", "MONEY":
		if t == "MONEY" {
			return kText // locale-formatted ("$1,234.50")
		}
		return kDecimal
	case "FLOAT4", "FLOAT8", "FLOAT", "DOUBLE", "REAL", "DOUBLE PRECISION":
		return kFloat
	case "BOOL", "BOOLEAN":
		return kBool
	case "DATE":
		return kDate
	case "TIMESTAMP", "TIMESTAMPTZ", "DATETIME":
		return kTime
	case "BYTEA", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "BIT", "GEOMETRY":
		return kBytes
	case "JSON", "JSONB":
		return kJSON
	}
	return kAny
}

// maxExact is 2^53: integers up to it are exact in a float64, which is
// how ferry holds JSON numbers (see jsonx.Decode).
const maxExact = 1 << 53

func intValue(i int64) any {
	if i > maxExact || i < -maxExact {
		return json.Number(strconv.FormatInt(i, 10))
	}
	return float64(i)
}

// sqliteTimeFormats are the text forms SQLite's date functions write and
// read (https://www.sqlite.org/lang_datefunc.html); no zone means UTC.
var sqliteTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// decode turns one driver value into its JSON value.
func decode(col *column, v any, numbers bool) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch col.kind {
	case kDecimal:
		var s string
		switch x := v.(type) {
		case []byte:
			s = string(x)
		case string:
			s = x
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64: // SQLite stores a DECIMAL column's value as REAL when it fits
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return floatValue(x), nil
			}
			s = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("unexpected %T for %s", v, col.dbType)
		}
		return decimalValue(s, numbers), nil
	case kInt:
		switch x := v.(type) {
		case int64:
			return intValue(x), nil
		case uint64:
			if x > maxExact {
				return json.Number(strconv.FormatUint(x, 10)), nil
			}
			return float64(x), nil
		case []byte:
			return textNumber(string(x)), nil
		case string:
			return textNumber(x), nil
		}
	case kBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case kDate:
		switch x := v.(type) {
		case time.Time:
			return x.Format(time.DateOnly), nil
		case []byte:
			return string(x), nil
		}
	case kTime:
		switch x := v.(type) {
		case time.Time:
			return formatTime(x), nil
		case string:
			return sqliteTime(x), nil
		case []byte:
			return sqliteTime(string(x)), nil
		}
	case kBytes:
		if b, ok := v.([]byte); ok {
			return base64.StdEncoding.EncodeToString(b), nil
		}
	case kJSON:
		var text []byte
		switch x := v.(type) {
		case []byte:
			text = x
		case string:
			text = []byte(x)
		default:
			return v, nil
		}
		return decodeJSONColumn(nil, col, text)
	case kText:
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	case kArray:
		if s, ok := v.(string); ok {
			return decodePGArray(col.elem, s, numbers)
		}
	}
	switch x := v.(type) {
	case int64:
		return intValue(x), nil
	case uint64:
		if x > maxExact {
			return json.Number(strconv.FormatUint(x, 10)), nil
		}
		return float64(x), nil
	case float64:
		return floatValue(x), nil
	case float32:
		return floatValue(float64(x)), nil
	case bool, string:
		return x, nil
	case time.Time:
		return formatTime(x), nil
	case []byte:
		if col.kind == kBytes {
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return string(x), nil
	}
	return fmt.Sprint(v), nil
}

// decimalValue is a decimal's JSON value: its exact text, or with
// numbers a JSON number.
func decimalValue(s string, numbers bool) any {
	if numbers && !strings.ContainsAny(s, "nN") { // NaN and Infinity are no JSON numbers
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			// As ferry holds JSON numbers (see jsonx.Decode): a float64
			// when it is exactly this decimal, so expressions compute
			// with it; json.Number, passed through as written, when not.
			var buf [32]byte
			if sameDecimal(strconv.AppendFloat(buf[:0], f, 'f', -1, 64), s) {
				return f
			}
			return json.Number(s)
		}
	}
	return s
}

// sameDecimal reports whether f (strconv's shortest 'f' form of a float)
// is canonicalDecimal(s), without building it: one decimal a row is read
// this way.
func sameDecimal(f []byte, s string) bool {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimLeft(s, "+-")
	if strings.Contains(body, ".") {
		body = strings.TrimRight(strings.TrimRight(body, "0"), ".")
	}
	body = strings.TrimLeft(body, "0")
	if neg && body != "" {
		if len(f) == 0 || f[0] != '-' {
			return false
		}
		f = f[1:]
	}
	if body == "" || body[0] == '.' {
		if len(f) == 0 || f[0] != '0' {
			return false
		}
		f = f[1:]
	}
	return string(f) == body
}

// sqliteTime converts SQLite's text timestamps to RFC 3339 (UTC when the
// text has no zone); text that is no timestamp stays as it is.
func sqliteTime(s string) string {
	for _, f := range sqliteTimeFormats {
		if t, err := time.Parse(f, s); err == nil {
			return formatTime(t)
		}
	}
	return s
}

func textNumber(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return intValue(i)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return json.Number(s)
	}
	return s
}

// floatValue keeps finite floats; JSON has no NaN or infinity, so those
// become the strings "NaN", "+Inf", "-Inf".
func floatValue(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return f
}

// rawText is a key's or cursor's driver value as text: timestamps in
// RFC 3339 (UTC), integers in decimal, text as is. SQLite text timestamps
// stay as stored, since SQLite compares them as text.
func rawText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case time.Time:
		return formatTime(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// cursorText is a cursor's value as text: rawText, but a DATE as
// YYYY-MM-DD (the database reads it back as that date).
func cursorText(col *column, v any) string {
	if t, ok := v.(time.Time); ok && col.kind == kDate {
		return t.Format(time.DateOnly)
	}
	return rawText(v)
}

// fromText turns a key or cursor given as text back into a parameter of
// the column's type, so the database compares it as that type.
func fromText(d dialect, col *column, s string) any {
	switch col.kind {
	case kInt:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
	case kTime:
		if d.name == "sqlite" {
			return s
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	case kBytes:
		return []byte(s) // a binary key as its bytes: text would be refused (not UTF-8)
	}
	return s
}

// decodeJSONColumn decodes the text of a JSON column, sharing keys and
// short values through c (nil: none). encoding/json's errors do not say
// where the fault is, nor that the text is empty: the error does.
func decodeJSONColumn(c *jsonx.Cache, col *column, text []byte) (any, error) {
	v, err := c.Decode(text)
	if err == nil {
		return v, nil
	}
	var syn *json.SyntaxError
	switch {
	case len(bytes.Trim(text, " \t\r\n")) == 0: // JSON's whitespace only
		err = errors.New("the text is empty")
	case errors.As(err, &syn):
		err = fmt.Errorf("%w at offset %d", err, syn.Offset-1) // the byte at fault counts as read
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("the text ends before the value does: %w", err)
	}
	return nil, fmt.Errorf("column %q holds no valid JSON: %w", col.name, err)
}
