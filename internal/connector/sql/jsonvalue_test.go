package sqlconn

import (
	"reflect"
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
