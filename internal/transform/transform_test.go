package transform

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/ferry-dev/ferry/internal/config"
)

// steps decodes YAML steps the way the config loader does.
func steps(t testing.TB, src string) []config.Step {
	t.Helper()
	var s []config.Step
	if err := yaml.Unmarshal([]byte(src), &s); err != nil {
		t.Fatalf("decode steps: %v", err)
	}
	return s
}

// order is a fresh sample record decoded from JSON, as the engine sees it.
func order(t testing.TB) map[string]any {
	t.Helper()
	var rec map[string]any
	err := json.Unmarshal([]byte(`{
		"id": 1001, "number": "SO-1001", "email": "ada@example.com", "status": "paid",
		"total": 1234.5, "currency": "EUR",
		"customer": {"name": "Ada", "country": "DE"},
		"lines": [{"sku": "A-1", "qty": 2, "price": 617.25}]
	}`), &rec)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var testVars = map[string]any{"key": "1001", "cursor": "", "entry": map[string]any{"id": int64(7), "version": int64(1), "attempts": 0}}

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		steps string
		edit  func(map[string]any) // changes the sample record first
		want  string               // JSON of the record; "" when not checked
		dest  string
		skip  string // expected SkipReason
		err   string // expected substring of Err
		inval bool
	}{
		{name: "no steps", steps: `[]`, want: jsonOf(t, order(t))},
		{name: "filter keeps", steps: `[{filter: 'status != "cancelled"'}]`, want: jsonOf(t, order(t))},
		{name: "filter skips", steps: `[{filter: 'status != "cancelled"'}]`,
			edit: func(r map[string]any) { r["status"] = "cancelled" },
			skip: `filter "status != \"cancelled\""`},
		{name: "filter sees vars", steps: `[{filter: 'key == "1001" && entry.version == 1'}]`, want: jsonOf(t, order(t))},
		{name: "vars win over fields", steps: `[{map: {k: key}}]`,
			edit: func(r map[string]any) { r["key"] = "from record" }, want: `{"k":"1001"}`},
		{name: "$env sees vars", steps: `[{map: {k: '$env.key', n: '$env["number"]'}}]`, want: `{"k":"1001","n":"SO-1001"}`},
		{name: "validate message reads vars", steps: `[{validate: {if: 'false', message: "entry ${entry.id} of ${key}"}}]`,
			err: "entry 7 of 1001", inval: true},
		{name: "filter not bool", steps: `[{filter: 'total'}]`,
			err: `steps[0].filter: evaluate "total": expected true or false, got float64`},
		{name: "filter runtime error", steps: `[{filter: 'total / 0 > 1 && customer.name.x == 1'}]`,
			err: `steps[0].filter: evaluate`},
		{name: "map builds a new record", steps: `
- map:
    external_id: string(id)
    total_cents: int(total * 100)
    customer: { name: customer.name, country: customer.country, vip: true }
    tags: [ '"web"', currency ]
    source: 1`,
			want: `{"customer":{"country":"DE","name":"Ada","vip":true},"external_id":"1001","source":1,"tags":["web","EUR"],"total_cents":123450}`},
		{name: "map runtime error", steps: `[{set: {x: 1}}, {map: {total_cents: 'int(total * 100)', bad: 'customer.name + 1'}}]`,
			err: `steps[1].map.bad: evaluate "customer.name + 1"`},
		{name: "set adds and changes", steps: `[{set: {currency: '"USD"', note: '"n-" + number'}}]`,
			edit: func(r map[string]any) { keepOnly(r, "currency", "number") },
			want: `{"currency":"USD","note":"n-SO-1001","number":"SO-1001"}`},
		{name: "set evaluates before writing", steps: `[{set: {a: 'total', total: '1'}}]`,
			edit: func(r map[string]any) { clear(r); r["total"] = 5.0 }, want: `{"a":5,"total":1}`},
		{name: "set dotted into existing object", steps: `[{set: {customer.email: email}}]`,
			edit: func(r map[string]any) { keepOnly(r, "email", "customer") },
			want: `{"customer":{"country":"DE","email":"ada@example.com","name":"Ada"},"email":"ada@example.com"}`},
		{name: "set dotted creates objects", steps: `[{set: {a.b.c: '1'}}]`,
			edit: func(r map[string]any) { clear(r) }, want: `{"a":{"b":{"c":1}}}`},
		{name: "set dotted through a scalar", steps: `[{set: {email.domain: '"x"'}}]`,
			err: `steps[0].set.email.domain: cannot set a field inside "email": it is a string, not an object`},
		{name: "set nested map value", steps: `[{set: {ship: {to: customer.name}}}]`,
			edit: func(r map[string]any) { clear(r); r["customer"] = map[string]any{"name": "Ada"} },
			want: `{"customer":{"name":"Ada"},"ship":{"to":"Ada"}}`},
		{name: "set runtime error", steps: `[{set: {x: 'lines[0].qty + "a"'}}]`, err: `steps[0].set.x: evaluate`},
		{name: "drop top level and dotted", steps: `[{drop: [lines, customer.country, missing, total.x, a.b.c]}]`,
			edit: func(r map[string]any) {
				clear(r)
				r["lines"] = 1
				r["total"] = 2
				r["customer"] = map[string]any{"name": "Ada", "country": "DE"}
			},
			want: `{"customer":{"name":"Ada"},"total":2}`},
		{name: "validate passes", steps: `[{validate: {if: 'email != ""', message: "no mail"}}]`, want: jsonOf(t, order(t))},
		{name: "validate fails with template", steps: `[{validate: {if: 'email != ""', message: "order ${number} has no e-mail"}}]`,
			edit: func(r map[string]any) { r["email"] = "" }, err: "order SO-1001 has no e-mail", inval: true},
		{name: "validate default message", steps: `[{validate: {if: 'total < 100'}}]`,
			err: "validation failed: total < 100", inval: true},
		{name: "validate not bool", steps: `[{validate: {if: 'email'}}]`,
			err: `steps[0].validate.if: evaluate "email": expected true or false, got string`},
		{name: "validate message fails to render", steps: `[{validate: {if: 'false', message: "bad ${total + \"x\"}"}}]`,
			err: "validation failed: false (steps[0].validate.message:", inval: true},
		{name: "switch first match wins", steps: `
- switch:
    - when: total > 1000
      to: large
    - when: total > 10
      to: medium`, want: jsonOf(t, order(t)), dest: "large"},
		{name: "switch default", steps: `
- switch:
    - when: total > 100000
      to: large
    - to: small`, dest: "small"},
		{name: "switch no match continues", steps: `
- switch:
    - when: total > 100000
      to: large
- set: {after: '1'}`, edit: func(r map[string]any) { clear(r); r["total"] = 1 }, want: `{"after":1,"total":1}`},
		{name: "switch case steps and nested switch", steps: `
- switch:
    - when: customer.country == "DE"
      to: eu
      steps:
        - set: {region: '"eu"'}
        - switch:
            - when: total > 1000
              to: eu_large
              steps: [{drop: [lines]}]
    - to: world
- set: {done: 'region + "!"'}`,
			edit: func(r map[string]any) { keepOnly(r, "total", "customer", "lines") },
			want: `{"customer":{"country":"DE","name":"Ada"},"done":"eu!","region":"eu","total":1234.5}`, dest: "eu_large"},
		{name: "switch case filter skips", steps: `
- switch:
    - when: 'true'
      steps: [{filter: 'false'}]`, skip: `filter "false"`},
		{name: "switch when not bool", steps: `
- switch:
    - when: 'number'
      to: x`, err: `steps[0].switch[0].when: evaluate "number": expected true or false, got string`},
		{name: "nested step error names the path", steps: `
- switch:
    - when: 'true'
      steps: [{set: {x: 'true'}}, {map: {y: 'x + 1'}}]`, err: `steps[0].switch[0].steps[1].map.y: evaluate "x + 1"`},
		{name: "steps after map see the new record", steps: `[{map: {n: 'total'}}, {filter: 'n > 1000 && status == nil'}]`, want: `{"n":1234.5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(steps(t, tt.steps))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			rec := order(t)
			if tt.edit != nil {
				tt.edit(rec)
			}
			before := jsonOf(t, rec)
			out := p.Apply(rec, testVars)
			if got := jsonOf(t, rec); got != before {
				t.Errorf("input record changed:\n got %s\nwant %s", got, before)
			}
			switch {
			case tt.err != "":
				if out.Err == nil || !strings.Contains(out.Err.Error(), tt.err) {
					t.Fatalf("Err = %v, want it to contain %q", out.Err, tt.err)
				}
				if out.Invalid != tt.inval {
					t.Errorf("Invalid = %v, want %v", out.Invalid, tt.inval)
				}
				return
			case out.Err != nil:
				t.Fatalf("Err = %v", out.Err)
			}
			if out.Skipped != (tt.skip != "") || out.SkipReason != tt.skip {
				t.Fatalf("Skipped = %v %q, want reason %q", out.Skipped, out.SkipReason, tt.skip)
			}
			if out.Destination != tt.dest {
				t.Errorf("Destination = %q, want %q", out.Destination, tt.dest)
			}
			if tt.want != "" {
				if got := jsonOf(t, out.Record); got != tt.want {
					t.Errorf("Record:\n got %s\nwant %s", got, tt.want)
				}
			}
		})
	}
}

// keepOnly deletes every other field of r, in place.
func keepOnly(r map[string]any, keep ...string) {
	for k := range r {
		if !contains(keep, k) {
			delete(r, k)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name, steps, want string
	}{
		{"map expression", `[{filter: 'true'}, {set: {a: '1'}}, {map: {total_cents: 'int(total * )'}}]`,
			`steps[2].map.total_cents: expression "int(total * )": `},
		{"nested map expression", `[{map: {customer: {name: 'a +'}}}]`, `steps[0].map.customer.name: expression "a +"`},
		{"list item", `[{map: {tags: ['"a"', 'b )']}}]`, `steps[0].map.tags[1]: expression "b )"`},
		{"filter", `[{filter: 'a =='}]`, `steps[0].filter: expression "a =="`},
		{"set", `[{set: {x.y: '(('}}]`, `steps[0].set.x.y: expression "(("`},
		{"set field name", `[{set: {x..y: '1'}}]`, `steps[0].set: field name "x..y": expected names separated by single dots`},
		{"drop field name", `[{drop: [a, '.b']}]`, `steps[0].drop[1]: field name ".b"`},
		{"validate if", `[{validate: {if: 'a ==='}}]`, `steps[0].validate.if: expression "a ==="`},
		{"validate message", `[{validate: {if: 'a', message: 'x ${a +'}}]`, `steps[0].validate.message: template "x ${a +"`},
		{"switch when", `[{switch: [{when: 'a >', to: x}]}]`, `steps[0].switch[0].when: expression "a >"`},
		{"nested step", `[{switch: [{when: 'a', steps: [{filter: 'true'}, {filter: '1 +'}]}]}]`, `steps[0].switch[0].steps[1].filter: expression "1 +"`},
		{"two defaults", `[{switch: [{to: a}, {to: b}]}]`, `steps[0].switch[1]: a second case without when:`},
		{"two kinds", `[{filter: 'true', drop: [a]}]`, `steps[0]: expected exactly one of filter, map, set, drop, validate, switch; found filter and drop`},
		{"no kind", `[{}]`, `steps[0]: expected exactly one of filter, map, set, drop, validate, switch; found none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(steps(t, tt.steps))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant prefix %q", err, tt.want)
			}
		})
	}
}

func TestMapper(t *testing.T) {
	var m map[string]any
	if err := yaml.Unmarshal([]byte(`{qty: qty, unit: '"pcs"', meta: {by: key, n: 2, ok: true, none: null}, list: [1, sku]}`), &m); err != nil {
		t.Fatal(err)
	}
	mp, err := CompileMap(m)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]any{"qty": 5, "sku": "A-1", "key": "A-1"}
	a, err := mp.Apply(env)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"list":[1,"A-1"],"meta":{"by":"A-1","n":2,"none":null,"ok":true},"qty":5,"unit":"pcs"}`
	if got := jsonOf(t, a); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	// A second Apply shares nothing with the first.
	b, _ := mp.Apply(env)
	a["meta"].(map[string]any)["by"] = "changed"
	a["list"].([]any)[0] = "changed"
	if got := jsonOf(t, b); got != want {
		t.Fatalf("second result changed with the first: %s", got)
	}

	if _, err := CompileMap(map[string]any{"a": map[string]any{"b": "x +"}}); err == nil || !strings.HasPrefix(err.Error(), `a.b: expression "x +"`) {
		t.Fatalf("compile error = %v", err)
	}
	bad, _ := CompileMap(map[string]any{"n": "qty + sku"})
	if _, err := bad.Apply(env); err == nil || !strings.HasPrefix(err.Error(), `n: evaluate "qty + sku"`) {
		t.Fatalf("runtime error = %v", err)
	}
}

// TestNoLeakBetweenRecords runs one pipeline over many records that share
// nested objects and checks each output against a fresh run.
func TestNoLeakBetweenRecords(t *testing.T) {
	p, err := Compile(steps(t, `
- set: {customer.vip: 'total > 1000', customer.name: 'upper(customer.name)'}
- drop: [customer.country]`))
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]any{"name": "Ada", "country": "DE"}
	a := map[string]any{"total": 5000.0, "customer": shared}
	b := map[string]any{"total": 10.0, "customer": shared}
	outA := p.Apply(a, nil)
	outB := p.Apply(b, nil)
	if !reflect.DeepEqual(shared, map[string]any{"name": "Ada", "country": "DE"}) {
		t.Fatalf("shared nested object changed: %v", shared)
	}
	if got := jsonOf(t, outA.Record); got != `{"customer":{"name":"ADA","vip":true},"total":5000}` {
		t.Errorf("A = %s", got)
	}
	if got := jsonOf(t, outB.Record); got != `{"customer":{"name":"ADA","vip":false},"total":10}` {
		t.Errorf("B = %s", got)
	}
}

func TestNilPipeline(t *testing.T) {
	var p *Pipeline
	rec := map[string]any{"a": 1}
	if out := p.Apply(rec, nil); out.Err != nil || out.Skipped || !reflect.DeepEqual(out.Record, rec) {
		t.Fatalf("nil pipeline: %+v", out)
	}
}
