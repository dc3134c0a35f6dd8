package jsonx

import (
	"encoding/json"
	"math"
	"testing"
)

// Every value must encode exactly as encoding/json with SetEscapeHTML(false)
// would, and decode back to the same value.
func TestMatchesEncodingJSON(t *testing.T) {
	docs := []string{
		`{"id":12345678,"total":19.9,"neg":-0.5,"tiny":1e-7,"huge":1e21,"zero":0}`,
		`{"s":"quote \" backslash \\ tab \t newline \n ctl \u0001 uni é 日本 \u2028 <>&"}`,
		`{"nested":{"b":[1,"x",null,true,false,{"z":[]}],"a":{}},"empty":"","arr":[]}`,
		`[1,2,3]`, `"plain"`, `null`, `true`, `3.14`,
	}
	for _, d := range docs {
		var v any
		if err := json.Unmarshal([]byte(d), &v); err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		want, _ := json.Marshal(v)
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if string(ga) != string(gb) {
			t.Errorf("%s:\n got %s\nwant %s", d, got, want)
		}
	}
}

func TestSortedKeysAndNumbers(t *testing.T) {
	got, _ := Marshal(map[string]any{"b": 1.0, "a": float64(12345678), "c": 1e21, "d": int64(7)})
	if string(got) != `{"a":12345678,"b":1,"c":1e+21,"d":7}` {
		t.Fatalf("got %s", got)
	}
}

func TestInvalidUTF8AndUnsupported(t *testing.T) {
	got, _ := Marshal("a\xffb")
	if string(got) != `"a\ufffdb"` {
		t.Fatalf("got %s", got)
	}
	if _, err := Marshal(math.Inf(1)); err == nil {
		t.Fatal("Inf encoded without error")
	}
	type other struct{ X int }
	got, err := Marshal(map[string]any{"o": other{X: 1}})
	if err != nil || string(got) != `{"o":{"X":1}}` {
		t.Fatalf("fallback: %s %v", got, err)
	}
}

var sample = func() any {
	var v any
	json.Unmarshal([]byte(`{"id":12345,"number":"SO-12345","email":"customer2345@example.com","status":"paid","total":365.45,"currency":"EUR","customer":{"name":"Customer 2345","country":"DE"},"lines":[{"sku":"SKU-2345","qty":3,"price":19.90}],"updated_at":"2026-01-01T00:00:00Z"}`), &v)
	return v
}()

func BenchmarkMarshal(b *testing.B) {
	for b.Loop() {
		Marshal(sample)
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	for b.Loop() {
		json.Marshal(sample)
	}
}

func TestDecodeKeepsInexactNumbers(t *testing.T) {
	v, err := DecodeObject([]byte(`{"small":12,"frac":19.9,"big":9007199254740993,"huge":1e400,"list":[9007199254740993,1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v["small"] != 12.0 || v["frac"] != 19.9 {
		t.Fatalf("small numbers must be float64: %#v %#v", v["small"], v["frac"])
	}
	if v["big"] != json.Number("9007199254740993") || v["huge"] != json.Number("1e400") || v["list"].([]any)[0] != json.Number("9007199254740993") {
		t.Fatalf("inexact numbers must stay json.Number: %#v", v)
	}
	b, _ := Marshal(v)
	if string(b) != `{"big":9007199254740993,"frac":19.9,"huge":1e400,"list":[9007199254740993,1],"small":12}` {
		t.Fatalf("round trip: %s", b)
	}
	for _, bad := range []string{`{"a":1} {"b":2}`, `[1,2]`, `{"a":`} {
		if _, err := DecodeObject([]byte(bad)); err == nil {
			t.Errorf("DecodeObject(%s) gave no error", bad)
		}
	}
}
