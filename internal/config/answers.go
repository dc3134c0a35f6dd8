package config

import (
	"strings"

	"github.com/ferry-dev/ferry/internal/expr"
)

// Answer is one answer rule of an HTTP destination or operation: when its
// expression is true for an answer, Outcome decides what happens to the
// record, before (and instead of) the built-in classification.
type Answer struct {
	// When is an expression over status, body, json, headers (and result,
	// with per-record results).
	When string `yaml:"when" json:"when" jsonschema:"description=Expression over status\\, body\\, json\\, headers (and result with per-record results)\\, e.g. status == 409" ferry:"expr"`
	// Outcome is done, skip, retry or dead.
	Outcome string `yaml:"outcome" json:"outcome" jsonschema:"enum=done,enum=skip,enum=retry,enum=dead,description=done: delivered; skip: settled as skipped; retry: retried with backoff; dead: a dead letter at once"`
	// Delay is the least wait before a retry (outcome retry only).
	Delay Duration `yaml:"delay,omitempty" json:"delay,omitempty" jsonschema:"type=string,description=With outcome: retry\\, wait at least this long before the next attempt"`
	// Message is the error recorded with the record (a template).
	Message string `yaml:"message,omitempty" json:"message,omitempty" jsonschema:"description=The error recorded with the record; may hold ${...} templates over the same variables as when" ferry:"template"`
}

// Answer outcomes.
const (
	OutcomeDone  = "done"
	OutcomeSkip  = "skip"
	OutcomeRetry = "retry"
	OutcomeDead  = "dead"
)

// AnswerOutcomes lists the valid outcomes, in the order docs name them.
var AnswerOutcomes = []string{OutcomeDone, OutcomeSkip, OutcomeRetry, OutcomeDead}

// AnswerUsesResult tells whether an answer expression reads result, the
// per-record result item: such a rule applies to one record of a batch
// answer, the others to the whole answer.
func AnswerUsesResult(p *expr.Program) bool {
	for _, n := range p.Names() {
		if n == "result" {
			return true
		}
	}
	return false
}

// allAnswers checks the answer rules of every HTTP destination and
// operation. Expressions and message templates are compiled with every
// other expression (they are tagged); this checks what a tag cannot.
func (v *validator) allAnswers() {
	for _, route := range v.cfg.RouteOrder {
		r := v.cfg.Routes[route]
		if r == nil {
			continue
		}
		rp := joinPath("routes", route)
		for _, name := range sortedKeys(r.Destinations) {
			if d := r.Destinations[name]; d != nil && d.HTTP != nil {
				hp := joinPath(joinPath(joinPath(rp, "destinations"), name), "http")
				v.answers(joinPath(hp, "answers"), d.HTTP.Answers, d.HTTP.Results != nil)
			}
		}
		for _, list := range []struct {
			field string
			ops   []Operation
		}{{"after", r.After}, {"on_error", r.OnError}} {
			for i, op := range list.ops {
				if op.HTTP != nil {
					hp := joinPath(indexPath(joinPath(rp, list.field), i), "http")
					v.answers(joinPath(hp, "answers"), op.HTTP.Answers, false)
				}
			}
		}
	}
}

// answers checks one list of rules. withResults tells whether per-record
// results exist, without which a rule reading result could never match.
func (v *validator) answers(path string, rules []Answer, withResults bool) {
	for i, a := range rules {
		ap := indexPath(path, i)
		if strings.TrimSpace(a.When) == "" {
			v.required(ap, "when")
		} else if p, err := expr.Compile(a.When); err == nil && !withResults && AnswerUsesResult(p) {
			v.doc.errorf(joinPath(ap, "when"), "result is only available with per-record results (results: on a destination); this rule could never match")
		}
		switch a.Outcome {
		case OutcomeDone, OutcomeSkip, OutcomeRetry, OutcomeDead:
		case "":
			v.required(ap, "outcome")
		default:
			v.doc.errorf(joinPath(ap, "outcome"), "expected one of %s, got %q%s", strings.Join(AnswerOutcomes, ", "), a.Outcome, didYouMean(a.Outcome, AnswerOutcomes))
		}
		v.notForever(joinPath(ap, "delay"), a.Delay)
		if a.Delay != 0 && a.Outcome != OutcomeRetry {
			v.doc.errorf(joinPath(ap, "delay"), "delay only applies to outcome: retry (this rule's outcome is %q)", a.Outcome)
		}
	}
}
