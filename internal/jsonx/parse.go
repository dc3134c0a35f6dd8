package jsonx

import (
	"encoding/json"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxParseDepth bounds the nesting parse accepts; deeper input is left to
// encoding/json (which allows 10,000 levels), so that parse's recursion,
// and with it the goroutine's stack, stays small.
const maxParseDepth = 512

// parser is a recursive-descent JSON decoder that builds the values
// Decode returns directly: no reflection, no json.Number for numbers that
// end as float64, arrays allocated once at their length, strings without
// an allocation each.
type parser struct {
	data  []byte
	i     int // the next byte to read
	depth int
	// cache, when not nil, supplies the keys and short strings and
	// numbers (Cache.Decode); Decode leaves it nil.
	cache *Cache
	// elems holds the elements of the arrays being read, every level on
	// one stack, so that each array is allocated once, at its length.
	elems []any
	// chunk is the input from chunkStart on, at most chunkSize bytes, as
	// one string: strings without escapes are slices of it (see substr).
	chunk      string
	chunkStart int
	// sizes[d] is 1 + the length of the object last read at depth d (0:
	// none yet). The records of a page have the same keys, so it sizes
	// the next map there, sparing its growth.
	sizes [8]int
	// counted is the bytes countKeys read, for the test that keeps it
	// linear.
	counted int
}

// chunkSize is the most input that one decoded string keeps in memory.
// Strings are slices of copies of the input made chunkSize bytes at a
// time: one allocation per chunk instead of one per string (a record of
// 330 bytes holds about 30, keys included), and a string kept after the
// rest of its record is dropped holds on to at most one chunk.
const chunkSize = 1024

// maxKeptElems bounds the stack of array elements a Cache keeps between
// documents (16 bytes an element).
const maxKeptElems = 4096

// parse decodes data as Decode does, sharing values through c if it is
// not nil; ok is false for anything it does not accept (malformed input,
// nesting beyond maxParseDepth).
func parse(data []byte, c *Cache) (v any, ok bool) {
	p := parser{data: data, cache: c}
	if c != nil {
		// The documents of a read are small and alike: they share the
		// stack of array elements and the size hints.
		p.elems, p.sizes = c.elems[:0], c.sizes
		defer func() {
			clear(p.elems) // a failed parse leaves its elements here
			c.elems, c.sizes = p.elems[:0], p.sizes
			if cap(c.elems) > maxKeptElems {
				c.elems = nil // one huge array must not stay for the whole read
			}
		}()
	}
	p.space()
	if v, ok = p.value(); !ok {
		return nil, false
	}
	p.space()
	return v, p.i == len(p.data)
}

// space skips JSON whitespace.
func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (any, bool) {
	if p.i >= len(p.data) {
		return nil, false
	}
	switch p.data[p.i] {
	case '{':
		return p.object()
	case '[':
		return p.array()
	case '"':
		if p.cache != nil {
			return p.cachedString()
		}
		s, ok := p.string()
		return s, ok
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	}
	return p.number()
}

func (p *parser) literal(word string) bool {
	if len(p.data)-p.i < len(word) || string(p.data[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// enter counts one more level of nesting; false beyond maxParseDepth.
func (p *parser) enter() bool {
	p.depth++
	return p.depth <= maxParseDepth
}

// next reads what follows an element: true after a comma (more
// elements), false after the closing byte; ok is false for anything else.
func (p *parser) next(closing byte) (more, ok bool) {
	p.space()
	if p.i >= len(p.data) {
		return false, false
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		p.space()
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}

func (p *parser) object() (any, bool) {
	p.i++ // {
	if !p.enter() {
		return nil, false
	}
	m := make(map[string]any, p.sizeHint())
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		p.leave(len(m))
		return m, true
	}
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, false
		}
		var k string
		var ok bool
		if p.cache == nil {
			k, ok = p.string()
		} else {
			k, ok = p.cachedKey()
		}
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		more, ok := p.next('}')
		if !ok {
			return nil, false
		}
		if !more {
			p.leave(len(m))
			return m, true
		}
	}
}

// sizeHint is the expected size of the object being read: that of the
// object read before at its depth, or else its count of keys. A map that
// grows past 8 keys is built again as a table: that growth was 16% of the
// CPU time of decoding a record of 10 keys.
//
// Only the first len(p.sizes) levels are counted: each level's count
// reads the bytes of the levels below it again, which deep hostile input
// (an object 500 levels deep) made quadratic. A hint carried over is
// capped at maxCarriedHint, so a huge object does not size the small
// ones after it.
func (p *parser) sizeHint() int {
	if p.depth > len(p.sizes) {
		return 0
	}
	if n := p.sizes[p.depth-1]; n > 0 {
		return min(n-1, maxCarriedHint)
	}
	return p.countKeys()
}

// maxCarriedHint bounds the size hint one object passes to the next at
// its depth (records have tens of keys).
const maxCarriedHint = 64

// countLimit is how far countKeys looks ahead: a larger object (a page)
// grows its map instead; the cost of the growth is then small beside that
// of the object.
const countLimit = 2048

// countKeys counts the keys of the object that starts before p.i, by its
// colons outside strings and nested values; 0 if it is longer than
// countLimit. On malformed input the count is wrong, which does no harm:
// it is only a size hint, and the parse fails.
func (p *parser) countKeys() int {
	end := min(len(p.data), p.i+countLimit)
	p.counted += end - p.i
	keys, depth := 0, 0
	for i := p.i; i < end; i++ {
		switch p.data[i] {
		case '"':
			for i++; i < end && p.data[i] != '"'; i++ {
				if p.data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return keys
			}
			depth--
		case ':':
			if depth == 0 {
				keys++
			}
		}
	}
	return 0
}

// leave ends an object of n keys.
func (p *parser) leave(n int) {
	if p.depth <= len(p.sizes) {
		p.sizes[p.depth-1] = n + 1
	}
	p.depth--
}

func (p *parser) array() (any, bool) {
	p.i++ // [
	if !p.enter() {
		return nil, false
	}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		p.depth--
		return []any{}, true // empty, not nil, as encoding/json
	}
	if p.elems == nil {
		p.elems = make([]any, 0, 16) // a record's arrays, without growing
	}
	base := len(p.elems)
	for {
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		p.elems = append(p.elems, v)
		more, ok := p.next(']')
		if !ok {
			return nil, false
		}
		if !more {
			a := make([]any, len(p.elems)-base)
			copy(a, p.elems[base:])
			clear(p.elems[base:])
			p.elems = p.elems[:base]
			p.depth--
			return a, true
		}
	}
}

// cachedKey reads an object key through the cache.
func (p *parser) cachedKey() (string, bool) {
	raw, simple, ok := p.scanString()
	if !ok {
		return "", false
	}
	if simple && len(raw) <= maxCached {
		return p.cache.key(raw), true
	}
	return p.text(raw, simple)
}

// cachedString reads a string value through the cache.
func (p *parser) cachedString() (any, bool) {
	raw, simple, ok := p.scanString()
	if !ok {
		return nil, false
	}
	if simple && len(raw) <= maxCached {
		return p.cache.str(raw), true
	}
	return p.text(raw, simple)
}

func (p *parser) string() (string, bool) {
	raw, simple, ok := p.scanString()
	if !ok {
		return "", false
	}
	return p.text(raw, simple)
}

// text is the value of a string's raw content, which ends at p.i-1.
func (p *parser) text(raw []byte, simple bool) (string, bool) {
	if simple {
		return p.substr(p.i-1-len(raw), p.i-1), true
	}
	return unquote(raw)
}

// substr is data[i:j] as a string: a slice of the current chunk when it
// lies within one, else a string of its own.
func (p *parser) substr(i, j int) string {
	switch {
	case i == j:
		return ""
	case i < p.chunkStart || j > p.chunkStart+len(p.chunk):
		if j-i > chunkSize/2 {
			return string(p.data[i:j])
		}
		p.chunkStart = i
		p.chunk = string(p.data[i:min(i+chunkSize, len(p.data))])
	}
	return p.chunk[i-p.chunkStart : j-p.chunkStart]
}

// scanString reads the string literal at p.i and returns its raw content
// (between the quotes); simple reports that the content is the value as
// it is: no escapes, valid UTF-8. ok is false for a string that does not
// end or holds a control character.
func (p *parser) scanString() (raw []byte, simple, ok bool) {
	start := p.i + 1
	ascii, escaped := true, false
	for i := start; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.i = i + 1
			raw = p.data[start:i]
			return raw, !escaped && (ascii || utf8.Valid(raw)), true
		case c == '\\':
			// Skip the escaped byte (it may be a quote); unquote checks it.
			escaped = true
			i++
		case c < ' ':
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

// unquote decodes a string's raw content with escapes or non-ASCII bytes
// exactly as encoding/json does: invalid UTF-8 and unpaired surrogates
// become U+FFFD. ok is false for an invalid escape.
func unquote(raw []byte) (string, bool) {
	b := make([]byte, 0, len(raw)+utf8.UTFMax)
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			var ok bool
			if b, r, ok = unescape(b, raw, r); !ok {
				return "", false
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			b = utf8.AppendRune(b, rr)
			r += size
		}
	}
	return string(b), true
}

// unescape appends the character of the escape at raw[r] to b and
// returns the index after it.
func unescape(b, raw []byte, r int) ([]byte, int, bool) {
	if r+1 >= len(raw) {
		return b, r, false
	}
	switch e := raw[r+1]; e {
	case '"', '\\', '/':
		return append(b, e), r + 2, true
	case 'b':
		return append(b, '\b'), r + 2, true
	case 'f':
		return append(b, '\f'), r + 2, true
	case 'n':
		return append(b, '\n'), r + 2, true
	case 'r':
		return append(b, '\r'), r + 2, true
	case 't':
		return append(b, '\t'), r + 2, true
	case 'u':
		rr := hex4(raw[r:])
		if rr < 0 {
			return b, r, false
		}
		r += 6
		if utf16.IsSurrogate(rr) {
			// A pair is one character; a lone half is U+FFFD and the
			// escape after it, if any, is read on its own.
			if dec := utf16.DecodeRune(rr, hex4(raw[r:])); dec != unicode.ReplacementChar {
				return utf8.AppendRune(b, dec), r + 6, true
			}
			rr = unicode.ReplacementChar
		}
		return utf8.AppendRune(b, rr), r, true
	}
	return b, r, false
}

// hex4 is the code unit of the \uXXXX escape at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// number reads a number literal. Integers of up to 15 characters are
// below 2^53 and converted here, exactly; the rest go through
// numberValue, the rule of number.
func (p *parser) number() (any, bool) {
	start, i := p.i, p.i
	neg := i < len(p.data) && p.data[i] == '-'
	if neg {
		i++
	}
	var n uint64
	switch {
	case i >= len(p.data):
		return nil, false
	case p.data[i] == '0':
		i++
	case '1' <= p.data[i] && p.data[i] <= '9':
		for ; i < len(p.data) && '0' <= p.data[i] && p.data[i] <= '9'; i++ {
			n = n*10 + uint64(p.data[i]-'0')
		}
	default:
		return nil, false
	}
	integer := true
	if i < len(p.data) && p.data[i] == '.' {
		integer = false
		if i = digits(p.data, i+1); i < 0 {
			return nil, false
		}
	}
	if i < len(p.data) && (p.data[i] == 'e' || p.data[i] == 'E') {
		integer = false
		i++
		if i < len(p.data) && (p.data[i] == '+' || p.data[i] == '-') {
			i++
		}
		if i = digits(p.data, i); i < 0 {
			return nil, false
		}
	}
	p.i = i
	lit := p.data[start:i]
	if p.cache != nil && len(lit) <= maxCached {
		return p.cache.number(lit, integer, neg, n), true
	}
	return numberOf(lit, integer, neg, n), true
}

// numberOf is the value of the number literal lit; for an integer
// (integer: no fraction or exponent), n is its magnitude and neg its
// sign, exact if lit has at most 15 characters.
func numberOf(lit []byte, integer, neg bool, n uint64) any {
	if integer && len(lit) <= 15 {
		if neg {
			return -float64(n) // -0 stays -0, as strconv.ParseFloat gives it
		}
		return float64(n)
	}
	return numberValue(lit, integer)
}

// digits skips one or more decimal digits from i; -1 if there is none.
func digits(data []byte, i int) int {
	start := i
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// numberValue is number for a literal in bytes (integer: without a
// fraction or exponent), allocating only for a json.Number.
func numberValue(lit []byte, integer bool) any {
	if integer && len(lit) > 15 {
		if i, err := strconv.ParseInt(string(lit), 10, 64); err != nil || i > maxExact || i < -maxExact {
			return json.Number(lit)
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil { // out of range (1e400)
		return json.Number(lit)
	}
	return f
}
