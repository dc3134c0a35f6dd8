package jsonx

// Cache shares, between the values that one reader decodes in turn (the
// JSON columns of one table read), object keys and short strings and
// numbers: rows repeat the same keys ("sku", "qty") and often the same
// values ("DE", 1), and a shared string or interface value costs no
// allocation. Only immutable values are shared, never an object or an
// array, so a step that changes one decoded value cannot change another.
//
// It is direct-mapped, like a CPU cache: a text's slot is fixed by its
// hash and a new text replaces the old one, so a look-up is one hash and
// one comparison, and a read of many distinct values keeps a fixed
// number of them (about 60 KB). The zero value is ready to use; a Cache
// is not safe for concurrent use.
type Cache struct {
	keys [256]string
	vals [1024]cacheEntry
	// The parser's state that a document passes on to the next.
	elems []any
	sizes [8]int
}

// maxCached is the longest key, string or number literal a Cache keeps.
const maxCached = 32

type cacheEntry struct {
	str  bool // a string's content, else a number as written
	n    uint8
	text [maxCached]byte // in place: a miss allocates no more than decoding does
	val  any
}

// Decode is Decode sharing keys and short values through c; the values
// and errors are exactly Decode's. A nil c shares nothing.
func (c *Cache) Decode(data []byte) (any, error) {
	if v, ok := parse(data, c); ok {
		return v, nil
	}
	return decodeStd(data)
}

// slot hashes b (FNV-1a from seed) into a slot of a table of n entries
// (a power of two).
func slot(b []byte, seed uint32, n int) int {
	h := seed
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h & uint32(n-1))
}

const (
	seedString = 2166136261 // FNV-1a's offset basis
	seedNumber = seedString ^ 1
)

// key is the shared string of the object key whose content is b (at most
// maxCached bytes, no escapes, valid UTF-8).
func (c *Cache) key(b []byte) string {
	e := &c.keys[slot(b, seedString, len(c.keys))]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}

// str is the shared value of the string whose content is b (as for key).
func (c *Cache) str(b []byte) any {
	e := &c.vals[slot(b, seedString, len(c.vals))]
	if !e.str || string(e.text[:e.n]) != string(b) {
		e.set(b, true, string(b))
	}
	return e.val
}

// number is the shared value of the number literal lit (at most
// maxCached bytes); see parser.number for integer, neg and n.
func (c *Cache) number(lit []byte, integer, neg bool, n uint64) any {
	e := &c.vals[slot(lit, seedNumber, len(c.vals))]
	if e.str || string(e.text[:e.n]) != string(lit) {
		e.set(lit, false, numberOf(lit, integer, neg, n))
	}
	return e.val
}

func (e *cacheEntry) set(text []byte, str bool, v any) {
	e.str, e.n, e.val = str, uint8(copy(e.text[:], text)), v
}
