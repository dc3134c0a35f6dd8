package catalog

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/schematest"
)

// compile checks s with a real JSON Schema validator: every $ref must
// resolve, every keyword must be valid draft 2020-12.
func compile(t *testing.T, s *jsonschema.Schema) *validator.Schema {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return schematest.Compile(t, b)
}

func validate(t *testing.T, sch *validator.Schema, instance string) error {
	t.Helper()
	v, err := validator.UnmarshalJSON(strings.NewReader(instance))
	if err != nil {
		t.Fatalf("instance %s: %v", instance, err)
	}
	return sch.Validate(v)
}

func TestSchemaHolder(t *testing.T) {
	s := testSet(t, alphaKind(), betaKind(), widgetKind())
	src := Schema(s, connector.RoleSource)

	// Two kinds with a type named Config: prefixed, not merged.
	for _, name := range []string{"alpha.Config", "beta.Config", "widget.widgetSource", "widget.paginate"} {
		if src.Definitions[name] == nil {
			t.Errorf("$defs lacks %s; has %v", name, keys(src.Definitions))
		}
	}
	if a, b := src.Definitions["alpha.Config"], src.Definitions["beta.Config"]; a != nil && b != nil {
		if _, ok := a.Properties.Get("table"); !ok {
			t.Error("alpha.Config lacks table")
		}
		if _, ok := b.Properties.Get("queue"); !ok {
			t.Error("beta.Config lacks queue")
		}
	}
	if len(src.OneOf) != 3 {
		t.Errorf("oneOf has %d branches, want one per source kind (3)", len(src.OneOf))
	}

	sch := compile(t, src)
	tests := []struct {
		instance string
		ok       bool
	}{
		{`{"alpha": {"table": "orders"}}`, true},
		{`{"alpha": {"table": "orders", "wait": "5s", "page": {"size": 10}}}`, true},
		{`{"beta": {"queue": "q", "timeout": "1m30s"}}`, true},
		{`{"widget": {"system": "w", "key": "id", "paginate": {"page": {"size": 10}}, "tree": {"name": "a", "children": [{"name": "b"}]}}}`, true},
		{`{}`, false}, // no kind
		{`{"alpha": {"table": "a"}, "beta": {"queue": "q"}}`, false}, // two kinds
		{`{"gamma": {}}`, false},                                     // not a kind of this role
		{`{"alpha": {}}`, false},                                     // required field missing
		{`{"alpha": {"table": "a", "tabel": "b"}}`, false},           // unknown field
		{`{"beta": {"queue": "q", "timeout": 5}}`, false},            // a time.Duration is text
		{`{"beta": {"queue": "q", "timeout": "soon"}}`, false},
		{`{"widget": {"system": "w", "key": "id", "paginate": {"page": {"size": "ten"}}}}`, false},
	}
	for _, tt := range tests {
		err := validate(t, sch, tt.instance)
		if (err == nil) != tt.ok {
			t.Errorf("%s: valid=%v, want %v (%v)", tt.instance, err == nil, tt.ok, err)
		}
	}

	// The enum of a destination field reaches the schema.
	dst := compile(t, Schema(s, connector.RoleDestination))
	if err := validate(t, dst, `{"widget": {"system": "w", "strict": true, "method": "GET"}}`); err == nil {
		t.Error("method GET accepted; the enum is POST, PUT")
	}
	if err := validate(t, dst, `{"widget": {"system": "w", "strict": true, "method": "PUT", "answers": [{"when": "status == 409", "outcome": "done"}]}}`); err != nil {
		t.Error(err)
	}
}

// A system of the shorthand kind may leave out its kind key.
func TestSchemaSystemShorthand(t *testing.T) {
	sys := compile(t, Schema(testSet(t, alphaKind(), widgetKind()), connector.RoleSystem))
	tests := []struct {
		instance string
		ok       bool
	}{
		{`{"widget": {"url": "https://w", "timeout": "5s"}}`, true},
		{`{"url": "https://w", "timeout": "5s"}`, true},
		{`{"url": "https://w", "widget": {"url": "https://w"}}`, false},
		{`{"timeout": "5s"}`, false}, // url is required in both forms
		{`{"alpha": {"table": "t"}}`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		if err := validate(t, sys, tt.instance); (err == nil) != tt.ok {
			t.Errorf("%s: valid=%v, want %v (%v)", tt.instance, err == nil, tt.ok, err)
		}
	}
	k := widgetKind()
	if !strings.Contains(string(Docs(&k)), "is of kind `widget`.") {
		t.Error("the page does not mention the shorthand")
	}
}

func TestSchemaRoleWithoutKinds(t *testing.T) {
	s := testSet(t, alphaKind())
	sys := Schema(s, connector.RoleSystem)
	if !strings.Contains(sys.Description, "No connector kind") {
		t.Errorf("description %q", sys.Description)
	}
	sch := compile(t, sys)
	if err := validate(t, sch, `{"alpha": {"table": "x"}}`); err == nil {
		t.Error("a system of a kind without a system part was accepted")
	}
}

// Holders of several roles embed in one document: their definitions move
// to its root, where their $refs point.
func TestMoveDefinitions(t *testing.T) {
	s := testSet(t, alphaKind(), betaKind(), widgetKind())
	root := &jsonschema.Schema{Type: "object", Properties: jsonschema.NewProperties()}
	for _, role := range connector.Roles {
		h := Schema(s, role)
		if err := MoveDefinitions(root, h); err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if h.Definitions != nil {
			t.Errorf("%s: definitions left in the holder", role)
		}
		root.Properties.Set(string(role), h)
	}
	sch := compile(t, root)
	ok := `{"source": {"beta": {"queue": "q"}}, "destination": {"beta": {"queue": "r"}}, "system": {"widget": {"url": "https://w"}}, "operation": {"widget": {"system": "w"}}}`
	if err := validate(t, sch, ok); err != nil {
		t.Errorf("valid document refused: %v", err)
	}
	if err := validate(t, sch, `{"source": {"beta": {}}}`); err == nil {
		t.Error("beta source without its queue accepted")
	}

	// A name that holds two different definitions is refused, and nothing moves.
	other := &jsonschema.Schema{Definitions: jsonschema.Definitions{
		"zeta.New":     {Type: "string"},
		"alpha.Config": {Type: "string"},
	}}
	err := MoveDefinitions(root, other)
	if err == nil || !strings.Contains(err.Error(), `"alpha.Config"`) {
		t.Errorf("clash: err = %v", err)
	}
	if root.Definitions["zeta.New"] != nil || root.Definitions["alpha.Config"].Type != "object" {
		t.Error("a refused move changed the root")
	}
}

func keys(d jsonschema.Definitions) []string {
	var out []string
	for k := range d {
		out = append(out, k)
	}
	return out
}

// A config of an unnamed struct type has no definition: its schema is
// inlined in the holder.
func TestSchemaUnnamedConfig(t *testing.T) {
	bell := connector.Kind{
		Name: "bell",
		Operation: &connector.OperationPart{
			Spec: connector.Spec{Config: func() any {
				return &struct {
					Tone string `yaml:"tone" jsonschema:"enum=high,enum=low"`
				}{}
			}},
			Build: func(context.Context, connector.Env, any) (connector.Operation, error) { return nil, errNotBuilt },
		},
	}
	sch := compile(t, Schema(testSet(t, bell, alphaKind()), connector.RoleOperation))
	if err := validate(t, sch, `{"bell": {"tone": "high"}}`); err != nil {
		t.Error(err)
	}
	if err := validate(t, sch, `{"bell": {"tone": "loud"}}`); err == nil {
		t.Error("tone loud accepted")
	}
}
