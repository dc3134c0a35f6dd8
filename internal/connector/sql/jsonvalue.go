package sqlconn

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// decodeJSON decodes one JSON column value the way jsonx.Decode does
// (objects, arrays, strings, bools, nil; numbers as float64 where that is
// exact, json.Number where not), without a json.Decoder per value: a
// table with JSON columns decodes one or more per row, and a decoder's
// set-up cost more than the small values themselves.
func decodeJSON(b []byte) (any, error) {
	p := jsonParser{b: b}
	return p.document()
}

// jsonCache shares, between the JSON values of one read, the object keys
// and the short strings and numbers: the rows of a table repeat the same
// keys ("sku", "qty") and often the same values ("DE", 1), and a shared
// string or interface value costs no allocation. Only immutable values
// are shared, never an object or an array (a step may change those).
//
// It is direct-mapped, like a CPU cache: a text's slot is fixed by its
// hash and a new text replaces the old one, so a look-up is one hash and
// one comparison, a miss allocates nothing more than decoding does, and a
// read of many distinct values keeps a fixed number of them.
type jsonCache struct {
	keys [256]string
	vals [1024]cachedValue
}

type cachedValue struct {
	text string // the string's content, or the number as written
	str  bool
	val  any
}

// decode is decodeJSON sharing keys and short values through c.
func (c *jsonCache) decode(b []byte) (any, error) {
	p := jsonParser{b: b, cache: c}
	return p.document()
}

// slot hashes b (FNV-1a) into a slot of a table of n (a power of two).
func slot(b []byte, n int) int {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h & uint32(n-1))
}

// key is the shared string of the object key b.
func (c *jsonCache) key(b []byte) string {
	if len(b) > maxShared {
		return string(b)
	}
	e := &c.keys[slot(b, len(c.keys))]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}

// str is the shared value of the plain string whose content is b.
func (c *jsonCache) str(b []byte) any {
	if len(b) > maxShared {
		return string(b)
	}
	e := &c.vals[slot(b, len(c.vals))]
	if !e.str || e.text != string(b) {
		s := string(b)
		*e = cachedValue{text: s, str: true, val: s}
	}
	return e.val
}

// number is the shared value of the number written b.
func (c *jsonCache) number(b []byte, integer bool) any {
	if len(b) > maxShared {
		return numberValue(string(b), integer)
	}
	e := &c.vals[slot(b, len(c.vals))]
	if e.str || e.text != string(b) {
		s := string(b)
		*e = cachedValue{text: s, val: numberValue(s, integer)}
	}
	return e.val
}

type jsonParser struct {
	b     []byte
	i     int
	cache *jsonCache // nil: nothing shared
}

// maxDepth bounds nesting, as encoding/json does (10000).
const maxDepth = 10000

func (p *jsonParser) document() (any, error) {
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, fmt.Errorf("invalid data after the JSON value at offset %d", p.i)
	}
	return v, nil
}

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) fail(what string) error {
	if p.i >= len(p.b) {
		return fmt.Errorf("unexpected end of JSON input (%s)", what)
	}
	return fmt.Errorf("invalid character %q at offset %d (%s)", p.b[p.i], p.i, what)
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("JSON nested too deeply")
	}
	if p.i >= len(p.b) {
		return nil, p.fail("a value")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		start := p.i
		plain, err := p.scanString()
		if err != nil {
			return nil, err
		}
		if p.cache == nil || !plain {
			return p.text(start, plain)
		}
		return p.cache.str(p.b[start+1 : p.i-1]), nil
	case c == 't':
		return p.word("true", true)
	case c == 'f':
		return p.word("false", false)
	case c == 'n':
		return p.word("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		integer, err := p.scanNumber()
		if err != nil {
			return nil, err
		}
		if p.cache == nil {
			return numberValue(string(p.b[start:p.i]), integer), nil
		}
		return p.cache.number(p.b[start:p.i], integer), nil
	}
	return nil, p.fail("a value")
}

func (p *jsonParser) object(depth int) (any, error) {
	p.i++
	m := map[string]any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("an object key")
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.fail("a colon")
		}
		p.i++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return m, nil
		}
		return nil, p.fail("a comma or }")
	}
}

func (p *jsonParser) array(depth int) (any, error) {
	p.i++
	a := []any{}
	p.space()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.space()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return a, nil
		}
		return nil, p.fail("a comma or ]")
	}
}

func (p *jsonParser) word(w string, v any) (any, error) {
	if len(p.b)-p.i < len(w) || string(p.b[p.i:p.i+len(w)]) != w {
		return nil, p.fail(w)
	}
	p.i += len(w)
	return v, nil
}

// key reads an object key, shared through the cache when there is one.
func (p *jsonParser) key() (string, error) {
	start := p.i
	plain, err := p.scanString()
	if err != nil {
		return "", err
	}
	if p.cache != nil && plain {
		return p.cache.key(p.b[start+1 : p.i-1]), nil
	}
	return p.text(start, plain)
}

// scanString moves past the string at p.i and reports whether it is
// plain: no escapes and ASCII only, so that its text is its bytes.
func (p *jsonParser) scanString() (plain bool, err error) {
	p.i++
	plain = true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return plain, nil
		case c == '\\':
			plain = false
			p.i += 2
		case c < 0x20:
			return false, p.fail("a control character in a string")
		case c >= utf8.RuneSelf:
			plain = false // encoding/json replaces invalid UTF-8
			p.i++
		default:
			p.i++
		}
	}
	return false, p.fail("the end of a string")
}

// text is the string scanned from start to p.i: a plain one sliced as
// is, one with escapes or non-ASCII through encoding/json (rare in data).
func (p *jsonParser) text(start int, plain bool) (string, error) {
	if plain {
		return string(p.b[start+1 : p.i-1]), nil
	}
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
		return "", fmt.Errorf("string at offset %d: %w", start, err)
	}
	return s, nil
}

// scanNumber moves past the number at p.i, checking its syntax, and
// reports whether it is an integer.
func (p *jsonParser) scanNumber() (integer bool, err error) {
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	if n := digits(); n == 0 || n > 1 && p.b[intStart] == '0' {
		return false, p.fail("a number")
	}
	integer = true
	if p.i < len(p.b) && p.b[p.i] == '.' {
		integer = false
		p.i++
		if digits() == 0 {
			return false, p.fail("a fraction")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		integer = false
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false, p.fail("an exponent")
		}
	}
	return integer, nil
}

// numberValue is a number as jsonx holds it: float64 when exact, else
// json.Number (integers beyond 2^53, values beyond a float64's range).
func numberValue(s string, integer bool) any {
	if integer && len(s) > 15 {
		if i, err := strconv.ParseInt(s, 10, 64); err != nil || i > maxExact || i < -maxExact {
			return json.Number(s)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return json.Number(s)
	}
	return f
}
