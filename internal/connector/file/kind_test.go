package fileconn

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
)

// checker records what Validate reports.
type checker struct{ got []string }

func (c *checker) Errorf(field, format string, args ...any) {
	c.got = append(c.got, field+": "+fmt.Sprintf(format, args...))
}
func (c *checker) Has(string) bool                              { return false }
func (c *checker) System(string, string, ...string) (any, bool) { return nil, false }
func (c *checker) Secret(string) bool                           { return false }

// TestKind: the kind joins a Set, declares its capabilities and builds
// both parts from defaulted, validated configs.
func TestKind(t *testing.T) {
	set, err := connector.NewSet(Kind())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := set.Kind("file")
	if k.System != nil || k.Operation != nil || k.Doc == "" || k.Summary == "" {
		t.Fatalf("kind %+v", k)
	}
	if !slices.Contains(k.Source.Caps, connector.CapAck) || !slices.Contains(k.Destination.Caps, connector.CapRunFile) {
		t.Fatalf("caps %v %v", k.Source.Caps, k.Destination.Caps)
	}
	dir := t.TempDir()
	env := connector.Env{Route: "orders", Dir: dir}
	src := k.Source.Config().(*SourceConfig)
	src.Dir, src.Format, src.Key = "in", "csv", "id"
	k.Source.Defaults(src)
	if src.Glob != "*.csv" || src.Delimiter != "," || !*src.Header || src.AfterRead != "move" || src.PageSize != 1000 {
		t.Fatalf("source defaults %+v", src)
	}
	c := &checker{}
	k.Source.Validate(c, src)
	if len(c.got) != 0 {
		t.Fatalf("valid source reported %v", c.got)
	}
	s, err := k.Source.Build(context.Background(), env, src)
	if err != nil || s.(*Source).dir != filepath.Join(dir, "in") {
		t.Fatalf("build source: %v", err)
	}
	dst := k.Destination.Config().(*DestinationConfig)
	dst.Dir, dst.Format = "out", "ndjson"
	k.Destination.Defaults(dst)
	if dst.Name != DefaultName || dst.Empty != "skip" {
		t.Fatalf("destination defaults %+v", dst)
	}
	d, err := k.Destination.Build(context.Background(), env, dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(connector.RunScoped); !ok {
		t.Fatal("the destination must be RunScoped")
	}
	if d.(connector.OneRequestPerBatch).OneRequestPerBatch() {
		t.Fatal("OneRequestPerBatch must be false")
	}
}

// TestValidate: each mistake is reported at its field, all at once.
func TestValidate(t *testing.T) {
	f := false
	cases := []struct {
		name string
		src  *SourceConfig
		dst  *DestinationConfig
		want []string
	}{
		{"source required", &SourceConfig{}, nil, []string{
			"dir: the folder to read is required", `format: "" is not a format`, "key: the field holding"}},
		{"source csv options", &SourceConfig{Dir: "d", Format: "ndjson", Key: "id", Delimiter: ";", Types: map[string]string{"a": "int"}}, nil, []string{
			"delimiter: is only for format: csv", "types: is only for format: csv"}},
		{"source records", &SourceConfig{Dir: "d", Format: "ndjson", Key: "id", Records: "a..b"}, nil, []string{
			"records: is only for format: json", `records: "a..b" is not a dotted path`}},
		{"source header false", &SourceConfig{Dir: "d", Format: "csv", Key: "id", Header: &f}, nil, []string{
			"columns: a CSV file without a header line (header: false) needs columns"}},
		{"source bad values", &SourceConfig{Dir: "d", Format: "csv", Key: "id", Glob: "in/*.csv", Delimiter: "ab",
			Types: map[string]string{"a": "decimal"}, AfterRead: "archive", PageSize: -1}, nil, []string{
			`glob: "in/*.csv" names a file of dir`, `delimiter: "ab" is not one character`, `types.a: "decimal" is not a type`,
			`after_read: "archive" is not an action`, "page_size: -1 is out of range"}},
		{"source glob", &SourceConfig{Dir: "d", Format: "csv", Key: "id", Glob: "[a"}, nil, []string{`glob: "[a" is not a valid pattern`}},
		{"destination required", nil, &DestinationConfig{Format: "csv"}, []string{
			"dir: the folder to write to is required", "columns: a CSV file needs columns"}},
		{"destination name", nil, &DestinationConfig{Dir: "d", Format: "json", Name: "{route}-{time}.json"}, []string{
			"name: {time} is not a placeholder (expected {route}, {run}, {run_id}, {date}, {ext})"}},
		{"destination name folder", nil, &DestinationConfig{Dir: "d", Format: "json", Name: "out/{run}.json"}, []string{
			`name: "out/{run}.json" names a file of dir`}},
		{"destination name brace", nil, &DestinationConfig{Dir: "d", Format: "json", Name: "{run.json"}, []string{
			`name: "{run.json" has a { without its }`}},
		{"destination others", nil, &DestinationConfig{Dir: "d", Format: "ndjson", Columns: []string{"a"}, Latest: "x.part", Empty: "never"}, []string{
			"columns: is only for format: csv", `latest: "x.part" must not end in .part`, `empty: "never" is not a choice`}},
		{"destination keep", nil, &DestinationConfig{Dir: "d", Format: "json", Name: "feed.json", Keep: 3}, []string{
			"keep: needs a name that differs per run"}},
		{"destination keep negative", nil, &DestinationConfig{Dir: "d", Format: "json", Keep: -1}, []string{
			"keep: -1 is negative"}},
		{"destination columns", nil, &DestinationConfig{Dir: "d", Format: "csv", Columns: []string{"a", "", "a"}}, []string{
			"columns.1: a column needs a name", `columns.2: "a" is named twice`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &checker{}
			var err error
			if tc.src != nil {
				tc.src.defaults()
				report(c, tc.src.check())
				_, err = NewSource(connector.Env{}, *tc.src)
			} else {
				tc.dst.defaults()
				report(c, tc.dst.check())
				_, err = NewDestination(connector.Env{}, *tc.dst)
			}
			if len(c.got) != len(tc.want) {
				t.Fatalf("reported %q, want %d problems", c.got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(c.got[i], w) {
					t.Errorf("problem %d: %q, want it to start with %q", i, c.got[i], w)
				}
			}
			if err == nil {
				t.Fatal("Build must refuse what Validate reports")
			}
		})
	}
}

// TestConfigTags: every field has a yaml tag and a description, and the
// schema reflects (the docs and `ferry schema` are generated from it).
func TestConfigTags(t *testing.T) {
	for _, cfg := range []any{SourceConfig{}, DestinationConfig{}} {
		typ := reflect.TypeOf(cfg)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Tag.Get("yaml") == "" || !strings.Contains(f.Tag.Get("jsonschema"), "description=") {
				t.Errorf("%s.%s lacks a yaml tag or a description", typ.Name(), f.Name)
			}
		}
		r := &jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: true}
		s := r.Reflect(cfg)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"description"`) {
			t.Fatalf("%s schema has no descriptions: %s", typ.Name(), b)
		}
	}
	r := &jsonschema.Reflector{FieldNameTag: "yaml", DoNotReference: true}
	s := r.Reflect(SourceConfig{})
	delim, _ := s.Properties.Get("delimiter")
	settle, _ := s.Properties.Get("settle")
	if !strings.Contains(delim.Description, `a tab ("\t")`) || settle.Type != "string" {
		t.Fatalf("delimiter %q, settle type %q", delim.Description, settle.Type)
	}
	if got := s.Required; !slices.Equal(got, []string{"dir", "format", "key"}) {
		t.Fatalf("required %v", got)
	}
}
