// Package transform compiles a route's steps once and applies them to each
// record: filter, map, set, drop, validate and switch.
//
// Expressions see the record's fields by name with the run's vars (key,
// cursor, entry) on top. The input record is never modified: a step that
// changes the record works on a copy, so nothing leaks between records.
package transform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/expr"
)

// Pipeline is a route's compiled steps; safe for concurrent use.
type Pipeline struct {
	steps []step
	names names // what the expressions read
}

// Outcome is what the steps made of one record.
type Outcome struct {
	// Record is the record after the steps (the input itself when no step
	// changed it).
	Record map[string]any
	// Destination is where a switch sent the record; "" means the default.
	Destination string
	// Skipped is true when a filter dropped the record.
	Skipped    bool
	SkipReason string
	// Err is set when a step failed; Invalid marks a failed validate, which
	// no retry can fix.
	Err     error
	Invalid bool
}

// Compile compiles steps. Errors name the step and field, e.g.
// `steps[2].map.total_cents: expression "int(total * )": ...`.
func Compile(steps []config.Step) (*Pipeline, error) {
	p := &Pipeline{}
	var err error
	if p.steps, err = compileSteps("steps", steps, &p.names); err != nil {
		return nil, err
	}
	return p, nil
}

// Apply runs the steps over rec; vars (key, cursor, entry) are visible to
// expressions beside the record's fields and win over fields of the same
// name. rec is not modified.
func (p *Pipeline) Apply(rec map[string]any, vars map[string]any) Outcome {
	s := state{rec: rec, vars: vars}
	var out Outcome
	if p != nil {
		if p.names.readsAny(vars) {
			s.names = &p.names
		}
		runSteps(p.steps, &s, &out)
	}
	out.Record = s.rec
	out.Destination = s.dest
	return out
}

// state is one record on its way through the steps.
type state struct {
	rec   map[string]any
	owned bool // rec is our own copy and may be changed in place
	vars  map[string]any
	names *names         // set when expressions read vars: env is built from them, else it is rec itself
	env   map[string]any // expression env; nil when rec changed since it was built
	dest  string
}

// environment returns rec with vars on top, built once per version of the
// record: filters, validates and switches in a row share one. When no
// expression reads a var, it is rec itself: copying a 15-field record for
// every record was a third of the pipeline's time.
func (s *state) environment() map[string]any {
	if s.env == nil {
		if s.names != nil {
			s.env = s.names.env(s.rec, s.vars)
		} else {
			s.env = s.rec
		}
	}
	return s.env
}

func mergedEnv(rec, vars map[string]any) map[string]any {
	env := make(map[string]any, len(rec)+len(vars))
	for k, v := range rec {
		env[k] = v
	}
	for k, v := range vars {
		env[k] = v
	}
	return env
}

// replace makes rec the new record (fresh, ours to change).
func (s *state) replace(rec map[string]any) {
	s.rec, s.owned, s.env = rec, true, nil
}

// mutable returns the record ready to change in place, copying the
// caller's map the first time.
func (s *state) mutable() map[string]any {
	if !s.owned {
		c := make(map[string]any, len(s.rec)+2)
		for k, v := range s.rec {
			c[k] = v
		}
		s.rec, s.owned = c, true
	}
	s.env = nil
	return s.rec
}

// step is one compiled step. apply returns false when the record stops
// here (skipped or failed), with out telling why.
type step interface {
	apply(s *state, out *Outcome) bool
}

func runSteps(steps []step, s *state, out *Outcome) bool {
	for _, st := range steps {
		if !st.apply(s, out) {
			return false
		}
	}
	return true
}

func compileSteps(path string, steps []config.Step, nm *names) ([]step, error) {
	out := make([]step, 0, len(steps))
	for i := range steps {
		st, err := compileStep(fmt.Sprintf("%s[%d]", path, i), &steps[i], nm)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func compileStep(path string, c *config.Step, nm *names) (step, error) {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"filter", c.Filter != ""}, {"map", c.Map != nil}, {"set", c.Set != nil}, {"drop", c.Drop != nil}, {"validate", c.Validate != nil}, {"switch", c.Switch != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) != 1 {
		found := "none"
		if len(kinds) > 1 {
			found = strings.Join(kinds, " and ")
		}
		return nil, fmt.Errorf("%s: expected exactly one of filter, map, set, drop, validate, switch; found %s", path, found)
	}
	switch {
	case c.Filter != "":
		p, err := compileExpr(path+".filter", c.Filter, nm)
		if err != nil {
			return nil, err
		}
		return filterStep{path: path + ".filter", prog: p}, nil
	case c.Map != nil:
		m, err := compileObject("", c.Map, nm)
		if err != nil {
			return nil, fmt.Errorf("%s.map.%w", path, err)
		}
		return mapStep{path: path + ".map", obj: m}, nil
	case c.Set != nil:
		return compileSet(path+".set", c.Set, nm)
	case c.Drop != nil:
		return compileDrop(path+".drop", c.Drop)
	case c.Validate != nil:
		return compileValidate(path+".validate", c.Validate, nm)
	default:
		return compileSwitch(path+".switch", c.Switch, nm)
	}
}

func compileExpr(path, src string, nm *names) (*expr.Program, error) {
	p, err := expr.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	nm.add(src)
	return p, nil
}

// filterStep keeps the record only when its expression is true.
type filterStep struct {
	path string
	prog *expr.Program
}

func (f filterStep) apply(s *state, out *Outcome) bool {
	ok, err := f.prog.Bool(s.environment())
	if err != nil {
		out.Err = fmt.Errorf("%s: %w", f.path, err)
		return false
	}
	if !ok {
		out.Skipped = true
		out.SkipReason = fmt.Sprintf("filter %q", f.prog.String())
		return false
	}
	return true
}

// mapStep replaces the record with a new one built from expressions.
type mapStep struct {
	path string
	obj  objectNode
}

func (m mapStep) apply(s *state, out *Outcome) bool {
	rec, err := m.obj.object(s.environment())
	if err != nil {
		out.Err = fmt.Errorf("%s.%w", m.path, err)
		return false
	}
	s.replace(rec)
	return true
}

// validateStep fails the record for good unless its expression is true.
type validateStep struct {
	path    string
	prog    *expr.Program
	message *expr.Template
}

func compileValidate(path string, v *config.Validate, nm *names) (step, error) {
	p, err := compileExpr(path+".if", v.If, nm)
	if err != nil {
		return nil, err
	}
	msg := v.Message
	if msg == "" {
		// Escape the expression's own "${" so it is shown, not run.
		msg = "validation failed: " + strings.ReplaceAll(v.If, "${", "$${")
	}
	t, err := expr.CompileTemplate(msg)
	if err != nil {
		return nil, fmt.Errorf("%s.message: %w", path, err)
	}
	return validateStep{path: path, prog: p, message: t}, nil
}

func (v validateStep) apply(s *state, out *Outcome) bool {
	env := s.environment()
	ok, err := v.prog.Bool(env)
	if err != nil {
		out.Err = fmt.Errorf("%s.if: %w", v.path, err)
		return false
	}
	if ok {
		return true
	}
	out.Invalid = true
	// The message may read vars the expressions do not; this path is rare.
	msg, err := v.message.Render(mergedEnv(s.rec, s.vars))
	if err != nil {
		out.Err = fmt.Errorf("validation failed: %s (%s.message: %v)", v.prog.String(), v.path, err)
		return false
	}
	out.Err = errors.New(msg)
	return false
}

// switchStep runs the first case whose condition holds, or the default.
type switchStep struct {
	path  string
	cases []switchCase
	def   *switchCase // the case without when, if any
}

type switchCase struct {
	path  string
	when  *expr.Program
	to    string
	steps []step
}

func compileSwitch(path string, cases []config.SwitchCase, nm *names) (step, error) {
	sw := switchStep{path: path}
	for i := range cases {
		c := &cases[i]
		cp := fmt.Sprintf("%s[%d]", path, i)
		sc := switchCase{path: cp, to: c.To}
		var err error
		if sc.steps, err = compileSteps(cp+".steps", c.Steps, nm); err != nil {
			return nil, err
		}
		if c.When == "" {
			if sw.def != nil {
				return nil, fmt.Errorf("%s: a second case without when: (only one default case is allowed, %s is the first)", cp, sw.def.path)
			}
			sw.def = &sc
			continue
		}
		if sc.when, err = compileExpr(cp+".when", c.When, nm); err != nil {
			return nil, err
		}
		sw.cases = append(sw.cases, sc)
	}
	return sw, nil
}

func (sw switchStep) apply(s *state, out *Outcome) bool {
	for i := range sw.cases {
		c := &sw.cases[i]
		ok, err := c.when.Bool(s.environment())
		if err != nil {
			out.Err = fmt.Errorf("%s.when: %w", c.path, err)
			return false
		}
		if ok {
			return c.run(s, out)
		}
	}
	if sw.def != nil {
		return sw.def.run(s, out)
	}
	return true
}

// run applies the case: its to first, so a nested switch can refine it.
func (c *switchCase) run(s *state, out *Outcome) bool {
	if c.to != "" {
		s.dest = c.to
	}
	return runSteps(c.steps, s, out)
}
