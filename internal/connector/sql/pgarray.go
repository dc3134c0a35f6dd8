package sqlconn

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// PostgreSQL arrays (int[], text[], numeric[] ...) reach ferry as their
// text form ({1,2,NULL}, {"a b","c\"d"}): they are read as JSON arrays
// of their elements' JSON values and written back from JSON arrays.

// pgArrayElem is the column an array column's elements would have: pgx
// names array types by their element type with a leading underscore.
func pgArrayElem(col *column) (column, bool) {
	if !strings.HasPrefix(col.dbType, "_") || len(col.dbType) < 2 {
		return column{}, false
	}
	t := col.dbType[1:]
	return column{name: col.name, dbType: t, kind: kindOf(postgresDialect, t)}, true
}

// pgTimeFormats are PostgreSQL's text forms of timestamps (ISO DateStyle).
var pgTimeFormats = []string{"2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"}

// decodePGArray parses an array's text form into a JSON array (nested for
// more dimensions), each element converted as elem's values are.
func decodePGArray(elem *column, s string, numbers bool) (any, error) {
	p := pgArrayParser{s: s}
	v, err := p.array(elem, numbers)
	if err != nil {
		return nil, fmt.Errorf("column %q: array %q: %w", elem.name, s, err)
	}
	if p.i != len(s) {
		return nil, fmt.Errorf("column %q: array %q: text after the array", elem.name, s)
	}
	return v, nil
}

type pgArrayParser struct {
	s string
	i int
}

func (p *pgArrayParser) array(elem *column, numbers bool) ([]any, error) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, fmt.Errorf("expected { at %d", p.i)
	}
	p.i++
	out := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated array")
		}
		var v any
		switch p.s[p.i] {
		case '{':
			sub, err := p.array(elem, numbers)
			if err != nil {
				return nil, err
			}
			v = sub
		case '"':
			text, err := p.quoted()
			if err != nil {
				return nil, err
			}
			if v, err = pgElem(elem, text, numbers); err != nil {
				return nil, err
			}
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '}' {
				p.i++
			}
			text := strings.TrimSpace(p.s[start:p.i])
			if strings.EqualFold(text, "NULL") {
				v = nil
			} else {
				var err error
				if v, err = pgElem(elem, text, numbers); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, v)
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated array")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
	}
}

func (p *pgArrayParser) quoted() (string, error) {
	var b strings.Builder
	p.i++ // the opening quote
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 < len(p.s) {
				b.WriteByte(p.s[p.i+1])
			}
			p.i += 2
		case '"':
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", fmt.Errorf("unterminated quoted element")
}

// pgElem converts one element's text by its type.
func pgElem(elem *column, text string, numbers bool) (any, error) {
	switch elem.kind {
	case kBool:
		return text == "t" || text == "true", nil
	case kFloat:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return text, nil
		}
		return floatValue(f), nil
	case kTime:
		for _, f := range pgTimeFormats {
			if t, err := time.Parse(f, text); err == nil {
				return formatTime(t), nil
			}
		}
		return text, nil
	case kBytes:
		if b, err := hex.DecodeString(strings.TrimPrefix(text, `\x`)); err == nil {
			return base64.StdEncoding.EncodeToString(b), nil
		}
		return text, nil
	}
	return decode(elem, text, numbers)
}

// pgArrayLiteral writes a JSON array as an array's text form; elements
// are quoted (PostgreSQL reads a quoted element as any type), objects and
// arrays inside a one-dimensional array of json are written as JSON.
func pgArrayLiteral(elem *column, v []any) (string, error) {
	var b strings.Builder
	if err := appendPGArray(&b, elem, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

func appendPGArray(b *strings.Builder, elem *column, v []any) error {
	b.WriteByte('{')
	for i, e := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		var text string
		switch x := e.(type) {
		case nil:
			b.WriteString("NULL")
			continue
		case []any:
			if elem.kind != kJSON {
				if err := appendPGArray(b, elem, x); err != nil {
					return err
				}
				continue
			}
			j, err := jsonx.Marshal(x)
			if err != nil {
				return err
			}
			text = string(j)
		case map[string]any:
			j, err := jsonx.Marshal(x)
			if err != nil {
				return err
			}
			text = string(j)
		case string:
			text = x
			if elem.kind == kJSON {
				j, _ := jsonx.Marshal(x)
				text = string(j)
			} else if elem.kind == kBytes {
				raw, err := base64.StdEncoding.DecodeString(x)
				if err != nil {
					return fmt.Errorf("column %q is binary: expected base64 text: %w", elem.name, err)
				}
				text = `\x` + hex.EncodeToString(raw)
			}
		case float64:
			text = strconv.FormatFloat(x, 'f', -1, 64)
		case json.Number:
			text = string(x)
		case bool:
			text = strconv.FormatBool(x)
		default:
			text = fmt.Sprint(x)
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return nil
}
