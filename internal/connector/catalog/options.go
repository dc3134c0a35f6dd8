// Package catalog describes the connector kinds of a build for people and
// editors: the reference pages docs/connectors/<kind>.md and their index
// (generated from each kind's config types, so they cannot drift from what
// the loader accepts), the JSON Schema of the source, destination,
// operation and system holders, and what `ferry connectors` lists.
//
// Everything here is derived from connector.Kind values by reflection on
// the types their Spec.Config returns: yaml tags give the names (no
// omitempty = required), jsonschema tags the descriptions, enums and
// defaults, ferry:"expr"/ferry:"template" tags mark expressions and
// templates.
package catalog

import (
	"encoding"
	"reflect"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// Option is one configurable field of a part, as the docs show it.
type Option struct {
	// Path is the YAML name with its dotted path from the part's config:
	// "paginate.page.size" for a nested struct, "answers[].when" for the
	// items of a list, "tables.<name>.key" for the values of a mapping.
	Path string `json:"path"`
	// Type is a reader's type: string, integer, number, true/false,
	// duration, expression, template, object, any value, list of ...,
	// mapping of ...
	Type string `json:"type"`
	// Required is true when the yaml tag has no omitempty (or the
	// jsonschema tag says required), as the schema has it. Inside an
	// optional object it means: required when the object is written.
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Default     string   `json:"default,omitempty"`
}

// Options lists the options of a config value (a pointer to a tagged
// struct, as Spec.Config returns), in the field order of the structs:
// each field, then the fields of the struct it holds.
func Options(cfg any) []Option {
	if cfg == nil {
		return nil
	}
	t := deref(reflect.TypeOf(cfg))
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []Option
	walkStruct(t, "", map[reflect.Type]bool{}, &out)
	return out
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
	customSchema  = reflect.TypeFor[interface{ JSONSchema() *jsonschema.Schema }]()
)

// walkStruct appends the options of struct t under prefix. onPath holds
// the struct types being walked, so a recursive type is listed once.
func walkStruct(t reflect.Type, prefix string, onPath map[reflect.Type]bool, out *[]Option) {
	onPath[t] = true
	defer delete(onPath, t)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || strings.HasPrefix(f.Tag.Get("jsonschema"), "-") {
			continue
		}
		if hasOpt(opts, "inline") {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct && !onPath[ft] {
				walkStruct(ft, prefix, onPath, out)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			// What goccy/go-yaml does with an untagged field.
			name = strings.ToLower(f.Name)
		}
		tag := parseSchemaTag(f.Tag.Get("jsonschema"))
		marker := f.Tag.Get("ferry")
		o := Option{
			Path:        prefix + name,
			Type:        typeName(f.Type, marker, false),
			Required:    !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") || tag.required,
			Description: tag.description,
			Enum:        tag.enum,
			Default:     tag.def,
		}
		if o.Description == "" {
			o.Description = typeDescription(f.Type)
		}
		*out = append(*out, o)

		// The fields of what the field holds, under its path.
		ft, sub := deref(f.Type), o.Path
		for !leaf(ft) {
			if k := ft.Kind(); k == reflect.Slice || k == reflect.Array {
				ft, sub = deref(ft.Elem()), sub+"[]"
			} else if k == reflect.Map {
				ft, sub = deref(ft.Elem()), sub+".<name>"
			} else {
				break
			}
		}
		if ft.Kind() == reflect.Struct && !leaf(ft) && !onPath[ft] {
			walkStruct(ft, sub+".", onPath, out)
		}
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// hasSchema reports whether values of t describe their own schema (the
// method invopop/jsonschema calls instead of reflecting the fields).
func hasSchema(t reflect.Type) bool {
	return t.Kind() != reflect.Interface && t.Implements(customSchema)
}

func isDuration(t reflect.Type) bool {
	return t == durationType || t.Kind() == reflect.Int64 && t.Name() == "Duration"
}

// leaf reports whether t is written as one value whatever its Go shape: a
// duration, a type with its own schema, or one parsed from text.
func leaf(t reflect.Type) bool {
	return isDuration(t) || hasSchema(t) ||
		t.Implements(textUnmarshal) || reflect.PointerTo(t).Implements(textUnmarshal)
}

// typeName names the type of t for a reader. marker is the field's ferry
// tag: "expr" or "template" makes its string leaves expressions or
// templates.
func typeName(t reflect.Type, marker string, plural bool) string {
	t = deref(t)
	pl := func(one, many string) string {
		if plural {
			return many
		}
		return one
	}
	switch {
	case isDuration(t):
		return pl("duration", "durations")
	case hasSchema(t):
		s := reflect.Zero(t).Interface().(interface{ JSONSchema() *jsonschema.Schema }).JSONSchema()
		if s != nil && s.Type != "" {
			return schemaTypeName(s.Type, plural)
		}
		return pl("value", "values")
	case t.Implements(textUnmarshal) || reflect.PointerTo(t).Implements(textUnmarshal):
		return pl("string", "strings")
	}
	switch t.Kind() {
	case reflect.String:
		switch marker {
		case "expr":
			return pl("expression", "expressions")
		case "template":
			return pl("template", "templates")
		}
		return pl("string", "strings")
	case reflect.Bool:
		return pl("true/false", "true/false values")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return pl("integer", "integers")
	case reflect.Float32, reflect.Float64:
		return pl("number", "numbers")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return pl("string (base64)", "strings (base64)")
		}
		return pl("list of ", "lists of ") + typeName(t.Elem(), marker, true)
	case reflect.Map:
		return pl("mapping of ", "mappings of ") + typeName(t.Elem(), marker, true)
	case reflect.Struct:
		return pl("object", "objects")
	case reflect.Interface:
		// A free-form value: with a marker, every string leaf in it is an
		// expression or template (a mapping of them reads as such).
		switch marker {
		case "expr":
			return pl("any value (strings are expressions)", "expressions")
		case "template":
			return pl("any value (strings are templates)", "templates")
		}
		return pl("any value", "any values")
	}
	return pl(t.Kind().String(), t.Kind().String()+" values")
}

func schemaTypeName(typ string, plural bool) string {
	one, many := typ, typ+"s"
	switch typ {
	case "boolean":
		one, many = "true/false", "true/false values"
	case "array":
		one, many = "list", "lists"
	case "object":
		one, many = "object", "objects"
	}
	if plural {
		return many
	}
	return one
}

// typeDescription is the description a type gives itself through its
// JSONSchema method, for fields whose tag has none.
func typeDescription(t reflect.Type) string {
	t = deref(t)
	if isDuration(t) || !hasSchema(t) {
		return ""
	}
	if s := reflect.Zero(t).Interface().(interface{ JSONSchema() *jsonschema.Schema }).JSONSchema(); s != nil {
		return s.Description
	}
	return ""
}

// schemaTag is what the docs use of a jsonschema struct tag.
type schemaTag struct {
	description string
	enum        []string
	def         string
	required    bool
}

// parseSchemaTag reads a jsonschema tag the way invopop/jsonschema does:
// key=value parts separated by commas, `\,` being a comma inside a value.
func parseSchemaTag(tag string) schemaTag {
	var st schemaTag
	for _, part := range splitUnescaped(tag) {
		key, val, ok := strings.Cut(part, "=")
		if !ok {
			if part == "required" {
				st.required = true
			}
			continue
		}
		switch key {
		case "description":
			st.description = val
		case "enum":
			st.enum = append(st.enum, val)
		case "default":
			st.def = val
		}
	}
	return st
}

// splitUnescaped splits on commas not preceded by a backslash and turns
// each `\,` into a comma.
func splitUnescaped(s string) []string {
	if s == "" {
		return nil
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == ',':
			cur.WriteByte(',')
			i++
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(parts, cur.String())
}
