package sqlconn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// param turns a record value into a statement parameter for d. col is the
// target column when known (table upserts), nil for a user's statement.
//
// PostgreSQL gets scalars as text: the server parses them as the type it
// inferred for the placeholder, exactly (a decimal never passes through a
// float) and without pgx refusing a number for a text column. MySQL and
// SQLite get integers as integers and the rest as is.
func param(d dialect, col *column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	k := kAny
	if col != nil {
		k = col.kind
	}
	switch k {
	case kJSON:
		b, err := jsonx.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case kBytes:
		if s, ok := v.(string); ok {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("column %q is binary: expected base64 text: %w", col.name, err)
			}
			return b, nil
		}
	case kArray:
		if a, ok := v.([]any); ok {
			return pgArrayLiteral(col.elem, a)
		}
	case kTime, kDate:
		if s, ok := v.(string); ok && d.name == "mysql" {
			// MariaDB refuses RFC 3339's T and zone: send a time, which
			// the driver writes in the connection's zone (UTC).
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t, nil
			}
		}
	}
	switch x := v.(type) {
	case map[string]any, []any:
		b, err := jsonx.Marshal(x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v cannot be written", x)
		}
		if d.dollar {
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
		if x == math.Trunc(x) && math.Abs(x) <= maxExact {
			return int64(x), nil
		}
		return x, nil
	case json.Number:
		if !d.dollar {
			if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return i, nil
			}
		}
		return string(x), nil
	case int64:
		if d.dollar {
			return strconv.FormatInt(x, 10), nil
		}
		return x, nil
	case int:
		if d.dollar {
			return strconv.Itoa(x), nil
		}
		return int64(x), nil
	case bool:
		if d.dollar {
			return strconv.FormatBool(x), nil
		}
		return x, nil
	}
	return v, nil
}
