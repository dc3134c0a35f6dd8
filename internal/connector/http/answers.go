package httpconn

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// answerRule is one compiled answers: rule.
type answerRule struct {
	index   int // position in the list, for messages
	when    *expr.Program
	outcome string
	delay   time.Duration
	message *expr.Template // nil: a message built from the answer
	// perRecord: the rule reads result, so it is decided per record of a
	// batch answer, for records that have a result item.
	perRecord bool
	// readsRecord: the rule reads one of the record's variables (key,
	// entry, idempotency_key), so it is decided per record too; the
	// others once per answer.
	readsRecord bool
	usesJSON    bool // the body is decoded only for rules that read json
}

// answerRules decides outcomes from what the destination answered,
// before the built-in classification. The first matching rule wins.
type answerRules []*answerRule

func compileAnswers(rules []config.Answer) (answerRules, error) {
	out := make(answerRules, 0, len(rules))
	for i, a := range rules {
		where := fmt.Sprintf("answers[%d]", i)
		switch a.Outcome {
		case config.OutcomeDone, config.OutcomeSkip, config.OutcomeRetry, config.OutcomeDead:
		default:
			return nil, fmt.Errorf("%s.outcome: %q is not an outcome (expected one of %s)", where, a.Outcome, strings.Join(config.AnswerOutcomes, ", "))
		}
		if a.Delay != 0 && a.Outcome != config.OutcomeRetry {
			return nil, fmt.Errorf("%s.delay: only applies to outcome: retry", where)
		}
		when, err := expr.Compile(a.When)
		if err != nil {
			return nil, fmt.Errorf("%s.when: %w", where, err)
		}
		r := &answerRule{index: i, when: when, outcome: a.Outcome, delay: a.Delay.D(), perRecord: config.AnswerUsesResult(when)}
		r.usesJSON = slices.Contains(when.Names(), "json")
		r.readsRecord = slices.ContainsFunc(when.Names(), isRecordVar)
		if a.Message != "" {
			if r.message, err = expr.CompileTemplate(a.Message); err != nil {
				return nil, fmt.Errorf("%s.message: %w", where, err)
			}
			r.usesJSON = r.usesJSON || slices.Contains(r.message.Names(), "json")
		}
		out = append(out, r)
	}
	return out, nil
}

// isRecordVar tells whether name is one of the record's variables in
// answer rules (the delivery's vars).
func isRecordVar(name string) bool {
	return name == "key" || name == "entry" || name == idempotencyKeyVar
}

// answer is what rules see of one response. The JSON is decoded once,
// on first use.
type answer struct {
	res     *response
	env     map[string]any
	decided []int8 // per response-level rule: 0 not yet evaluated, 1 matched, -1 not
	errs    []string
}

func newAnswer(res *response, rules answerRules) *answer {
	headers := make(map[string]any, len(res.header))
	for k, v := range res.header {
		if len(v) > 0 {
			headers[strings.ToLower(k)] = v[0]
		}
	}
	var decoded any
	if rules.useJSON() && !res.tooLarge {
		if v, err := jsonx.Decode(res.body); err == nil {
			decoded = v
		}
	}
	return &answer{
		res:     res,
		env:     map[string]any{"status": res.status, "body": string(res.body), "json": decoded, "headers": headers},
		decided: make([]int8, len(rules)),
	}
}

func (rules answerRules) useJSON() bool {
	for _, r := range rules {
		if r.usesJSON {
			return true
		}
	}
	return false
}

// decide returns the first rule that matches the answer for one record,
// or nil, with the env the rule's message is rendered with: the answer's
// variables and the record's own (key, entry, idempotency_key, result),
// also when the rule decided for a whole batch at once. item is the
// record's per-record result (hasItem false when there is none): rules
// reading result are passed over without one. A rule that fails to
// evaluate does not match; the failure is kept for the message of a
// record that then fails.
func (rules answerRules) decide(a *answer, del connector.Delivery, item any, hasItem bool) (*answerRule, map[string]any) {
	var rec map[string]any // built on first use
	recordEnv := func() map[string]any {
		if rec == nil {
			rec = a.recordEnv(del, item, hasItem)
		}
		return rec
	}
	for _, r := range rules {
		if r.perRecord || r.readsRecord {
			if r.perRecord && !hasItem {
				continue
			}
			if ok, err := r.when.Bool(recordEnv()); err != nil {
				a.note(r, err)
			} else if ok {
				return r, recordEnv()
			}
			continue
		}
		if a.decided[r.index] == 0 {
			a.decided[r.index] = -1
			if ok, err := r.when.Bool(a.env); err != nil {
				a.note(r, err)
			} else if ok {
				a.decided[r.index] = 1
			}
		}
		if a.decided[r.index] == 1 {
			return r, recordEnv()
		}
	}
	return nil, nil
}

// recordEnv is the answer's variables with one record's on top: the
// delivery's vars (key, entry, idempotency_key) and its result item. The
// answer's own names (status, body, json, headers) win over a var.
func (a *answer) recordEnv(del connector.Delivery, item any, hasItem bool) map[string]any {
	env := make(map[string]any, len(a.env)+len(del.Vars)+3)
	for k, v := range del.Vars {
		env[k] = v
	}
	if !hasField(del.Vars, idempotencyKeyVar) && del.IdempotencyKey != "" {
		env[idempotencyKeyVar] = del.IdempotencyKey
	}
	env["key"] = del.Key
	for k, v := range a.env {
		env[k] = v
	}
	if hasItem {
		env["result"] = item
	}
	return env
}

func (a *answer) note(r *answerRule, err error) {
	msg := fmt.Sprintf("answers[%d] did not apply: %v", r.index, err)
	for _, e := range a.errs {
		if e == msg {
			return
		}
	}
	a.errs = append(a.errs, msg)
}

// result turns a matched rule into a record's result.
func (r *answerRule) result(a *answer, env map[string]any, response string) connector.Result {
	res := a.res
	out := connector.Result{StatusCode: res.status, Duration: res.duration, Response: response}
	switch r.outcome {
	case config.OutcomeDone:
		out.OK = true
		return out
	case config.OutcomeSkip:
		out.Skipped = true
	case config.OutcomeRetry:
		out.Retryable = true
		out.RetryAfter = r.delay
		if out.RetryAfter == 0 {
			out.RetryAfter = retryAfter(res.header, time.Now())
		}
		// A server error may hide a request that was applied.
		out.Unknown = res.status >= 500
	}
	out.Error = r.messageFor(res, env)
	return out
}

// messageFor renders the rule's message, or names the rule and the
// answer when it has none.
func (r *answerRule) messageFor(res *response, env map[string]any) string {
	if r.message != nil {
		msg, err := r.message.Render(env)
		if err != nil {
			return fmt.Sprintf("answers[%d].message: %v; %s", r.index, err, statusError(res))
		}
		return msg
	}
	return fmt.Sprintf("%s (answers[%d]: %s)", statusError(res), r.index, r.outcome)
}

// withNotes adds rules that failed to evaluate to a failed result's
// error, so a rule that never matches because of a mistake is seen.
func (a *answer) withNotes(r connector.Result) connector.Result {
	if a == nil || len(a.errs) == 0 || r.OK {
		return r
	}
	r.Error += " (" + strings.Join(a.errs, "; ") + ")"
	return r
}
