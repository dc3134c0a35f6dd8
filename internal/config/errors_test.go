package config_test

import (
	"errors"
	"os"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// sys defines two systems on lines 1-3, so route lines below start at 4.
const sys = "systems:\n  shop: {url: https://shop.test}\n  erp: {url: https://erp.test}\n"

// okRoute is the body of a valid route (5 lines).
const okRoute = "    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp}\n"

type errorCase struct{ name, src, want string }

var errorCases = []errorCase{
	{name: "tab indentation", src: "routes:\n\torders: {}\n",
		want: "ferry.yaml:2:1: tab character: YAML indentation must use spaces"},
	{name: "bad indentation", src: sys + "routes:\n  orders:\n    source:\n      http:\n        system: shop\n       key: id\n",
		want: "ferry.yaml:9:8: value is not allowed in this context (check the indentation of this line)"},
	{name: "unclosed flow mapping", src: sys + "routes: {orders: [\n",
		want: "ferry.yaml:4:18: sequence end token ']' not found"},
	{name: "integer expected", src: sys + "routes:\n  orders:\n    batch: many\n" + okRoute,
		want: "ferry.yaml:6:12: routes.orders.batch: expected an integer, got \"many\""},
	{name: "unknown field with suggestion", src: sys + "routes:\n  orders:\n    sorce: {}\n" + okRoute,
		want: "ferry.yaml:6:5: routes.orders.sorce: unknown field \"sorce\" (did you mean \"source\"?)"},
	{name: "unknown field lists fields", src: sys + "routes:\n  orders:\n    colour: red\n" + okRoute,
		want: "ferry.yaml:6:5: routes.orders.colour: unknown field \"colour\" (expected one of: after, batch, collect_limit, concurrent, deletes, depends_on, description, destinations, entry_priority, error_batch, every, fresh_within, max_iterations, on_error, on_stale, priority, resend_unchanged, retry, schedule, source, steps, timezone, webhook)"},
	{name: "missing source", src: sys + "routes:\n  orders:\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:5:3: routes.orders.source: missing required field \"source\" (a route needs a source:, a webhook:, or both)"},
	{name: "source without kind", src: sys + "routes:\n  orders:\n    source: {}\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:6:5: routes.orders.source: expected exactly one of " + kindList(connector.RoleSource) + "; got none"},
	{name: "missing http system", src: sys + "routes:\n  orders:\n    source:\n      http:\n        key: id\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:7:7: routes.orders.source.http.system: missing required field \"system\""},
	{name: "missing key", src: sys + "routes:\n  orders:\n    source:\n      http:\n        system: shop\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:7:7: routes.orders.source.http.key: missing required field \"key\""},
	{name: "unknown system", src: sys + "routes:\n  orders:\n    source:\n      http:\n        system: shopp\n        key: id\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:8:17: routes.orders.source.http.system: unknown system \"shopp\" (defined systems: erp, shop)"},
	{name: "no systems defined", src: "routes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:22: routes.orders.source.http.system: unknown system \"shop\" (no systems are defined under systems:)\nferry.yaml:7:24: routes.orders.destinations.default.http.system: unknown system \"erp\" (no systems are defined under systems:)"},
	{name: "missing destinations", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n",
		want: "ferry.yaml:5:3: routes.orders.destinations: missing required field \"destinations\""},
	{name: "missing default destination", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      erp:\n        http: {system: erp}\n",
		want: "ferry.yaml:8:5: routes.orders.destinations: missing the \"default\" destination; it receives every record no switch sent elsewhere (defined: erp)"},
	{name: "destination without kind", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default: {}\n",
		want: "ferry.yaml:9:7: routes.orders.destinations.default: expected exactly one of " + kindList(connector.RoleDestination) + "; got none"},
	{name: "step with two kinds", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - filter: ok\n        drop: [a]\n",
		want: "ferry.yaml:12:9: routes.orders.steps[0]: expected exactly one of filter, map, set, drop, validate, switch; got filter and drop"},
	{name: "auth without method", src: "systems:\n  shop:\n    url: https://shop.test\n    auth: {}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:5: systems.shop.auth: expected exactly one of bearer, basic, api_key; got none\nferry.yaml:11:24: routes.orders.destinations.default.http.system: unknown system \"erp\" (defined systems: shop)"},
	{name: "api_key with header and query", src: "systems:\n  shop:\n    url: https://shop.test\n    auth:\n      api_key: {header: X-Key, query: key, value: k}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:5:7: systems.shop.auth.api_key: expected exactly one of header, query; got header and query\nferry.yaml:12:24: routes.orders.destinations.default.http.system: unknown system \"erp\" (defined systems: shop)"},
	{name: "unknown system in after", src: sys + "routes:\n  orders:\n" + okRoute + "    after:\n      - http: {system: crm, path: /x}\n",
		want: "ferry.yaml:12:24: routes.orders.after[0].http.system: unknown system \"crm\" (defined systems: erp, shop)"},
	{name: "unknown system in on_error", src: sys + "routes:\n  orders:\n" + okRoute + "    on_error:\n      - http: {system: tickets, path: /x}\n",
		want: "ferry.yaml:12:24: routes.orders.on_error[0].http.system: unknown system \"tickets\" (defined systems: erp, shop)"},
	{name: "switch to unknown destination", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - switch:\n          - when: total > 10\n            to: erp_large\n",
		want: "ferry.yaml:14:17: routes.orders.steps[0].switch[0].to: unknown destination \"erp_large\" (destinations of route orders: default)"},
	{name: "depends_on unknown route", src: sys + "routes:\n  orders:\n    depends_on: [custmers]\n" + okRoute + "  customers:\n" + okRoute,
		want: "ferry.yaml:6:18: routes.orders.depends_on[0]: unknown route \"custmers\" (defined routes: customers, orders)"},
	{name: "depends_on itself", src: sys + "routes:\n  orders:\n    depends_on: [orders]\n" + okRoute,
		want: "ferry.yaml:6:18: routes.orders.depends_on[0]: route \"orders\" cannot depend on itself"},
	{name: "depends_on cycle", src: sys + "routes:\n  a:\n    depends_on: [c]\n" + okRoute + "  b:\n    depends_on: [a]\n" + okRoute + "  c:\n    depends_on: [b]\n" + okRoute,
		want: "ferry.yaml:6:5: routes.a.depends_on: depends_on cycle: a -> c -> b -> a"},
	{name: "invalid duration", src: "systems:\n  shop: {url: https://shop.test, timeout: 30 seconds}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:2:43: systems.shop.timeout: invalid duration \"30 seconds\" (expected e.g. 500ms, 30s, 5m, 1h, 7d)"},
	{name: "invalid rate", src: "systems:\n  shop: {url: https://shop.test, rate: 10 per second}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:2:40: systems.shop.rate: invalid rate \"10 per second\" (expected requests per s, m or h, e.g. 10/s, 600/m, 5000/h)"},
	{name: "method not allowed", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, method: GET}\n",
		want: "ferry.yaml:10:37: routes.orders.destinations.default.http.method: expected one of POST, PUT, PATCH, DELETE, got \"GET\""},
	{name: "body not each or array", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, body: batch}\n",
		want: "ferry.yaml:10:35: routes.orders.destinations.default.http.body: expected each (one request per record) or array (one per batch), got \"batch\""},
	{name: "negative batch", src: sys + "routes:\n  orders:\n    batch: -5\n" + okRoute,
		want: "ferry.yaml:6:12: routes.orders.batch: must not be negative, got -5"},
	{name: "negative attempts", src: sys + "routes:\n  orders:\n    retry: {attempts: -1}\n" + okRoute,
		want: "ferry.yaml:6:23: routes.orders.retry.attempts: must not be negative, got -1"},
	{name: "filter does not compile", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - filter: status = \"paid\"\n",
		want: "ferry.yaml:12:17: routes.orders.steps[0].filter: expression \"status = \\\"paid\\\"\": unexpected token Operator(\"=\") (1:8)"},
	{name: "unclosed template in path", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, path: \"/orders/${key\"}\n",
		want: "ferry.yaml:10:35: routes.orders.destinations.default.http.path: template \"/orders/${key\": unclosed ${ at offset 8"},
	{name: "nested map leaf does not compile", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - map:\n          customer:\n            name: first +\n",
		want: "ferry.yaml:14:19: routes.orders.steps[0].map.customer.name: expression \"first +\": unexpected token EOF (1:7)"},
	{name: "operation body template does not compile", src: sys + "routes:\n  orders:\n" + okRoute + "    after:\n      - http:\n          system: shop\n          body: {status: \"${status ==}\"}\n",
		want: "ferry.yaml:14:26: routes.orders.after[0].http.body.status: template \"${status ==}\": expression \"status ==\": unexpected token EOF (1:9)"},
	{name: "source query template does not compile", src: sys + "routes:\n  orders:\n    source:\n      http:\n        system: shop\n        key: id\n        query: {since: \"${cursor +}\"}\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:10:24: routes.orders.source.http.query.since: template \"${cursor +}\": expression \"cursor +\": unexpected token EOF (1:8)"},
	{name: "validate without if", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - validate: {message: no e-mail}\n",
		want: "ferry.yaml:12:9: routes.orders.steps[0].validate.if: missing required field \"if\""},
	{name: "results ok does not compile", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http:\n          system: erp\n          body: array\n          results: {ok: 'status = 1'}\n",
		want: "ferry.yaml:13:25: routes.orders.destinations.default.http.results.ok: expression \"status = 1\": unexpected token Operator(\"=\") (1:8)"},
	{name: "two documents", src: sys + "routes:\n  orders:\n" + okRoute + "---\nroutes: {}\n",
		want: "ferry.yaml:11:1: expected one YAML document, found a second one"},
	{name: "empty file", src: "",
		want: "ferry.yaml:1:1: empty config: expected a mapping with routes:"},
	{name: "top level list", src: "- a\n- b\n",
		want: "ferry.yaml:1:1: expected a mapping with routes: at the top of the file, got a list"},
	{name: "duplicate key", src: sys + "routes:\n  orders:\n" + okRoute + "  orders:\n" + okRoute,
		want: "ferry.yaml:11:3: duplicate key \"orders\" (first defined at line 5, column 3)"},
	{name: "string instead of list", src: sys + "routes:\n  orders:\n    depends_on: customers\n" + okRoute,
		want: "ferry.yaml:6:17: routes.orders.depends_on: expected a list, got \"customers\""},
	{name: "url not absolute", src: "systems:\n  shop: {url: shop.test}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:2:15: systems.shop.url: expected an absolute http:// or https:// URL, got \"shop.test\""},
	{name: "missing env var", src: "systems:\n  shop:\n    url: https://shop.test\n    auth: {bearer: \"${env:FERRY_TEST_UNSET}\"}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:20: systems.shop.auth.bearer: environment variable \"FERRY_TEST_UNSET\" is not set (set it, or give a default with ${env:FERRY_TEST_UNSET:-default})"},
	{name: "missing env var in expression reported once", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - filter: ${env:FERRY_TEST_UNSET}\n",
		want: "ferry.yaml:12:17: routes.orders.steps[0].filter: environment variable \"FERRY_TEST_UNSET\" is not set (set it, or give a default with ${env:FERRY_TEST_UNSET:-default})"},
	{name: "missing secret file", src: "systems:\n  shop:\n    url: https://shop.test\n    auth: {basic: {user: u, password: \"${file:nope.txt}\"}}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:39: systems.shop.auth.basic.password: read secret file: open nope.txt: no such file or directory"},
	{name: "no routes", src: sys + "routes: {}\n",
		want: "ferry.yaml:4:1: routes: expected at least one route"},
	{name: "routes missing", src: sys,
		want: "ferry.yaml:1:1: routes: missing required field \"routes\" (expected at least one route)"},
	{name: "case without when not last", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - switch:\n          - to: default\n          - when: x > 1\n            to: default\n",
		want: "ferry.yaml:13:13: routes.orders.steps[0].switch[0]: only the last case may leave out when: (it is the default case)"},
	{name: "two pagination styles", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id, paginate: {link: true, next: meta.next}}\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:7:37: routes.orders.source.http.paginate: expected exactly one of page, offset, next, link; got next and link"},
	{name: "backoff above max_backoff", src: sys + "routes:\n  orders:\n    retry: {backoff: 2h}\n" + okRoute,
		want: "ferry.yaml:6:22: routes.orders.retry.backoff: backoff 2h0m0s is longer than max_backoff 1h0m0s"},
	{name: "wrap without array", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, wrap: orders}\n",
		want: "ferry.yaml:10:35: routes.orders.destinations.default.http.wrap: wrap only applies to body: array"},
	{name: "record field in a batch path", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, body: array, path: \"/orders/${key}\"}\n",
		want: "ferry.yaml:10:48: routes.orders.destinations.default.http.path: with body: array this is rendered once per batch, so ${key} is not available (only ${batch_size}); use body: each for per-record paths"},
	{name: "unknown function in an expression", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - map: {name: uppper(name)}\n",
		want: "ferry.yaml:12:21: routes.orders.steps[0].map.name: expression \"uppper(name)\": unknown function uppper() (at column 1); did you mean upper()?"},
	{name: "unknown function in a template", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id}\n    destinations:\n      default:\n        http: {system: erp, path: \"/orders/${lowr(key)}\"}\n",
		want: "ferry.yaml:10:35: routes.orders.destinations.default.http.path: template \"/orders/${lowr(key)}\": expression \"lowr(key)\": unknown function lowr() (at column 1); did you mean lower()?"},
	{name: "modulo by a fraction", src: sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - filter: id % 2.5 == 0\n",
		want: "ferry.yaml:12:17: routes.orders.steps[0].filter: expression \"id % 2.5 == 0\": % works on whole numbers only, and 2.5 is not one (at column 4)"},
	{name: "cursor never sent", src: sys + "routes:\n  orders:\n    source:\n      http: {system: shop, key: id, cursor: updated_at, query: {status: paid}}\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:7:45: routes.orders.source.http.cursor: cursor: is set but ${cursor} is not used in path, query or headers, so every run would read the whole source again; send it, e.g. query: { updated_since: \"${cursor}\" }, or remove cursor:"},
	{name: "retention of zero", src: sys + "retention: {attempts: 0s}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:23: retention.attempts: 0 would remove this history as soon as it is written; give a duration (e.g. 1h, 7d) or forever"},
	{name: "retention not a duration", src: sys + "retention: {runs: 3 months}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:19: retention.runs: invalid duration \"3 months\" (expected e.g. 500ms, 30s, 5m, 1h, 7d)"},
	{name: "forever outside retention", src: "systems:\n  shop: {url: https://shop.test, timeout: forever}\n  erp: {url: https://erp.test}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:2:43: systems.shop.timeout: forever only applies to retention: give a duration (e.g. 30s, 5m, 1h)"},
}

// TestParseErrors pins the exact message, file:line:column and path of
// each kind of mistake, so users always see where and what was expected.
func TestParseErrors(t *testing.T) {
	t.Setenv("FERRY_TEST_UNSET", "") // restored after the test
	os.Unsetenv("FERRY_TEST_UNSET")
	for _, c := range errorCases {
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
