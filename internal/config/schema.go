package config

import (
	"encoding/json"
	"fmt"

	"github.com/invopop/jsonschema"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/catalog"
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
			p := catalog.Schema(kinds, role)
			if err := catalog.MoveDefinitions(s, p); err != nil {
				return nil, fmt.Errorf("schema of the %s kinds: %w", role, err)
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
		Pattern:     `^(forever|[0-9]+d|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`,
		Description: "A duration such as 500ms, 30s, 5m, 1h30m or 7d (whole days); forever only where the option says so (retention)",
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

// JSONSchemaExtend requires a default destination, a source or a webhook
// (or both), and not both schedule and every.
func (Route) JSONSchemaExtend(s *jsonschema.Schema) {
	if p, ok := s.Properties.Get("destinations"); ok {
		p.Required = append(p.Required, "default")
	}
	s.AnyOf = append(s.AnyOf, &jsonschema.Schema{Required: []string{"source"}}, &jsonschema.Schema{Required: []string{"webhook"}})
	s.Not = &jsonschema.Schema{Required: []string{"schedule", "every"}}
}

// JSONSchemaExtend requires exactly one of token and signature.
func (Webhook) JSONSchemaExtend(s *jsonschema.Schema) { oneOfRequired(s, "token", "signature") }

// JSONSchema describes a ByteSize as text.
func (ByteSize) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type:        "string",
		Pattern:     `^\s*[0-9]+\s*([bB]|[kKmMgG][bB])$`,
		Description: "A size such as 512KB or 1MB (units B, KB, MB, GB of 1024)",
	}
}

// JSONSchemaExtend allows the x- keys that Load ignores (a home for YAML
// anchors shared by routes), so editors do not flag them.
func (Config) JSONSchemaExtend(s *jsonschema.Schema) {
	s.PatternProperties = map[string]*jsonschema.Schema{"^x-": {}}
}
