package config

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Part is a connector part of the config: which registered kind it is and
// that kind's own config. The config package knows no kind: each one
// declares its config type, defaults and checks in its connector.Kind.
type Part struct {
	// Kind is the kind's name, the YAML key (http, sql, file, ...).
	Kind string `yaml:"-" json:"-"`
	// Config points to the kind's config struct (e.g. *httpconn.SourceConfig).
	Config any `yaml:"-" json:"-"`
	// inline: a system written without a kind key (the shorthand kind's
	// options right under the system's name).
	inline bool
}

// Source is where a route's records come from: one registered kind.
type Source struct{ Part }

// Destination is where records go: one registered kind.
type Destination struct{ Part }

// Operation is a follow-up call for each record (after:, on_error:).
type Operation struct{ Part }

// System is a named connection shared by routes: one registered kind, or
// the shorthand kind's options written right under the name.
type System struct {
	Part
	Name string `yaml:"-" json:"-"`
}

// holder is implemented by the part types, for the reflective walkers
// (shape, interpolation, compilation) and the decoder.
type holder interface {
	part() *Part
	role() connector.Role
}

func (p *Part) part() *Part               { return p }
func (*Source) role() connector.Role      { return connector.RoleSource }
func (*Destination) role() connector.Role { return connector.RoleDestination }
func (*Operation) role() connector.Role   { return connector.RoleOperation }
func (*System) role() connector.Role      { return connector.RoleSystem }

var holderType = reflect.TypeFor[holder]()

// asHolder returns v as a holder when v is one of the part types.
func asHolder(v reflect.Value) (holder, bool) {
	if v.Kind() != reflect.Struct || !v.CanAddr() || !reflect.PointerTo(v.Type()).Implements(holderType) {
		return nil, false
	}
	return v.Addr().Interface().(holder), true
}

// holderRole tells whether t is one of the part types.
func holderRole(t reflect.Type) (connector.Role, bool) {
	if t.Kind() != reflect.Struct || !reflect.PointerTo(t).Implements(holderType) {
		return "", false
	}
	return reflect.New(t).Interface().(holder).role(), true
}

// ConfigPath is where the kind's own config sits in the file, given the
// part's path (routes.orders.source -> routes.orders.source.http).
func (p *Part) ConfigPath(path string) string {
	if p.inline || p.Kind == "" {
		return path
	}
	return joinPath(path, p.Kind)
}

// Spec returns the kind's part spec, or nil when the part is empty.
func (p *Part) spec(kinds *connector.Set, role connector.Role) *connector.Spec {
	if p.Kind == "" || kinds == nil {
		return nil
	}
	k, ok := kinds.Kind(p.Kind)
	if !ok {
		return nil
	}
	return k.Spec(role)
}

// kindsKey carries the connector kinds into the YAML decoder (the part
// types' UnmarshalYAML), so no package state is needed.
type kindsKey struct{}

// UnmarshalYAML decodes the one kind key into that kind's config type.
func (s *Source) UnmarshalYAML(ctx context.Context, unmarshal func(any) error) error {
	return decodePart(ctx, &s.Part, connector.RoleSource, unmarshal)
}

// UnmarshalYAML decodes the one kind key into that kind's config type.
func (d *Destination) UnmarshalYAML(ctx context.Context, unmarshal func(any) error) error {
	return decodePart(ctx, &d.Part, connector.RoleDestination, unmarshal)
}

// UnmarshalYAML decodes the one kind key into that kind's config type.
func (o *Operation) UnmarshalYAML(ctx context.Context, unmarshal func(any) error) error {
	return decodePart(ctx, &o.Part, connector.RoleOperation, unmarshal)
}

// UnmarshalYAML decodes the one kind key into that kind's config type, or
// the whole mapping into the shorthand kind's.
func (s *System) UnmarshalYAML(ctx context.Context, unmarshal func(any) error) error {
	return decodePart(ctx, &s.Part, connector.RoleSystem, unmarshal)
}

// deferred holds the decoder's callback for one value, so it can be
// decoded once its kind (the key beside it) is known.
type deferred struct{ decode func(any) error }

func (d *deferred) UnmarshalYAML(_ context.Context, decode func(any) error) error {
	d.decode = decode
	return nil
}

// decodePart decides the kind as the shape check did (see walkPart): one
// key naming a kind of the role, or, for systems, the shorthand kind.
// Anything else was reported by the shape check and decodes as empty.
func decodePart(ctx context.Context, p *Part, role connector.Role, unmarshal func(any) error) error {
	kinds, _ := ctx.Value(kindsKey{}).(*connector.Set)
	if kinds == nil {
		return errors.New("no connector kinds given to the config decoder")
	}
	var m map[string]*deferred
	if err := unmarshal(&m); err != nil {
		return err
	}
	if len(m) == 1 {
		for name, d := range m {
			if k, ok := kinds.Kind(name); ok && k.Spec(role) != nil {
				cfg := k.Spec(role).Config()
				if d != nil && d.decode != nil {
					if err := d.decode(cfg); err != nil {
						return err
					}
				}
				p.Kind, p.Config = name, cfg
				return nil
			}
		}
	}
	if role == connector.RoleSystem {
		if k := shorthandKind(kinds); k != nil && len(m) > 0 {
			cfg := k.System.Config()
			if err := unmarshal(cfg); err != nil {
				return err
			}
			p.Kind, p.Config, p.inline = k.Name, cfg, true
		}
	}
	return nil
}

// shorthandKind is the system kind written without a kind key, if any.
func shorthandKind(kinds *connector.Set) *connector.Kind {
	for _, k := range kinds.For(connector.RoleSystem) {
		if k.System.Shorthand {
			return k
		}
	}
	return nil
}

// kindNames lists the names of the kinds playing role.
func kindNames(kinds *connector.Set, role connector.Role) []string {
	var out []string
	for _, k := range kinds.For(role) {
		out = append(out, k.Name)
	}
	return out
}

// walkPart checks a part: a mapping with exactly one key naming a kind of
// the role, whose value fits that kind's config type; for systems, the
// shorthand kind's options may stand right under the name.
func (d *document) walkPart(n ast.Node, role connector.Role, path string) bool {
	m, ok := n.(*ast.MappingNode)
	names := kindNames(d.kinds, role)
	if !ok {
		d.shapeErrorf(path, n.GetToken(), "expected a mapping, got %s", describe(n))
		return false
	}
	var keys []*ast.MappingValueNode
	for _, mv := range m.Values {
		if !mv.Key.IsMergeKey() {
			keys = append(keys, mv)
		}
	}
	if role == connector.RoleSystem {
		explicit := len(keys) == 1 && d.kindPlays(keyString(keys[0].Key), role)
		if k := shorthandKind(d.kinds); !explicit && k != nil {
			d.walkStruct(m, reflect.TypeOf(k.System.Config()).Elem(), path)
			return true
		}
	}
	switch len(keys) {
	case 0:
		d.errorf(path, "expected exactly one of %s; got none", strings.Join(names, ", "))
		d.reported[path] = true
		return false
	case 1:
	default:
		var got []string
		for _, mv := range keys {
			got = append(got, keyString(mv.Key))
		}
		d.errorf(path, "expected exactly one of %s; got %s", strings.Join(names, ", "), strings.Join(got, " and "))
		d.reported[path] = true
		return false
	}
	mv := keys[0]
	name := keyString(mv.Key)
	child := joinPath(path, name)
	d.keys[path] = append(d.keys[path], name)
	d.pos[child] = tokenPos(mv.Key.GetToken())
	k, known := d.kinds.Kind(name)
	if !known || k.Spec(role) == nil {
		d.shapeErrorf(child, mv.Key.GetToken(), "%s", unknownKind(d.kinds, name, role))
		return false
	}
	if !d.walk(mv.Value, reflect.TypeOf(k.Spec(role).Config()).Elem(), child) {
		mv.Value = nullLike(mv.Value)
	}
	return true
}

func (d *document) kindPlays(name string, role connector.Role) bool {
	k, ok := d.kinds.Kind(name)
	return ok && k.Spec(role) != nil
}

// unknownKind explains a key that is not a kind of role.
func unknownKind(kinds *connector.Set, name string, role connector.Role) string {
	names := kindNames(kinds, role)
	if k, ok := kinds.Kind(name); ok {
		var plays []string
		for _, r := range connector.Roles {
			if k.Spec(r) != nil {
				plays = append(plays, string(r))
			}
		}
		return fmt.Sprintf("%s cannot be a %s (it can be: %s); %s kinds: %s", name, role, strings.Join(plays, ", "), role, strings.Join(names, ", "))
	}
	if hint := didYouMean(name, names); hint != "" {
		return fmt.Sprintf("unknown %s kind %q%s", role, name, hint)
	}
	return fmt.Sprintf("unknown %s kind %q (expected one of: %s; `ferry connectors` lists them)", role, name, strings.Join(names, ", "))
}

// partChecker is the connector.Checker a kind's Validate reports through:
// field paths are relative to the kind's config.
type partChecker struct {
	v    *validator
	base string
}

func (c partChecker) path(field string) string {
	switch {
	case field == "":
		return c.base
	case strings.HasPrefix(field, "["):
		return c.base + field
	}
	return joinPath(c.base, field)
}

func (c partChecker) Errorf(field, format string, args ...any) {
	c.v.doc.errorf(c.path(field), format, args...)
}

func (c partChecker) Has(field string) bool { return c.v.has(c.path(field)) }

func (c partChecker) Secret(field string) bool { return c.v.secrets[c.path(field)] }

func (c partChecker) System(field, name string, kinds ...string) (any, bool) {
	path := c.path(field)
	v := c.v
	sys := v.cfg.Systems[name]
	switch {
	case name == "":
		v.required(parentPath(path), lastSegment(path))
		return nil, false
	case sys == nil && len(v.systems) == 0:
		v.doc.errorf(path, "unknown system %q (no systems are defined under systems:)", name)
		return nil, false
	case sys == nil:
		v.doc.errorf(path, "unknown system %q (defined systems: %s)", name, strings.Join(v.systems, ", "))
		return nil, false
	case sys.Kind == "":
		return nil, false // the system's own problem is reported there
	case len(kinds) > 0 && !contains(kinds, sys.Kind):
		v.doc.errorf(path, "system %q is a %s system; this needs a %s system", name, sys.Kind, strings.Join(kinds, " or "))
		return nil, false
	}
	return sys.Config, true
}

func lastSegment(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// part checks one part after decoding: present, and valid by its kind.
func (v *validator) part(path string, p *Part, role connector.Role) {
	if p.Kind == "" {
		if !v.has(path) {
			v.required(parentPath(path), lastSegment(path))
		}
		return // a bad kind key was reported by the shape check
	}
	if s := p.spec(v.cfg.kinds, role); s != nil && s.Validate != nil {
		s.Validate(partChecker{v: v, base: p.ConfigPath(path)}, p.Config)
	}
}

// partDefaults fills a part's unset options.
func partDefaults(kinds *connector.Set, p *Part, role connector.Role) {
	if s := p.spec(kinds, role); s != nil && s.Defaults != nil {
		s.Defaults(p.Config)
	}
}

// Kinds returns the connector kinds the config was loaded with.
func (c *Config) Kinds() *connector.Set { return c.kinds }
