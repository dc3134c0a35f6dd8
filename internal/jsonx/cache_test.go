package jsonx

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// compareCache checks that c decodes data exactly as Decode does, the
// first time (filling c) and the second (from it).
func compareCache(t *testing.T, c *Cache, data []byte) {
	t.Helper()
	want, wantErr := Decode(data)
	for range 2 {
		got, err := c.Decode(data)
		if fmtErr(err) != fmtErr(wantErr) || !same(got, want) {
			t.Fatalf("%.200q: Cache.Decode = %#v, %v; want %#v, %v", data, got, err, want, wantErr)
		}
	}
}

// TestCacheLikeDecode: a read's cache decodes document after document
// exactly as Decode does, values and errors alike, also once more
// distinct values have passed than it has slots.
func TestCacheLikeDecode(t *testing.T) {
	var c Cache
	for _, in := range decodeCases {
		compareCache(t, &c, []byte(in))
	}
	for _, in := range []string{
		`{"name": "Customer 17", "country": "DE", "n": 1, "big": 12345678901234567890}`,
		`[{"sku": "SKU-1", "qty": 3, "price": 19.90, "tags": []}, "caf\u00e9", "héllo", "a\"b"]`,
		`"DE"`, `3`, `"3"`, `19.90`, `{"DE": "country"}`, `{"\u0041": 1, "A": 2}`, `-0`, `0`,
		`{"` + fmt.Sprint(make([]byte, maxCached+1)) + `": "` + fmt.Sprint(make([]byte, maxCached+1)) + `"}`,
	} {
		compareCache(t, &c, []byte(in))
	}
	compareCache(t, &c, orderPage(20))
	for i := range 5000 {
		in := fmt.Sprintf(`{"name": "Customer %d", "n": %d, "k%d": "%d", "f": %d.5, "m": -%d}`, i%3000, i%2000, i%700, i%1500, i%900, i%10)
		compareCache(t, &c, []byte(in))
	}
	var nilCache *Cache
	compareCache(t, nilCache, orderRecord(1))
}

// TestCacheShares: keys and short strings and numbers of one document
// are those of the one before (no allocation), longer strings not.
func TestCacheShares(t *testing.T) {
	var c Cache
	doc := []byte(`{"country": "DE", "qty": 3, "note": "a note longer than the cache keeps them"}`)
	a, _ := c.Decode(doc)
	b, _ := c.Decode(doc)
	ma, mb := a.(map[string]any), b.(map[string]any)
	for k := range ma {
		for k2 := range mb {
			if k == k2 && k != "note" && unsafe.StringData(k) != unsafe.StringData(k2) {
				t.Errorf("key %q not shared", k)
			}
		}
	}
	if s1, s2 := ma["country"].(string), mb["country"].(string); unsafe.StringData(s1) != unsafe.StringData(s2) {
		t.Error("short string not shared")
	}
	if s1, s2 := ma["note"].(string), mb["note"].(string); unsafe.StringData(s1) == unsafe.StringData(s2) {
		t.Error("long string shared")
	}
	if allocs := testing.AllocsPerRun(100, func() { c.Decode(doc) }); allocs > 4 {
		t.Errorf("%v allocations decoding a cached document, want at most 4 (the map and its table, the long string and its interface)", allocs)
	}
}

// TestCacheSharesNoObjectOrArray: a step that changes one decoded value
// (its objects, its arrays) does not change another.
func TestCacheSharesNoObjectOrArray(t *testing.T) {
	var c Cache
	doc := []byte(`[{"sku": "SKU-1", "tags": ["a"]}, {}, []]`)
	a, _ := c.Decode(doc)
	b, _ := c.Decode(doc)
	aa := a.([]any)
	aa[0].(map[string]any)["sku"] = "changed"
	aa[0].(map[string]any)["tags"].([]any)[0] = "changed"
	aa[1].(map[string]any)["new"] = 1.0
	aa[2] = "changed"
	want, _ := Decode(doc)
	if !same(b, want) {
		t.Fatalf("changing one document changed another: %#v", b)
	}
}

// TestCacheRefusesBadInput: malformed documents are errors, as Decode's,
// and do not spoil the cache for the next ones.
func TestCacheRefusesBadInput(t *testing.T) {
	var c Cache
	for _, in := range []string{`{"a": 01}`, `["x", "y`, `{"a": 1,}`, ``, `{"a": 1} x`} {
		if v, err := c.Decode([]byte(in)); err == nil {
			t.Fatalf("%q decoded as %#v", in, v)
		}
		compareCache(t, &c, []byte(`{"a": 1, "x": "y"}`))
	}
}

// A Cache keeps the stack of array elements between documents, but not
// the stack one huge array needed: it would stay for the whole read.
func TestCacheDropsAHugeElementStack(t *testing.T) {
	var c Cache
	if _, err := c.Decode([]byte(`[1,2,3]`)); err != nil {
		t.Fatal(err)
	}
	if cap(c.elems) == 0 || cap(c.elems) > maxKeptElems {
		t.Fatalf("after a small array the cache keeps %d elements; want a small stack kept", cap(c.elems))
	}
	huge := []byte("[" + strings.Repeat("1,", 2*maxKeptElems) + "1]")
	if _, err := c.Decode(huge); err != nil {
		t.Fatal(err)
	}
	if cap(c.elems) > maxKeptElems {
		t.Fatalf("after an array of %d elements the cache keeps a stack of %d", 2*maxKeptElems+1, cap(c.elems))
	}
}
