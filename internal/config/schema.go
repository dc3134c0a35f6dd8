package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
)

// SchemaID is the $id of the config file's JSON Schema.
const SchemaID = "https://github.com/ferry-dev/ferry/schema/ferry.json"

// Schema returns a JSON Schema (draft 2020-12) of the config file, for
// editor completion and checks. It is generated from the types, so it can
// not drift from what Load accepts; Load stays the authority (it also
// checks references, expressions and cycles, which a schema cannot).
//
// Sources, destinations, operations and systems are one of the kinds:
// their schemas come from the kinds' config types.
func Schema(kinds *connector.Set) ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag: "yaml",
		// Required comes from the yaml tags: fields without omitempty.
		AllowAdditionalProperties: false,
	}
	s := r.Reflect(&Config{})
	for name, role := range map[string]connector.Role{"Source": connector.RoleSource, "Destination": connector.RoleDestination,
		"Operation": connector.RoleOperation, "System": connector.RoleSystem} {
		if _, ok := s.Definitions[name]; ok {
			p, err := partSchema(kinds, role, s.Definitions)
			if err != nil {
				return nil, err
			}
			s.Definitions[name] = p
		}
	}
	s.ID = SchemaID
	s.Title = "ferry configuration"
	s.Description = "Systems, routes and the store of one ferry.yaml"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config schema: %w", err)
	}
	return b, nil
}

// JSONSchema describes a Duration as text.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "A duration such as 500ms, 30s, 5m, 1h30m",
	}
}

// oneOfRequired says that exactly one of the named properties is set.
func oneOfRequired(s *jsonschema.Schema, names ...string) {
	for _, n := range names {
		s.OneOf = append(s.OneOf, &jsonschema.Schema{Required: []string{n}})
	}
}

// JSONSchemaExtend requires exactly one step kind.
func (Step) JSONSchemaExtend(s *jsonschema.Schema) { oneOfRequired(s, stepKinds...) }

// JSONSchemaExtend requires a default destination.
func (Route) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("destinations"); ok {
		p.Required = append(p.Required, "default")
	}
}

// JSONSchemaExtend allows the x- keys that Load ignores (a home for YAML
// anchors shared by routes), so editors do not flag them.
func (Config) JSONSchemaExtend(s *jsonschema.Schema) {
	s.PatternProperties = map[string]*jsonschema.Schema{"^x-": {}}
}

// partSchema is the schema of a part of role: an object with exactly one
// key, a kind's name, holding that kind's config (for systems, the
// shorthand kind's options may also stand alone). The kinds' type
// definitions go into defs, named <kind>.<Type> so two kinds never clash.
func partSchema(kinds *connector.Set, role connector.Role, defs jsonschema.Definitions) (*jsonschema.Schema, error) {
	out := &jsonschema.Schema{Type: "object", Description: fmt.Sprintf("One %s kind (ferry connectors lists them)", role)}
	for _, k := range kinds.For(role) {
		r := &jsonschema.Reflector{FieldNameTag: "yaml", AllowAdditionalProperties: false}
		cfg, err := prefixed(r.Reflect(k.Spec(role).Config()), k.Name+".")
		if err != nil {
			return nil, fmt.Errorf("schema of kind %s: %w", k.Name, err)
		}
		for name, def := range cfg.Definitions {
			defs[name] = def
		}
		ref := &jsonschema.Schema{Ref: cfg.Ref}
		props := jsonschema.NewProperties()
		props.Set(k.Name, ref)
		out.OneOf = append(out.OneOf, &jsonschema.Schema{Type: "object", Properties: props, Required: []string{k.Name},
			AdditionalProperties: jsonschema.FalseSchema, Description: k.Summary})
		if role == connector.RoleSystem && k.System.Shorthand {
			out.OneOf = append(out.OneOf, &jsonschema.Schema{Ref: cfg.Ref})
		}
	}
	return out, nil
}

// prefixed renames the definitions of s (and every reference to them)
// with prefix.
func prefixed(s *jsonschema.Schema, prefix string) (*jsonschema.Schema, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(string(b), `"#/$defs/`, `"#/$defs/`+prefix)
	var out jsonschema.Schema
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		return nil, err
	}
	defs := jsonschema.Definitions{}
	for name, def := range out.Definitions {
		defs[prefix+name] = def
	}
	out.Definitions = defs
	return &out, nil
}
