package catalog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testSet(t *testing.T, kinds ...connector.Kind) *connector.Set {
	t.Helper()
	s, err := connector.NewSet(kinds...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSchemaTag(t *testing.T) {
	tests := []struct {
		tag  string
		want schemaTag
	}{
		{"", schemaTag{}},
		{`description=Plain`, schemaTag{description: "Plain"}},
		{`description=One\, two\, three`, schemaTag{description: "One, two, three"}},
		{`enum=POST,enum=PUT,description=Default POST`, schemaTag{description: "Default POST", enum: []string{"POST", "PUT"}}},
		{`required,description=Must be set,default=x`, schemaTag{description: "Must be set", def: "x", required: true}},
		{`type=string,description=a=b`, schemaTag{description: "a=b"}},
		{`pattern=^[0-9]+(\.[0-9]+)?/(s|m|h)$,description=Rate\, e.g. 10/s`, schemaTag{description: "Rate, e.g. 10/s"}},
	}
	for _, tt := range tests {
		if got := parseSchemaTag(tt.tag); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseSchemaTag(%q) = %+v, want %+v", tt.tag, got, tt.want)
		}
	}
}

func TestOptions(t *testing.T) {
	byPath := func(cfg any) map[string]Option {
		m := map[string]Option{}
		for _, o := range Options(cfg) {
			if _, dup := m[o.Path]; dup {
				t.Errorf("option %s listed twice", o.Path)
			}
			m[o.Path] = o
		}
		return m
	}
	src := byPath(&widgetSource{})
	dst := byPath(&widgetDestination{})
	sys := byPath(&widgetSystem{})
	op := byPath(&widgetOperation{})
	tests := []struct {
		opts     map[string]Option
		path     string
		typ      string
		required bool
		desc     string
	}{
		{src, "system", "string", true, "Name of a widget system"}, // inline embedded struct
		{src, "path", "template", false, "Path appended to the URL"},
		{src, "query", "mapping of templates", false, "Query parameters"},
		{src, "key", "string", true, "Dotted path to the key"},
		{src, "every", "string", false, "Poll interval"}, // a TextUnmarshaler
		{src, "paginate", "object", false, ""},
		{src, "paginate.page", "object", false, "Page-number pagination"},
		{src, "paginate.page.size", "integer", false, "Records per page"},
		{src, "paginate.page.param", "string", false, ""},
		{src, "paginate.link", "true/false", false, "Follow the Link header"},
		{src, "tags", "list of strings", false, "Tags to read"},
		{src, "tree", "object", false, "A recursive type"},
		{src, "tree.name", "string", true, ""},
		{src, "tree.children", "list of objects", false, "Nested nodes"},
		{src, "weight", "number", false, ""},
		{dst, "method", "string", false, "HTTP method"},
		{dst, "map", "mapping of expressions", false, "Field -> expression"},
		{dst, "answers", "list of objects", false, "Ordered rules; the first match wins"},
		{dst, "answers[].when", "expression", true, "Expression over status and body"},
		{dst, "answers[].outcome", "string", true, "What the answer means"},
		{dst, "answers[].delay", "duration", false, "Wait at least this long"},
		{dst, "tables", "mapping of objects", false, ""},
		{dst, "tables.<name>.size", "integer", false, "Records per page"},
		{dst, "batches", "list of lists of integers", false, ""},
		{dst, "strict", "true/false", true, "Refuse unknown fields"},
		{dst, "extra", "mapping of lists of objects", false, ""},
		{dst, "extra.<name>[].when", "expression", true, "Expression over status and body"},
		{dst, "labels", "mapping of mappings of true/false values", false, ""},
		{sys, "url", "string", true, "Base URL of the widget API"},
		{sys, "timeout", "duration", false, "Timeout of one call, default 30s"},
		{sys, "level", "integer", false, "A level from 1 to 9"}, // from its JSONSchema method
		{op, "body", "any value (strings are templates)", false, "JSON body"},
	}
	for _, tt := range tests {
		o, ok := tt.opts[tt.path]
		if !ok {
			t.Errorf("%s: not listed", tt.path)
			continue
		}
		if o.Type != tt.typ || o.Required != tt.required || o.Description != tt.desc {
			t.Errorf("%s = %q required=%v %q, want %q required=%v %q", tt.path, o.Type, o.Required, o.Description, tt.typ, tt.required, tt.desc)
		}
	}
	for _, absent := range []string{"internal", "hidden", "common", "tree.children[].name"} {
		if _, ok := src[absent]; ok {
			t.Errorf("%s is listed; it is not an option (ignored, unexported, inline or recursive)", absent)
		}
	}
	if got := dst["method"].Enum; !reflect.DeepEqual(got, []string{"POST", "PUT"}) {
		t.Errorf("method enum = %v", got)
	}
	if got := src["paginate.page.size"].Default; got != "100" {
		t.Errorf("paginate.page.size default = %q", got)
	}

	// Field order of the structs, each struct's fields after its own row.
	var paths []string
	for _, o := range Options(&widgetSource{}) {
		paths = append(paths, o.Path)
	}
	want := "system path query key every paginate paginate.page paginate.page.size paginate.page.param paginate.link tags tree tree.name tree.children weight"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("order:\n got %s\nwant %s", got, want)
	}
	if Options(nil) != nil || Options(new(string)) != nil {
		t.Error("Options of a non-struct config should be empty")
	}
}

// The page of a kind, compared with testdata/widget.md (go test -update
// rewrites it after a deliberate change).
func TestDocsGolden(t *testing.T) {
	k := widgetKind()
	got := Docs(&k)
	golden := filepath.Join("testdata", "widget.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with go test -run TestDocsGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Docs(widget) differs from %s%s\n(go test -run TestDocsGolden -update after a deliberate change)", golden, firstDiff(want, got))
	}
	if again := Docs(&k); !bytes.Equal(got, again) {
		t.Error("Docs is not deterministic")
	}
}

func TestDocsSections(t *testing.T) {
	k := widgetKind()
	doc := string(Docs(&k))
	// The parts in the order system, source, destination, operation.
	last := -1
	for _, h := range []string{"## System", "## Source", "## Destination", "## Operation"} {
		i := strings.Index(doc, "\n"+h+"\n")
		if i < last {
			t.Errorf("%s missing or out of order", h)
		}
		last = i
	}
	for _, want := range []string{
		"| `answers[].outcome` | string | required | What the answer means. One of `done`, `retry`, `dead`. |",
		"| `paginate.page.size` | integer | optional | Records per page. Default `100`. |",
		"| `token` | string | optional | Token \\| sent as the header \\<X-Token>, \\*never\\* logged. |", // markdown in a cell
		"- `cursor`: the source can read incrementally",                                                   // caps in declared order:
		"- `teleport`: (not described: add it to catalog.CapabilityDoc)",                                  // unknown last
		"Capabilities of the operation: none.",
		"The widget kind exists for the catalog's tests.",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(doc, "`cursor`") > strings.Index(doc, "`wake`") {
		t.Error("capabilities are not in their declared order")
	}
	if !strings.HasPrefix(doc, generatedMarker+"\n") || !strings.HasSuffix(doc, "\n") || strings.HasSuffix(doc, "\n\n") {
		t.Error("page should start with the generated marker and end with one newline")
	}
}

func TestIndex(t *testing.T) {
	a, b, w := alphaKind(), betaKind(), widgetKind()
	idx := string(Index(testSet(t, w, b, a)))
	for _, want := range []string{
		"| [`alpha`](alpha.md) | source | `cursor` | Alpha tables |",
		"| [`beta`](beta.md) | source, destination | `ack` | Beta queues |",
		"| [`widget`](widget.md) | system, source, destination, operation | `cursor`, `batch`, `preview`, `health`, `wake`, `teleport` | Widgets over a test API |",
		"- `run-file`: the destination writes one complete file per run",
	} {
		if !strings.Contains(idx, want) {
			t.Errorf("index lacks %q:\n%s", want, idx)
		}
	}
	if strings.Index(idx, "[`alpha`]") > strings.Index(idx, "[`beta`]") {
		t.Error("index rows are not sorted by name")
	}
}

func TestDescribeJSON(t *testing.T) {
	w := widgetKind()
	b, err := json.Marshal(Describe(testSet(t, w)))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Name  string
		Roles []string
		Parts []struct {
			Role         string
			Capabilities []string
			Options      []Option
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "widget" || len(got[0].Parts) != 4 || got[0].Parts[3].Role != "operation" ||
		got[0].Parts[3].Capabilities == nil || len(got[0].Parts[0].Options) != 4 {
		t.Errorf("Describe = %s", b)
	}
}
