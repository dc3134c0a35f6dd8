package catalog

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Schema is the JSON Schema of a holder of role (a route's source:, a
// destination, an operation, a system): an object with exactly one
// property, the name of a kind that plays role, whose value is the
// reflected schema of that kind's config type.
//
// Systems: when a kind's system part is the Shorthand, a system may also
// be that kind's options themselves, without the kind key.
//
// The result is a document of its own: its $refs point into its $defs
// ("#/$defs/<kind>.<Type>", prefixed with the kind so two kinds' Config
// types do not clash). To embed it in a larger schema, move its
// definitions to that schema's root with MoveDefinitions.
func Schema(s *connector.Set, role connector.Role) *jsonschema.Schema {
	out := &jsonschema.Schema{
		Type:                 "object",
		Properties:           jsonschema.NewProperties(),
		AdditionalProperties: jsonschema.FalseSchema,
		Definitions:          jsonschema.Definitions{},
	}
	kinds := s.For(role)
	if len(kinds) == 0 {
		out.Description = fmt.Sprintf("No connector kind of this build can be a %s", role)
		return out
	}
	names := make([]string, 0, len(kinds))
	var shorthand *jsonschema.Schema
	for _, k := range kinds {
		cfg := k.Spec(role).Config()
		r := &jsonschema.Reflector{
			FieldNameTag:              "yaml", // required: fields without omitempty
			AllowAdditionalProperties: false,
			Anonymous:                 true,
			Namer:                     kindNamer(k.Name),
			Mapper:                    durationMapper,
		}
		ks := r.Reflect(cfg)
		prop := &jsonschema.Schema{Ref: ks.Ref, Description: k.Summary}
		if ks.Ref == "" {
			// A config type the reflector inlined (not a named struct).
			ks.Version, ks.ID = "", ""
			defs := ks.Definitions
			ks.Definitions = nil
			prop = ks
			prop.Description = k.Summary
			ks = &jsonschema.Schema{Definitions: defs}
		}
		for n, d := range ks.Definitions {
			out.Definitions[n] = d
		}
		out.Properties.Set(k.Name, prop)
		if role == connector.RoleSystem && k.System.Shorthand {
			shorthand = &jsonschema.Schema{
				Ref:         prop.Ref,
				Description: fmt.Sprintf("A %s system written without its kind key: its options right under its name", k.Name),
			}
			if prop.Ref == "" {
				shorthand = prop
			}
		}
		out.OneOf = append(out.OneOf, &jsonschema.Schema{Required: []string{k.Name}})
		names = append(names, k.Name)
	}
	out.Description = fmt.Sprintf("Exactly one %s kind: %s", role, strings.Join(names, ", "))
	if shorthand != nil {
		// Either the holder or the shorthand kind's options themselves:
		// the two never both match (each refuses the other's keys).
		defs := out.Definitions
		out.Definitions = nil
		out = &jsonschema.Schema{
			OneOf:       []*jsonschema.Schema{out, shorthand},
			Description: out.Description + ", or the options of a " + shorthandName(kinds) + " system directly",
			Definitions: defs,
		}
	}
	return out
}

func shorthandName(kinds []*connector.Kind) string {
	for _, k := range kinds {
		if k.System != nil && k.System.Shorthand {
			return k.Name
		}
	}
	return ""
}

// kindNamer names the definitions of kind's types "<kind>.<Type>". Types
// without a name (slices, maps) stay unnamed: the reflector inlines them.
func kindNamer(kind string) func(reflect.Type) string {
	return func(t reflect.Type) string {
		if t.Name() == "" {
			return ""
		}
		// Generic instantiations carry their type arguments in the name.
		name, _, _ := strings.Cut(t.Name(), "[")
		return kind + "." + name
	}
}

// durationMapper writes durations as text ("30s"), as the loader reads
// them; the reflector would call a time.Duration an integer. Types with
// their own JSONSchema method keep it.
func durationMapper(t reflect.Type) *jsonschema.Schema {
	if !isDuration(t) || hasSchema(t) {
		return nil
	}
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "A duration such as 500ms, 30s, 5m, 1h30m",
	}
}

// MoveDefinitions moves the $defs of src into dst's $defs (src's $refs
// are "#/$defs/..." and so resolve at dst's root). A name already in dst
// must hold the same definition; a different one is an error naming it,
// and nothing is moved.
func MoveDefinitions(dst, src *jsonschema.Schema) error {
	if len(src.Definitions) == 0 {
		return nil
	}
	if dst.Definitions == nil {
		dst.Definitions = jsonschema.Definitions{}
	}
	names := make([]string, 0, len(src.Definitions))
	for n := range src.Definitions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		have, ok := dst.Definitions[n]
		if !ok {
			continue
		}
		a, errA := json.Marshal(have)
		b, errB := json.Marshal(src.Definitions[n])
		if errA != nil || errB != nil || string(a) != string(b) {
			return fmt.Errorf("schema definition %q is defined twice, differently: rename one of the types", n)
		}
	}
	for _, n := range names {
		dst.Definitions[n] = src.Definitions[n]
	}
	src.Definitions = nil
	return nil
}
