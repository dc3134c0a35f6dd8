package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

// decodeCases are the edge cases of the decoder, valid and not; the
// fuzz test starts from them too.
var decodeCases = []string{
	// values and whitespace
	`null`, `true`, `false`, `""`, `0`, `-0`, `{}`, `[]`, ` {"a" : [ 1 , 2 ] } `, "\t\r\n[]\n",
	`{"a":{},"b":[],"c":[{}],"d":[[]]}`, `[null,true,false,"",0,{"x":null}]`,
	// numbers: float64 where exact, json.Number where not
	`1`, `-1`, `123456789012345`, `-12345678901234`, `1234567890123456`, `-123456789012345`,
	`9007199254740992`, `9007199254740993`, `-9007199254740992`, `-9007199254740993`,
	`99999999999999999999`, `-99999999999999999999`, `1.5`, `-0.0`, `0.1`, `19.90`, `1e3`, `1E+3`, `1e-3`,
	`2.5e-324`, `1e-400`, `1e400`, `-1e400`, `1.7976931348623157e308`, `1.8e308`, `123456789012345.0`,
	`0.30000000000000004`, `100000000000000000000000`, `[1e400,9007199254740993,1]`,
	// strings: escapes, surrogates, invalid UTF-8
	`"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u65E5"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
	`"\ud83d\u0041"`, `"\ud83dx"`, `"\ud83d\ud83d\ude00"`, `"\u0000"`, `"é日本😀"`, "\"a\xffb\"",
	"\"\xed\xa0\x80\"", "\"\xc3\"", "\"\xf0\x9f\x98\"", "\"\xef\xbf\xbd\"", "\"\x7f\"", `"\u2028"`,
	"{\"k\xff\":1,\"k\\u00e9\":2,\"\\ud83d\":3}",
	// duplicate keys: the last wins
	`{"a":1,"a":2}`, `{"a":{"x":1},"b":2,"a":[3]}`,
	// records of a page: repeated keys, in another order, with escapes
	`[{"id":1,"n":"a"},{"id":2,"n":"b"},{"n":"c","id":3},{"id":4},{"id":5,"n":"e","x":true},{"i\u0064":6}]`,
	// malformed
	``, ` `, `{`, `[`, `"`, `"abc`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `[1,`, `[1`, `{"a" 1}`,
	`{a:1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `01`, `-`, `-a`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`,
	`NaN`, `Infinity`, `tru`, `truex`, `nul`, `nulll`, `fals`, `[true false]`, `{"a":1}}`, `[1]]`,
	`{"a":1} {"b":2}`, `{"a":1} x`, `1 2`, `"a" "b"`, "\"a\x01b\"", "\"a\nb\"", "\"\x1f\"", "\"\x00\"", `"\x"`, `"\'"`,
	`"\u12"`, `"\u12g4"`, `"\ud83d\u12"`, `"\`, "\xef\xbb\xbf{}", "{}\x00", `[1,2]x`, `{"a":1]`, `[1}`,
	"\x80", `'a'`,
}

func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		compareWithStd(t, []byte(c))
	}
	compareWithStd(t, orderRecord(1))
	compareWithStd(t, orderPage(50)) // strings across chunks
	long := strings.Repeat("x", chunkSize)
	compareWithStd(t, []byte(`["`+long[:chunkSize/2]+`","`+long+`","y","`+long[:chunkSize-3]+`"]`))
}

// Callers reuse their buffers (a reader's line, a page's body): the
// decoded strings must not share memory with the input.
func TestDecodeCopiesInput(t *testing.T) {
	data := orderRecord(42)
	v, err := DecodeObject(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if v["email"] != "customer42@example.com" || v["customer"].(map[string]any)["country"] != "DE" {
		t.Fatalf("decoded strings changed with the input: %v", v)
	}
}

// compareWithStd checks parse and Decode against encoding/json (decodeStd):
// the same values, of the same types, and the same errors. parse must
// accept exactly what encoding/json accepts, or Decode would decode valid
// input twice.
func compareWithStd(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := decodeStd(data)
	got, ok := parse(data, nil)
	if !ok && wantErr == nil && nesting(want) > maxParseDepth {
		compareDecode(t, data) // left to encoding/json
		return
	}
	if ok != (wantErr == nil) {
		t.Fatalf("%.200q: parse ok=%v, encoding/json error %v", data, ok, wantErr)
	}
	if ok && !same(got, want) {
		t.Fatalf("%.200q:\n parse %#v\n  want %#v", data, got, want)
	}
	compareDecode(t, data)
}

// compareDecode checks Decode against decodeStd.
func compareDecode(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := decodeStd(data)
	got, err := Decode(data)
	if fmtErr(err) != fmtErr(wantErr) || !same(got, want) {
		t.Fatalf("%.200q: Decode = %#v, %v; want %#v, %v", data, got, err, want, wantErr)
	}
	var syn, wantSyn *json.SyntaxError
	if errors.As(wantErr, &wantSyn) && (!errors.As(err, &syn) || syn.Offset != wantSyn.Offset) {
		t.Fatalf("%.200q: Decode error %#v; want %#v", data, err, wantErr)
	}
}

// nesting is the depth of arrays and objects in v.
func nesting(v any) int {
	deepest := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			deepest = max(deepest, nesting(e))
		}
	case []any:
		for _, e := range x {
			deepest = max(deepest, nesting(e))
		}
	default:
		return 0
	}
	return deepest + 1
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// same is reflect.DeepEqual made strict where it is not: -0 and 0 differ,
// and a nil slice or map differs from an empty one.
func same(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !same(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || (x == nil) != (y == nil) || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case string, json.Number, bool, nil:
		return a == b
	}
	return false
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`-0`, math.Copysign(0, -1)},
		{`123456789012345`, 123456789012345.0},
		{`9007199254740992`, 9007199254740992.0},
		{`9007199254740993`, json.Number("9007199254740993")},
		{`1e400`, json.Number("1e400")},
		{`19.90`, 19.9},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d"`, "\ufffd"},
		{`"\ud83d\u0041"`, "\ufffdA"},
		{"\"a\xffb\"", "a\ufffdb"},
		{"\"\xed\xa0\x80\"", "\ufffd\ufffd\ufffd"},
		{`{"a":1,"a":2}`, map[string]any{"a": 2.0}},
		{`[]`, []any{}},
		{`[{},[]]`, []any{map[string]any{}, []any{}}},
		{`[{"id":1},{"id":2,"x":"y"},{"x":"z"}]`, []any{map[string]any{"id": 1.0}, map[string]any{"id": 2.0, "x": "y"}, map[string]any{"x": "z"}}},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if err != nil || !same(got, tt.want) {
			t.Errorf("Decode(%s) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

// Callers read the errors' types: the offset of a *json.SyntaxError (as a
// line and column), io.ErrUnexpectedEOF for a truncated value.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int64 // of a *json.SyntaxError; 0: another error
		is     error
		text   string
	}{
		{in: `{"a":1,}`, offset: 8},
		{in: "[1,\n 2 x]", offset: 8},
		{in: "\"a\x01\"", offset: 3},
		{in: `{"a":`, is: io.ErrUnexpectedEOF},
		{in: ``, is: io.EOF},
		{in: `{"a":1} {"b":2}`, text: "invalid data after the JSON value at offset 8"}, // where the second value starts
		{in: `01`, text: "invalid data after the JSON value at offset 1"},
		{in: "[1]\n\t x", text: "invalid data after the JSON value at offset 6"},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in))
		var syn *json.SyntaxError
		switch {
		case err == nil:
			t.Errorf("Decode(%q): no error", tt.in)
		case tt.offset != 0 && (!errors.As(err, &syn) || syn.Offset != tt.offset):
			t.Errorf("Decode(%q) = %v; want a syntax error at offset %d", tt.in, err, tt.offset)
		case tt.is != nil && !errors.Is(err, tt.is):
			t.Errorf("Decode(%q) = %v; want %v", tt.in, err, tt.is)
		case tt.text != "" && err.Error() != tt.text:
			t.Errorf("Decode(%q) = %v; want %s", tt.in, err, tt.text)
		}
	}
}

// Nesting deeper than parse takes is decoded by encoding/json, up to its
// own limit.
func TestDecodeDeep(t *testing.T) {
	for _, depth := range []int{maxParseDepth, maxParseDepth + 1, 10000, 10001} {
		compareWithStd(t, []byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)))
		compareWithStd(t, []byte(strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)))
		compareWithStd(t, []byte(strings.Repeat("[", depth)+strings.Repeat("]", depth-1)))
	}
}

func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	f.Add(orderRecord(7))
	f.Add(orderPage(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		compareWithStd(t, data)
		compareCache(t, new(Cache), data)
	})
}

// Counting keys ahead reads each byte a bounded number of times however
// deep the input: objects 500 levels deep made every level read the
// levels below it again.
func TestKeyCountingStaysLinear(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500)
	page := "[" + strings.Repeat(deep+",", 200) + deep + "]"
	p := parser{data: []byte(page)}
	if _, ok := p.value(); !ok {
		t.Fatal("the page did not parse")
	}
	if limit := len(p.sizes) * len(page); p.counted > limit {
		t.Errorf("counting keys read %d bytes of a %d-byte page, want at most %d", p.counted, len(page), limit)
	}
}

// A huge object does not size the maps of the small objects after it.
func TestSizeHintCarriedOverIsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(`[{`)
	for i := range 5000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString(`}]`)
	p := parser{data: []byte(b.String())}
	if _, ok := p.value(); !ok {
		t.Fatal("did not parse")
	}
	p.depth = 2 // where a second object would be read
	if got := p.sizeHint(); got > maxCarriedHint {
		t.Errorf("size hint %d after an object of 5000 keys, want at most %d", got, maxCarriedHint)
	}
}
