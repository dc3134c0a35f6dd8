package config_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"
)

// answersRoute is a route whose default destination (line 10 on) takes
// the answer rules in rules, indented under answers:.
func answersRoute(results, rules string) string {
	return sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http:\n          system: erp\n" +
		results + "          answers:\n" + rules
}

// TestAnswerErrors pins the position and message of each mistake in
// answer rules.
func TestAnswerErrors(t *testing.T) {
	cases := []errorCase{
		{name: "unknown outcome", src: answersRoute("", "            - when: status == 409\n              outcome: ok\n"),
			want: "ferry.yaml:14:24: routes.orders.destinations.default.http.answers[0].outcome: expected one of done, skip, retry, dead, got \"ok\""},
		{name: "outcome typo", src: answersRoute("", "            - when: status == 409\n              outcome: dnoe\n"),
			want: "ferry.yaml:14:24: routes.orders.destinations.default.http.answers[0].outcome: expected one of done, skip, retry, dead, got \"dnoe\" (did you mean \"done\"?)"},
		{name: "missing outcome", src: answersRoute("", "            - when: status == 409\n"),
			want: "ferry.yaml:13:15: routes.orders.destinations.default.http.answers[0].outcome: missing required field \"outcome\""},
		{name: "empty when", src: answersRoute("", "            - when: \"\"\n              outcome: done\n"),
			want: "ferry.yaml:13:21: routes.orders.destinations.default.http.answers[0].when: missing required field \"when\""},
		{name: "when does not compile", src: answersRoute("", "            - when: status = 409\n              outcome: done\n"),
			want: "ferry.yaml:13:21: routes.orders.destinations.default.http.answers[0].when: expression \"status = 409\": unexpected token Operator(\"=\") (1:8)"},
		{name: "delay on a dead rule", src: answersRoute("", "            - when: status == 422\n              outcome: dead\n              delay: 30s\n"),
			want: "ferry.yaml:15:22: routes.orders.destinations.default.http.answers[0].delay: delay only applies to outcome: retry (this rule's outcome is \"dead\")"},
		{name: "delay forever", src: answersRoute("", "            - when: status == 429\n              outcome: retry\n              delay: forever\n"),
			want: "ferry.yaml:15:22: routes.orders.destinations.default.http.answers[0].delay: forever only applies to retention: give a duration (e.g. 30s, 5m, 1h)"},
		{name: "message does not compile", src: answersRoute("", "            - when: status == 422\n              outcome: dead\n              message: \"refused: ${json.error\"\n"),
			want: "ferry.yaml:15:24: routes.orders.destinations.default.http.answers[0].message: template \"refused: ${json.error\": unclosed ${ at offset 9"},
		{name: "result without results", src: answersRoute("", "            - when: result.status == \"duplicate\"\n              outcome: done\n"),
			want: "ferry.yaml:13:21: routes.orders.destinations.default.http.answers[0].when: result is only available with per-record results (results: on a destination); this rule could never match"},
		{name: "second rule of an operation", src: sys + "routes:\n  orders:\n" + okRoute + "    after:\n      - http:\n          system: shop\n          answers:\n            - {when: status == 404, outcome: done}\n            - {when: status == 410, outcome: gone}\n",
			want: "ferry.yaml:16:46: routes.orders.after[0].http.answers[1].outcome: expected one of done, skip, retry, dead, got \"gone\" (did you mean \"done\"?)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parse([]byte(c.src), "ferry.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded (%d routes), want error:\n%s", len(cfg.Routes), c.want)
			}
			var es *config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want config.Errors: %v", err, err)
			}
			if got := err.Error(); got != c.want {
				t.Errorf("wrong error\ngot:  %s\nwant: %s", got, c.want)
			}
		})
	}
}

func TestAnswersLoad(t *testing.T) {
	src := answersRoute("          body: array\n          results: {path: results, key: id}\n",
		"            - when: status == 409 || (status == 500 && body contains \"duplicate id\")\n              outcome: done\n"+
			"            - when: result.status == \"busy\"\n              outcome: retry\n              delay: 30s\n              message: \"busy: ${result.message}\"\n")
	cfg, err := parse([]byte(src), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := cfg.Routes["orders"].Destinations["default"].Config.(*httpconn.DestinationConfig).Answers
	if len(rules) != 2 || rules[0].Outcome != config.OutcomeDone || rules[1].Delay.D() != 30*time.Second || rules[1].Message != "busy: ${result.message}" {
		t.Fatalf("answers = %+v", rules)
	}
}

// TestAnswersSchema: editors learn the rules' fields and outcomes.
func TestAnswersSchema(t *testing.T) {
	b, err := config.Schema(all.Set())
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
				Ref  string   `json:"$ref"`
			} `json:"properties"`
			Required []string `json:"required"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	a := s.Defs["http.Answer"]
	if got := strings.Join(a.Properties["outcome"].Enum, ","); got != "done,skip,retry,dead" {
		t.Errorf("outcome enum = %q", got)
	}
	if got := strings.Join(a.Required, ","); got != "when,outcome" {
		t.Errorf("required = %q", got)
	}
	for _, owner := range []string{"http.DestinationConfig", "http.OperationConfig"} {
		if _, ok := s.Defs[owner].Properties["answers"]; !ok {
			t.Errorf("%s has no answers property", owner)
		}
	}
}
