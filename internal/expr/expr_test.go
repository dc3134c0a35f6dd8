package expr

import (
	"net/url"
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
