package expr

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestTemplates(t *testing.T) {
	env := map[string]any{"key": "A/1 ?x", "id": float64(12345678), "total": 19.5, "m": map[string]any{"a": "b"}, "nothing": nil}
	cases := []struct {
		src, want string
	}{
		{"/orders", "/orders"},
		{"/orders/${id}/status", "/orders/12345678/status"},
		{"${total * 2}", "39"},
		{"$${literal}", "${literal}"},
		{`${ m["a"] + "}" }`, "b}"},
		{"${ {'x': 1}.x }", "1"},
		{"[${nothing}]", "[]"},
		{"${id}-${total}", "12345678-19.5"},
	}
	for _, c := range cases {
		tpl, err := CompileTemplate(c.src)
		if err != nil {
			t.Fatalf("%q: %v", c.src, err)
		}
		got, err := tpl.Render(env)
		if err != nil || got != c.want {
			t.Errorf("%q rendered %q (%v), want %q", c.src, got, err, c.want)
		}
	}
}

func TestRenderEscapedEscapesValuesOnly(t *testing.T) {
	tpl, err := CompileTemplate("/orders/${key}/status")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.RenderEscaped(map[string]any{"key": "A/1 ?x"}, url.PathEscape)
	if err != nil || got != "/orders/A%2F1%20%3Fx/status" {
		t.Fatalf("got %q (%v)", got, err)
	}
}

func TestValueKeepsType(t *testing.T) {
	tpl, _ := CompileTemplate("${total}")
	v, err := tpl.Value(map[string]any{"total": 4.5})
	if err != nil || v != 4.5 {
		t.Fatalf("got %#v (%v), want 4.5", v, err)
	}
	tpl, _ = CompileTemplate("n=${total}")
	v, _ = tpl.Value(map[string]any{"total": 4.5})
	if v != "n=4.5" {
		t.Fatalf("got %#v, want a string", v)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"empty", func() error { _, err := Compile("  "); return err }, "empty expression"},
		{"syntax", func() error { _, err := Compile("total * "); return err }, `expression "total * "`},
		{"unclosed", func() error { _, err := CompileTemplate("/x/${key"); return err }, "unclosed ${"},
		{"not bool", func() error {
			p, _ := Compile("total")
			_, err := p.Bool(map[string]any{"total": 3.0})
			return err
		}, "expected true or false, got float64"},
		{"runtime", func() error {
			p, _ := Compile("total / x.y.z")
			_, err := p.Eval(map[string]any{"total": 3.0})
			return err
		}, `evaluate "total / x.y.z"`},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestStringify(t *testing.T) {
	cases := map[any]string{nil: "", "x": "x", float64(1e7): "10000000", 2.5: "2.5", true: "true", 7: "7"}
	for in, want := range cases {
		if got := Stringify(in); got != want {
			t.Errorf("Stringify(%#v) = %q, want %q", in, got, want)
		}
	}
}

func TestStringFormatsNumbersWithoutExponent(t *testing.T) {
	p, err := Compile(`string(id) + "/" + string(total) + "/" + string(name)`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Eval(map[string]any{"id": float64(1042000), "total": 19.5, "name": "x"})
	if err != nil || v != "1042000/19.5/x" {
		t.Fatalf("got %#v (%v), want 1042000/19.5/x", v, err)
	}
}

// A field reference is read from the record directly; where the field is
// missing, or the expression is more than a reference, the program runs,
// so both give what the program gives.
func TestFieldReferencesMatchTheProgram(t *testing.T) {
	env := map[string]any{
		"email":    "a@example.com",
		"customer": map[string]any{"country": "NL", "address": map[string]any{"city": "Utrecht"}},
		"tags":     []any{"x"},
		"nothing":  nil,
		"len":      "a field named like a builtin",
	}
	for _, tc := range []struct {
		src  string
		fast bool // a field reference (read directly when it is there)
		want any
	}{
		{"email", true, "a@example.com"},
		{"customer.country", true, "NL"},
		{`customer["country"]`, true, "NL"},
		{"customer.address.city", true, "Utrecht"},
		{"nothing", true, nil},
		{"missing", true, nil},
		{"customer.missing", true, nil},
		{"customer?.country", false, "NL"},
		{"len(tags)", false, 1},
		{`email + ""`, false, "a@example.com"},
	} {
		p, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if fast := p.path != nil; fast != tc.fast {
			t.Errorf("%s: field reference = %v, want %v", tc.src, fast, tc.fast)
		}
		got, err := p.Eval(env)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		slow, err := (&Program{src: p.src, prog: p.prog}).Eval(env)
		if err != nil {
			t.Fatalf("%s (program): %v", tc.src, err)
		}
		if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(got, slow) {
			t.Errorf("%s = %#v, program %#v, want %#v", tc.src, got, slow, tc.want)
		}
	}
	// Through a value that is not an object, the program decides (an error).
	p, _ := Compile("email.domain")
	if _, err := p.Eval(env); err == nil {
		t.Error("email.domain over a string: no error")
	}
}
