package config

import (
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
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

// CheckAnswers checks one list of answer rules at field of a kind's
// config (expressions and message templates are compiled with every other
// tagged field; this checks what a tag cannot). withResults tells whether
// per-record results exist, without which a rule reading result could
// never match.
func CheckAnswers(c connector.Checker, field string, rules []Answer, withResults bool) {
	for i, a := range rules {
		ap := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(a.When) == "" {
			c.Errorf(ap+".when", "missing required field %q", "when")
		} else if p, err := expr.Compile(a.When); err == nil && !withResults && AnswerUsesResult(p) {
			c.Errorf(ap+".when", "result is only available with per-record results (results: on a destination); this rule could never match")
		}
		switch a.Outcome {
		case OutcomeDone, OutcomeSkip, OutcomeRetry, OutcomeDead:
		case "":
			c.Errorf(ap+".outcome", "missing required field %q", "outcome")
		default:
			c.Errorf(ap+".outcome", "expected one of %s, got %q%s", strings.Join(AnswerOutcomes, ", "), a.Outcome, didYouMean(a.Outcome, AnswerOutcomes))
		}
		CheckFinite(c, ap+".delay", a.Delay)
		if a.Delay != 0 && a.Outcome != OutcomeRetry {
			c.Errorf(ap+".delay", "delay only applies to outcome: retry (this rule's outcome is %q)", a.Outcome)
		}
	}
}

// CheckFinite refuses "forever" where only a finite duration makes sense
// (it is for retention).
func CheckFinite(c connector.Checker, field string, d Duration) {
	if d == Forever {
		c.Errorf(field, "forever only applies to retention: give a duration (e.g. 30s, 5m, 1h)")
	}
}

// CheckExactlyOne reports at field unless exactly one of the named
// options is set; it returns whether one was.
func CheckExactlyOne(c connector.Checker, field string, names []string, set []bool) bool {
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
	c.Errorf(field, "expected exactly one of %s; got %s", strings.Join(names, ", "), what)
	return false
}

// CheckRequired reports a missing required option name of the mapping at field.
func CheckRequired(c connector.Checker, field, name string) {
	if field != "" {
		name = field + "." + name
	}
	c.Errorf(name, "missing required field %q", lastSegment(name))
}

// DidYouMean returns " (did you mean X?)" for the candidate closest to s,
// or "".
func DidYouMean(s string, candidates []string) string { return didYouMean(s, candidates) }
