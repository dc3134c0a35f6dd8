package redact

import (
	"errors"
	"io"
	"reflect"
	"testing"
)

func TestString(t *testing.T) {
	r := New("abc", "abcdef", `q"x`, "a&b", "")
	tests := []struct{ in, want string }{
		{"token abcdef!", "token REDACTED!"},
		{"abc and abcdef", "REDACTED and REDACTED"},
		{`{"v":"q\"x"}`, `{"v":"REDACTED"}`},
		{"q%22x", "REDACTED"},
		{`"a\u0026b"`, `"REDACTED"`},
		{"nothing here", "nothing here"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCutExcerpt: an excerpt cut in the middle of a secret keeps none of
// it, whichever mark ends the excerpt.
func TestCutExcerpt(t *testing.T) {
	cut := New("secret-value")
	for in, want := range map[string]string{
		"token secret-va... (more)": "token REDACTED... (more)",
		"token secret-va…":          "token REDACTED…",
		"token sec...":              "token sec...", // too short to tell
		"wait... what":              "wait... what",
		"secret-value...":           "REDACTED...",
	} {
		if got := cut.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var r *Redactor
	if got := r.String("x"); got != "x" {
		t.Errorf("nil redactor changed the text: %q", got)
	}
	if !r.Empty() || !New("").Empty() || New("s3cret").Empty() {
		t.Error("Empty is wrong")
	}
	if got := r.With("s3cret").String("a s3cret"); got != "a REDACTED" {
		t.Errorf("nil.With: %q", got)
	}
}

func TestWith(t *testing.T) {
	r := New("first-secret").With("second-secret")
	if got := r.String("first-secret second-secret"); got != "REDACTED REDACTED" {
		t.Errorf("got %q", got)
	}
}

func TestBytesAndError(t *testing.T) {
	r := New("s3cret")
	clean := []byte("nothing")
	if got := r.Bytes(clean); &got[0] != &clean[0] {
		t.Error("Bytes copied a body without secrets")
	}
	if got := string(r.Bytes([]byte(`{"t":"s3cret"}`))); got != `{"t":"REDACTED"}` {
		t.Errorf("Bytes: %q", got)
	}
	err := r.Error(errors.Join(errors.New("token s3cret"), io.EOF))
	if err.Error() != "token REDACTED\nEOF" || !errors.Is(err, io.EOF) {
		t.Errorf("Error: %v (is EOF: %v)", err, errors.Is(err, io.EOF))
	}
	if r.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

// TestValue: every string of a decoded JSON value is redacted, keys too,
// and the value given is never changed.
func TestValue(t *testing.T) {
	r := New("s3cret")
	in := map[string]any{
		"tok":    "s3cret",
		"n":      1.5,
		"list":   []any{"a", "x-s3cret-y", map[string]any{"s3cret": true}},
		"nested": map[string]any{"ok": "plain"},
	}
	got := r.Value(in)
	want := map[string]any{
		"tok":    "REDACTED",
		"n":      1.5,
		"list":   []any{"a", "x-REDACTED-y", map[string]any{"REDACTED": true}},
		"nested": map[string]any{"ok": "plain"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Value = %#v, want %#v", got, want)
	}
	if in["tok"] != "s3cret" || in["list"].([]any)[1] != "x-s3cret-y" {
		t.Errorf("Value changed its input: %#v", in)
	}
	plain := map[string]any{"a": "b"}
	if got := r.Value(plain).(map[string]any); reflect.ValueOf(got).Pointer() != reflect.ValueOf(plain).Pointer() {
		t.Error("Value copied a value without secrets")
	}
}
