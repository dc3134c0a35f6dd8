package config

import (
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// validator checks a decoded, interpolated and defaulted config. It
// records every problem in the document and never stops at the first.
type validator struct {
	cfg     *Config
	doc     *document
	secrets map[string]bool // paths holding secret values, never printed
	systems []string        // defined system names, sorted
	routes  []string        // defined route names, sorted
}

func validate(cfg *Config, d *document, secrets map[string]bool) {
	v := &validator{cfg: cfg, doc: d, secrets: secrets}
	for name := range cfg.Systems {
		v.systems = append(v.systems, name)
	}
	sort.Strings(v.systems)
	for name := range cfg.Routes {
		v.routes = append(v.routes, name)
	}
	sort.Strings(v.routes)

	for _, name := range orderedKeys(d.keys["systems"], cfg.Systems) {
		v.system(joinPath("systems", name), cfg.Systems[name])
	}
	switch {
	case cfg.Routes == nil:
		v.doc.errorf("routes", "missing required field %q (expected at least one route)", "routes")
	case len(cfg.Routes) == 0:
		v.doc.errorf("routes", "expected at least one route")
	}
	for _, name := range cfg.RouteOrder {
		v.route(joinPath("routes", name), cfg.Routes[name])
	}
	v.server()
	v.store()
	v.cycles()
	v.compile(reflect.ValueOf(cfg).Elem(), "", "")
}

// checkRetention refuses a retention of 0 written out: defaults fill a
// zero in, so it would silently mean 30 days (or forever) while the user
// meant "keep nothing".
func checkRetention(cfg *Config, d *document) {
	for _, k := range []struct {
		field string
		val   Duration
	}{{"attempts", cfg.Retention.Attempts}, {"runs", cfg.Retention.Runs}, {"dead_letters", cfg.Retention.DeadLetters}, {"delivered", cfg.Retention.Delivered}} {
		path := joinPath("retention", k.field)
		if _, ok := d.pos[path]; ok && k.val == 0 {
			d.errorf(path, "0 would remove this history as soon as it is written; give a duration (e.g. 1h, 7d) or forever")
		}
	}
}

// orderedKeys returns map keys in file order, then any others sorted.
func orderedKeys[T any](fileOrder []string, m map[string]T) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range fileOrder {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (v *validator) has(path string) bool {
	_, ok := v.doc.pos[path]
	return ok
}

func (v *validator) required(path, field string) {
	v.doc.errorf(joinPath(path, field), "missing required field %q", field)
}

// exactlyOne reports unless exactly one of the named kinds is set.
func (v *validator) exactlyOne(path string, names []string, set []bool) bool {
	var got []string
	for i, ok := range set {
		if ok {
			got = append(got, names[i])
		}
	}
	if len(got) == 1 {
		return true
	}
	what := "none"
	if len(got) > 1 {
		what = strings.Join(got, " and ")
	}
	v.doc.errorf(path, "expected exactly one of %s; got %s", strings.Join(names, ", "), what)
	return false
}

func (v *validator) system(path string, s *System) {
	if s == nil {
		v.doc.errorf(path, "expected a mapping with one system kind")
		return
	}
	v.part(path, &s.Part, connector.RoleSystem)
}

// notForever refuses "forever" where only a finite duration makes sense
// (it is for retention).
func (v *validator) notForever(path string, d Duration) {
	if d == Forever {
		v.doc.errorf(path, "forever only applies to retention: give a duration (e.g. 30s, 5m, 1h)")
	}
}

func (v *validator) route(path string, r *Route) {
	if r == nil {
		v.doc.errorf(path, "expected a mapping with source: (or webhook:) and destinations:")
		return
	}
	for i, dep := range r.DependsOn {
		dp := indexPath(joinPath(path, "depends_on"), i)
		switch {
		case dep == r.Name:
			v.doc.errorf(dp, "route %q cannot depend on itself", dep)
		case v.cfg.Routes[dep] == nil:
			v.doc.errorf(dp, "unknown route %q (defined routes: %s)", dep, strings.Join(v.routes, ", "))
		}
	}
	if v.hasSource(path, r) {
		v.source(joinPath(path, "source"), &r.Source)
	}
	v.trigger(path, r)
	v.webhook(joinPath(path, "webhook"), r.Webhook)
	v.freshness(path, r)
	v.steps(joinPath(path, "steps"), r.Steps, r)
	for _, n := range []struct {
		field string
		val   int
	}{{"batch", r.Batch}, {"error_batch", r.ErrorBatch}, {"max_iterations", r.MaxIterations}, {"collect_limit", r.CollectLimit}, {"retry.attempts", r.Retry.Attempts}} {
		if n.val < 0 {
			v.doc.errorf(joinPath(path, n.field), "must not be negative, got %d", n.val)
		}
	}
	v.deletes(path, r)
	v.notForever(joinPath(path, "retry.backoff"), r.Retry.Backoff)
	v.notForever(joinPath(path, "retry.max_backoff"), r.Retry.MaxBackoff)
	if r.Retry.Backoff > r.Retry.MaxBackoff && r.Retry.Backoff != Forever && r.Retry.MaxBackoff != Forever {
		v.doc.errorf(joinPath(path, "retry.backoff"), "backoff %s is longer than max_backoff %s", r.Retry.Backoff.D(), r.Retry.MaxBackoff.D())
	}
	v.destinations(joinPath(path, "destinations"), r)
	for i := range r.After {
		v.operation(indexPath(joinPath(path, "after"), i), &r.After[i])
	}
	for i := range r.OnError {
		v.operation(indexPath(joinPath(path, "on_error"), i), &r.OnError[i])
	}
}

// deletes checks deletes: send: the source must report deletes and
// every destination must apply them, as their kinds declare.
func (v *validator) deletes(path string, r *Route) {
	dp := joinPath(path, "deletes")
	switch r.Deletes {
	case DeletesIgnore:
		return
	case DeletesSend:
	default:
		v.doc.errorf(dp, "expected ignore or send, got %q", r.Deletes)
		return
	}
	if s := r.Source.spec(v.cfg.kinds, connector.RoleSource); s != nil && !hasCap(s, connector.CapDeletes) {
		v.doc.errorf(dp, "deletes: send, but a %s source never reports deletes (sources that do: %s)", r.Source.Kind, strings.Join(v.kindsWith(connector.RoleSource, connector.CapDeletes), ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Destinations)) {
		d := r.Destinations[name]
		if d == nil {
			continue
		}
		if s := d.spec(v.cfg.kinds, connector.RoleDestination); s != nil && !hasCap(s, connector.CapDeletes) {
			v.doc.errorf(dp, "deletes: send, but destination %q (%s) cannot apply deletes (destinations that can: %s)", name, d.Kind, strings.Join(v.kindsWith(connector.RoleDestination, connector.CapDeletes), ", "))
		}
	}
}

func hasCap(s *connector.Spec, c connector.Capability) bool {
	for _, x := range s.Caps {
		if x == c {
			return true
		}
	}
	return false
}

func (v *validator) kindsWith(role connector.Role, c connector.Capability) []string {
	var out []string
	for _, k := range v.cfg.kinds.For(role) {
		if hasCap(k.Spec(role), c) {
			out = append(out, k.Name)
		}
	}
	if len(out) == 0 {
		return []string{"none yet"}
	}
	return out
}

func (v *validator) source(path string, s *Source) {
	v.part(path, &s.Part, connector.RoleSource)
}

var stepKinds = []string{"filter", "map", "set", "drop", "validate", "switch"}

func (v *validator) steps(path string, steps []Step, r *Route) {
	for i := range steps {
		s := &steps[i]
		sp := indexPath(path, i)
		if !v.exactlyOne(sp, stepKinds, []bool{s.Filter != "", s.Map != nil, s.Set != nil, s.Drop != nil, s.Validate != nil, s.Switch != nil}) {
			continue
		}
		if s.Validate != nil && s.Validate.If == "" {
			v.required(joinPath(sp, "validate"), "if")
		}
		for j := range s.Switch {
			c := &s.Switch[j]
			cp := indexPath(joinPath(sp, "switch"), j)
			if c.When == "" && j < len(s.Switch)-1 {
				v.doc.errorf(cp, "only the last case may leave out when: (it is the default case)")
			}
			if c.To == "" && len(c.Steps) == 0 {
				v.doc.errorf(cp, "expected to: (a destination) or steps:, or both")
			}
			if c.To != "" && r.Destinations[c.To] == nil {
				v.doc.errorf(joinPath(cp, "to"), "unknown destination %q (destinations of route %s: %s)", c.To, r.Name, strings.Join(slices.Sorted(maps.Keys(r.Destinations)), ", "))
			}
			v.steps(joinPath(cp, "steps"), c.Steps, r)
		}
	}
}

func (v *validator) destinations(path string, r *Route) {
	switch {
	case r.Destinations == nil:
		v.required(parentPath(path), "destinations")
		return
	case r.Destinations["default"] == nil && len(r.Destinations) == 0:
		v.doc.errorf(path, "expected at least one destination, named default")
		return
	case r.Destinations["default"] == nil && !v.has(joinPath(path, "default")):
		v.doc.errorf(path, "missing the %q destination; it receives every record no switch sent elsewhere (defined: %s)", "default", strings.Join(slices.Sorted(maps.Keys(r.Destinations)), ", "))
	}
	for _, name := range orderedKeys(v.doc.keys[path], r.Destinations) {
		dp := joinPath(path, name)
		d := r.Destinations[name]
		if d == nil {
			d = &Destination{}
		}
		v.part(dp, &d.Part, connector.RoleDestination)
	}
}

func (v *validator) operation(path string, op *Operation) {
	v.part(path, &op.Part, connector.RoleOperation)
}

// cycles reports each depends_on cycle once, starting at the route that
// comes first in the file.
func (v *validator) cycles() {
	index := map[string]int{}
	for i, name := range v.cfg.RouteOrder {
		index[name] = i
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		r := v.cfg.Routes[name]
		if r != nil {
			for _, dep := range r.DependsOn {
				if dep == name || v.cfg.Routes[dep] == nil {
					continue // reported as self or unknown
				}
				switch state[dep] {
				case unseen:
					visit(dep)
				case active:
					v.reportCycle(stack, dep, index, reported)
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, name := range v.cfg.RouteOrder {
		if state[name] == unseen {
			visit(name)
		}
	}
}

func (v *validator) reportCycle(stack []string, back string, index map[string]int, reported map[string]bool) {
	start := 0
	for i, n := range stack {
		if n == back {
			start = i
		}
	}
	cycle := append([]string(nil), stack[start:]...)
	first := 0
	for i, n := range cycle {
		if index[n] < index[cycle[first]] {
			first = i
		}
	}
	cycle = append(cycle[first:], cycle[:first]...)
	sortedNodes := append([]string(nil), cycle...)
	sort.Strings(sortedNodes)
	if k := strings.Join(sortedNodes, ","); reported[k] {
		return
	} else {
		reported[k] = true
	}
	v.doc.errorf(joinPath(joinPath("routes", cycle[0]), "depends_on"), "depends_on cycle: %s -> %s", strings.Join(cycle, " -> "), cycle[0])
}

// compile compiles every expression and template (fields tagged
// ferry:"expr" or ferry:"template"), so a typo fails at load, not on the
// first record.
func (v *validator) compile(x reflect.Value, path, kind string) {
	switch x.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !x.IsNil() {
			v.compile(x.Elem(), path, kind)
		}
	case reflect.Struct:
		if h, ok := asHolder(x); ok {
			if p := h.part(); p.Config != nil {
				v.compile(reflect.ValueOf(p.Config), p.ConfigPath(path), kind)
			}
			return
		}
		t := x.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			v.compile(x.Field(i), joinPath(path, name), f.Tag.Get("ferry"))
		}
	case reflect.Map:
		keys := x.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			v.compile(x.MapIndex(k), joinPath(path, k.String()), kind)
		}
	case reflect.Slice:
		for i := range x.Len() {
			v.compile(x.Index(i), indexPath(path, i), kind)
		}
	case reflect.String:
		v.compileString(path, x.String(), kind)
	}
}

func (v *validator) compileString(path, s, kind string) {
	if s == "" || kind == "" {
		return
	}
	var err error
	switch kind {
	case "expr":
		_, err = expr.Compile(s)
	case "template":
		_, err = expr.CompileTemplate(s)
	}
	if err == nil {
		return
	}
	if v.secrets[path] {
		v.doc.errorf(path, "invalid %s (not shown: it holds a value from ${env:...} or ${file:...})", kindName(kind))
		return
	}
	v.doc.errorf(path, "%s", err.Error())
}

func kindName(kind string) string {
	if kind == "expr" {
		return "expression"
	}
	return kind
}

func hasKey[T any](m map[string]T, k string) bool {
	_, ok := m[k]
	return ok
}
