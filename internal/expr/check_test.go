package expr

import (
	"encoding/json"
	"strings"
	"testing"
)

// A call to a function that does not exist fails at compile time (at
// load), with a suggestion; it used to compile and fail on every record.
func TestUnknownFunctionFailsAtCompile(t *testing.T) {
	cases := []struct{ src, want string }{
		{"uppper(name)", "unknown function uppper() (at column 1); did you mean upper()?"},
		{`name + "-" + lowr(city)`, "unknown function lowr()"},
		{"filter(items, frobnicate(#))", "unknown function frobnicate()"},
		{"nosuchthing(1)", "unknown function nosuchthing() (at column 1)"},
	}
	for _, c := range cases {
		_, err := Compile(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.src, err, c.want)
		}
	}
	for _, ok := range []string{"upper(name)", "string(id)", "len(items) > 0", "now()", "trim(lower(email))", "customer.email"} {
		if _, err := Compile(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if _, err := CompileTemplate("/orders/${uppper(key)}"); err == nil || !strings.Contains(err.Error(), "unknown function uppper()") {
		t.Errorf("template: %v", err)
	}
}

// % works on JSON numbers (float64 without fraction) and on big integers
// kept as json.Number; fractions fail with the reason.
func TestModuloOnWholeNumbers(t *testing.T) {
	env := map[string]any{"id": float64(7), "neg": float64(-7), "big": json.Number("9007199254740993"), "half": 7.5, "n": 3}
	cases := []struct {
		src  string
		want any
	}{
		{"id % 2", 1},
		{"id % 2 == 1", true},
		{"neg % 2", -1},
		{"n % 2", 1},
		{"10 % 4", 2},
		{"big % 10", 3},
		{"id % 2.0", 1},
	}
	for _, c := range cases {
		p, err := Compile(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		got, err := p.Eval(env)
		if err != nil || got != c.want {
			t.Errorf("%s = %v (%T), %v; want %v", c.src, got, got, err, c.want)
		}
	}
	for src, want := range map[string]string{"half % 2": "whole numbers only, got 7.5", "id % 0": "% by zero", "missing % 2": "got nil"} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := p.Eval(env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", src, err, want)
		}
	}
	// A literal fraction can never work: refused at compile time.
	if _, err := Compile("id % 2.5"); err == nil || !strings.Contains(err.Error(), "% works on whole numbers only, and 2.5 is not one") {
		t.Errorf("id %% 2.5: %v", err)
	}
}
