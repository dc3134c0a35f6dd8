package sqlconn

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/jsonx"
)

// TestDecodeJSONLikeJsonx: the column decoder gives what jsonx.Decode
// gives, values and errors alike.
func TestDecodeJSONLikeJsonx(t *testing.T) {
	good := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5`, `-12e3`, `1E+2`, `"x"`, `""`,
		` { "a" : [1, 2.5, "x", null, true, {"b": {}}], "n": 12345678901234567890, "m": 9007199254740993 } `,
		`{"big": 1e400, "small": -9007199254740992, "s": "caf\u00e9 \"q\" \\ \n", "u": "héllo", "tab": "a\tb"}`,
		`[[[[1]]], [], {}]`, `{"a": 1, "a": 2}`, `"\ud83d\ude00"`, `123456789012345`, `1234567890123456`,
	}
	for _, in := range good {
		want, err := jsonx.Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: jsonx: %v", in, err)
		}
		got, err := decodeJSON([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v\nwant %#v", in, got, want)
		}
	}
	bad := []string{``, `{`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `01`, `1.`, `-`, `1e`, `tru`, `nul`, `"abc`, "\"a\x01\"", `{} x`, `[1 2]`, `{1: 2}`, `+1`, `.5`}
	for _, in := range bad {
		if _, err := jsonx.Decode([]byte(in)); err == nil {
			t.Fatalf("%q: jsonx accepts it", in)
		}
		if v, err := decodeJSON([]byte(in)); err == nil {
			t.Fatalf("%q: decoded as %#v", in, v)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	in := []byte(`{"name": "Customer 17", "country": "DE", "lines": [{"sku": "SKU-17", "qty": 3, "price": 19.90}]}`)
	b.Run("column", func(b *testing.B) {
		for b.Loop() {
			decodeJSON(in)
		}
	})
	b.Run("jsonx", func(b *testing.B) {
		for b.Loop() {
			jsonx.Decode(in)
		}
	})
}

// canonicalDecimal drops a plus sign, leading zeros and the zeros ending
// a fraction: "+012.50" is "12.5", the way strconv writes the same value
// (the reference sameDecimal is checked against).
func canonicalDecimal(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || s[0] == '.' {
		s = "0" + s
	}
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// TestSameDecimal: comparing strconv's form with a decimal's canonical
// form in place agrees with building the canonical form.
func TestSameDecimal(t *testing.T) {
	decimals := []string{"0", "-0", "0.00", "-0.00", "+0", "12.50", "+012.50", "-012.50", "1", "-1", "100", "100.000",
		".5", "-.5", "0.1", "0.10000000000000001", "123456789012345678", "9007199254740993", "1e5", "1.5E3",
		"-9007199254740992", "20.19", "-20.10", "00", "1.", "-1.0", "3.14159265358979323846"}
	for _, s := range decimals {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		formatted := strconv.FormatFloat(f, 'f', -1, 64)
		want := formatted == canonicalDecimal(s)
		if got := sameDecimal([]byte(formatted), s); got != want {
			t.Errorf("sameDecimal(%q, %q) = %v, want %v (canonical %q)", formatted, s, got, want, canonicalDecimal(s))
		}
	}
}

// TestJSONCacheLikeDecode: decoding through the read's cache gives what
// decodeJSON gives, document after document, and shares no object or
// array between documents (a step may change one record's).
func TestJSONCacheLikeDecode(t *testing.T) {
	var c jsonCache
	docs := []string{
		`{"name": "Customer 17", "country": "DE", "n": 1, "big": 12345678901234567890}`,
		`{"name": "Customer 18", "country": "DE", "n": 1, "big": 12345678901234567890}`,
		`[{"sku": "SKU-1", "qty": 3, "price": 19.90, "tags": []}, "caf\u00e9", "héllo", "a\"b"]`,
		`[{"sku": "SKU-1", "qty": 3, "price": 19.90, "tags": []}, "caf\u00e9", "héllo", "a\"b"]`,
		`"DE"`, `3`, `19.90`, `{"DE": "country"}`, `{"\u0041": 1, "A": 2}`,
	}
	var prev any
	for i, in := range docs {
		want, err := decodeJSON([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("doc %d %s:\n got %#v\nwant %#v", i, in, got, want)
		}
		if i == 3 {
			a, b := prev.([]any), got.([]any)
			a[0].(map[string]any)["sku"] = "changed"
			if b[0].(map[string]any)["sku"] != "SKU-1" {
				t.Fatal("two documents share an object")
			}
		}
		prev = got
	}
	// More distinct values than slots: replaced slots give the right
	// values still.
	for i := range 5000 {
		in := fmt.Sprintf(`{"name": "Customer %d", "n": %d, "k%d": "%d", "f": %d.5}`, i%3000, i%2000, i%700, i%1500, i%900)
		want, _ := decodeJSON([]byte(in))
		got, err := c.decode([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v (%v)\nwant %#v", in, got, err, want)
		}
	}
	for _, in := range []string{`{"a": 01}`, `["x", "y`, `{"a": 1,}`} {
		if _, err := c.decode([]byte(in)); err == nil {
			t.Fatalf("%q decoded", in)
		}
	}
}
