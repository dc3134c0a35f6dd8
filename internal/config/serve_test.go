package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
)

// hook is a webhook-only route's body (after its name line).
const hook = "    webhook: {key: id, token: tok-12345}\n    destinations:\n      default:\n        http: {system: erp}\n"

func TestServeOptions(t *testing.T) {
	t.Setenv("FERRY_TEST_API_TOKEN", "api-token-1")
	t.Setenv("FERRY_TEST_HOOK_SECRET", "hook-secret-1")
	src := sys + `workers: 8
server:
  listen: 0.0.0.0:9090
  tokens: ["${env:FERRY_TEST_API_TOKEN}", literal-token-2]
  shutdown_timeout: 1m
routes:
  customers:
    schedule: "*/5 * * * *"
    timezone: Europe/Berlin
` + okRoute + `  orders:
    every: 30s
    depends_on: [customers]
    entry_priority: 'total > 1000 ? 10 : priority'
    fresh_within: 15m
    on_stale:
      - http: { system: erp, method: POST, path: /hooks/ferry, body: { text: "${route} is ${state}" } }
    concurrent: false
` + okRoute + `  shop-orders:
    webhook:
      key: id
      signature:
        header: X-Shop-Hmac-Sha256
        secret: "${env:FERRY_TEST_HOOK_SECRET}"
        encoding: base64
        prefix: "sha256="
      respond: sync
      timeout: 5s
      max_body: 512KB
    destinations:
      default:
        http: {system: erp}
  plain:
` + okRoute + `  pushed:
` + hook
	cfg, err := parse([]byte(src), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workers != 8 || cfg.Server.Listen != "0.0.0.0:9090" || cfg.Server.ShutdownTimeout.D() != time.Minute ||
		strings.Join(cfg.Server.Tokens, ",") != "api-token-1,literal-token-2" {
		t.Errorf("workers %d, server %+v", cfg.Workers, cfg.Server)
	}
	c, o, w, p, h := cfg.Routes["customers"], cfg.Routes["orders"], cfg.Routes["shop-orders"], cfg.Routes["plain"], cfg.Routes["pushed"]

	if s, ok := c.Trigger(); !ok || s.String() != "*/5 * * * * (Europe/Berlin)" {
		t.Errorf("customers trigger = %v, %v", s, ok)
	} else if next := s.Next(time.Date(2026, 11, 30, 6, 41, 0, 0, time.UTC)); !next.Equal(time.Date(2026, 11, 30, 6, 45, 0, 0, time.UTC)) {
		t.Errorf("customers next = %s", next)
	}
	if s, ok := o.Trigger(); !ok || s.String() != "every 30s" {
		t.Errorf("orders trigger = %v, %v", s, ok)
	}
	for _, r := range []*config.Route{w, p, h} {
		if s, ok := r.Trigger(); ok {
			t.Errorf("%s has trigger %v", r.Name, s)
		}
	}
	if o.EntryPriority != "total > 1000 ? 10 : priority" || o.FreshWithin.D() != 15*time.Minute || len(o.OnStale) != 1 || o.OnStale[0].Kind != "http" {
		t.Errorf("orders = %+v", o)
	}

	for _, tc := range []struct {
		r    *config.Route
		want bool
	}{{c, false}, {o, false}, {w, true}, {p, false}, {h, true}} {
		if got := tc.r.IsConcurrent(); got != tc.want {
			t.Errorf("%s.IsConcurrent() = %v, want %v", tc.r.Name, got, tc.want)
		}
	}
	no, yes := false, true
	if (&config.Route{Webhook: &config.Webhook{}, Concurrent: &no}).IsConcurrent() || !(&config.Route{Concurrent: &yes}).IsConcurrent() {
		t.Error("an explicit concurrent: does not win")
	}

	want := config.Webhook{Key: "id", Signature: &config.WebhookSignature{Header: "X-Shop-Hmac-Sha256", Secret: "hook-secret-1", Encoding: "base64", Prefix: "sha256="},
		Respond: "sync", Timeout: config.Duration(5 * time.Second), MaxBody: 512 << 10}
	if got := *w.Webhook; got.Key != want.Key || *got.Signature != *want.Signature || got.Respond != want.Respond || got.Timeout != want.Timeout || got.MaxBody != want.MaxBody {
		t.Errorf("shop-orders webhook = %+v %+v", got, got.Signature)
	}
	if w.Source.Kind != "" {
		t.Errorf("a webhook-only route has source kind %q", w.Source.Kind)
	}
	if got := *h.Webhook; got.Token != "tok-12345" || got.Respond != "async" || got.Timeout.D() != 10*time.Second || got.MaxBody != 1<<20 {
		t.Errorf("defaults of a webhook = %+v", got)
	}
}

func TestServeDefaults(t *testing.T) {
	cfg, err := parse([]byte(sys+"routes:\n  orders:\n"+okRoute), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workers != 4 || cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.ShutdownTimeout.D() != 30*time.Second || cfg.Server.Tokens != nil {
		t.Errorf("workers %d, server %+v", cfg.Workers, cfg.Server)
	}
	r := cfg.Routes["orders"]
	if r.IsConcurrent() || r.Webhook != nil || r.EntryPriority != "" || r.FreshWithin != 0 {
		t.Errorf("route = %+v", r)
	}
	if _, ok := r.Trigger(); ok {
		t.Error("a route without schedule has a trigger")
	}
	// A route built in code (no Load) parses its schedule when asked.
	if s, ok := (&config.Route{Schedule: "@hourly"}).Trigger(); !ok || s.String() != "@hourly" {
		t.Errorf("Trigger of a route built in code = %v, %v", s, ok)
	}
	if _, ok := (&config.Route{Schedule: "@fortnightly"}).Trigger(); ok {
		t.Error("a bad schedule built in code gives a trigger")
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.ByteSize
		err  bool
	}{
		{"1MB", 1 << 20, false}, {"512KB", 512 << 10, false}, {"100B", 100, false}, {"64 MB", 64 << 20, false},
		{"2gb", 2 << 30, false}, {"1048576", 0, true}, {"1.5MB", 0, true}, {"-1MB", 0, true}, {"MB", 0, true}, {"1TB", 0, true},
	} {
		var b config.ByteSize
		err := b.UnmarshalText([]byte(tc.in))
		if (err != nil) != tc.err || (!tc.err && b != tc.want) {
			t.Errorf("%q: got %d, %v", tc.in, b, err)
		}
	}
	if got := config.ByteSize(1 << 20).String(); got != "1MB" {
		t.Errorf("String = %q", got)
	}
	if got := config.ByteSize(1536).String(); got != "1536B" {
		t.Errorf("String = %q", got)
	}
	if got := config.ByteSize(0).String(); got != "0B" {
		t.Errorf("String = %q", got)
	}
}

var serveErrorCases = []errorCase{
	{name: "schedule and every", src: sys + "routes:\n  orders:\n    schedule: '@hourly'\n    every: 1m\n" + okRoute,
		want: "ferry.yaml:7:12: routes.orders.every: every and schedule exclude each other: keep one (schedule: a cron expression; every: an interval)"},
	{name: "schedule without source", src: sys + "routes:\n  orders:\n    schedule: '@hourly'\n" + hook,
		want: "ferry.yaml:6:15: routes.orders.schedule: schedule needs a source: to read from (a route with only a webhook runs when records are posted)"},
	{name: "every without source", src: sys + "routes:\n  orders:\n    every: 1m\n" + hook,
		want: "ferry.yaml:6:12: routes.orders.every: every needs a source: to read from (a route with only a webhook runs when records are posted)"},
	{name: "bad cron", src: sys + "routes:\n  orders:\n    schedule: '*/5 * * *'\n" + okRoute,
		want: "ferry.yaml:6:15: routes.orders.schedule: invalid cron schedule \"*/5 * * *\": expected exactly 5 fields, found 4: [*/5 * * *] (expected 5 fields (minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\" or \"0 2 * * 1-5\") or one of @hourly, @daily, @weekly, @monthly, @yearly)"},
	{name: "CRON_TZ in the schedule", src: sys + "routes:\n  orders:\n    schedule: CRON_TZ=Europe/Berlin 0 2 * * *\n" + okRoute,
		want: "ferry.yaml:6:15: routes.orders.schedule: cron schedule \"CRON_TZ=Europe/Berlin 0 2 * * *\" names a time zone: write the zone in timezone: (e.g. timezone: Europe/Berlin) and leave it out of the schedule"},
	{name: "@every in the schedule", src: sys + "routes:\n  orders:\n    schedule: '@every 5m'\n" + okRoute,
		want: "ferry.yaml:6:15: routes.orders.schedule: cron schedule \"@every 5m\": write intervals as every: (e.g. every: 30s) instead of schedule: @every"},
	{name: "unknown time zone", src: sys + "routes:\n  orders:\n    schedule: '0 2 * * *'\n    timezone: Europe/Berln\n" + okRoute,
		want: "ferry.yaml:7:15: routes.orders.timezone: unknown time zone \"Europe/Berln\" (expected an IANA name such as Europe/Berlin, America/New_York or UTC)"},
	{name: "timezone Local", src: sys + "routes:\n  orders:\n    schedule: '0 2 * * *'\n    timezone: Local\n" + okRoute,
		want: "ferry.yaml:7:15: routes.orders.timezone: Local depends on the machine ferry runs on: name the zone (e.g. Europe/Berlin)"},
	{name: "timezone without schedule", src: sys + "routes:\n  orders:\n    every: 1m\n    timezone: Europe/Berlin\n" + okRoute,
		want: "ferry.yaml:7:15: routes.orders.timezone: timezone only applies to schedule: (a cron expression); every: intervals do not depend on a zone"},
	{name: "every below a second", src: sys + "routes:\n  orders:\n    every: 500ms\n" + okRoute,
		want: "ferry.yaml:6:12: routes.orders.every: must be at least 1s, got 500ms"},
	{name: "every forever", src: sys + "routes:\n  orders:\n    every: forever\n" + okRoute,
		want: "ferry.yaml:6:12: routes.orders.every: forever only applies to retention: give a duration (e.g. 30s, 5m, 1h)"},
	{name: "neither source nor webhook", src: sys + "routes:\n  orders:\n    destinations:\n      default:\n        http: {system: erp}\n",
		want: "ferry.yaml:5:3: routes.orders.source: missing required field \"source\" (a route needs a source:, a webhook:, or both)"},
	{name: "webhook without key", src: sys + "routes:\n  orders:\n    webhook: {token: tok-12345}\n" + okRoute,
		want: "ferry.yaml:6:5: routes.orders.webhook.key: missing required field \"key\""},
	{name: "webhook with token and signature", src: sys + "routes:\n  orders:\n    webhook:\n      key: id\n      token: tok-12345\n      signature: {header: X-Sig, secret: sec-12345}\n" + okRoute,
		want: "ferry.yaml:6:5: routes.orders.webhook: expected exactly one of token, signature; got token and signature"},
	{name: "webhook without secret", src: sys + "routes:\n  orders:\n    webhook: {key: id}\n" + okRoute,
		want: "ferry.yaml:6:5: routes.orders.webhook: expected exactly one of token, signature; got none"},
	{name: "signature without header and secret", src: sys + "routes:\n  orders:\n    webhook:\n      key: id\n      signature: {encoding: hex}\n" + okRoute,
		want: "ferry.yaml:8:7: routes.orders.webhook.signature.header: missing required field \"header\"\nferry.yaml:8:7: routes.orders.webhook.signature.secret: missing required field \"secret\""},
	{name: "signature encoding", src: sys + "routes:\n  orders:\n    webhook:\n      key: id\n      signature: {header: X-Sig, secret: sec-12345, encoding: base46}\n" + okRoute,
		want: "ferry.yaml:8:63: routes.orders.webhook.signature.encoding: expected hex or base64, got \"base46\" (did you mean \"base64\"?)"},
	{name: "respond", src: sys + "routes:\n  orders:\n    webhook: {key: id, token: tok-12345, respond: synch}\n" + okRoute,
		want: "ferry.yaml:6:51: routes.orders.webhook.respond: expected async or sync, got \"synch\" (did you mean \"sync\"?)"},
	{name: "webhook timeout of zero", src: sys + "routes:\n  orders:\n    webhook: {key: id, token: tok-12345, timeout: 0s}\n" + okRoute,
		want: "ferry.yaml:6:51: routes.orders.webhook.timeout: must be longer than 0 (default 10s)"},
	{name: "max_body above 64MB", src: sys + "routes:\n  orders:\n    webhook: {key: id, token: tok-12345, max_body: 65MB}\n" + okRoute,
		want: "ferry.yaml:6:52: routes.orders.webhook.max_body: at most 64MB, got 65MB"},
	{name: "max_body without unit", src: sys + "routes:\n  orders:\n    webhook: {key: id, token: tok-12345, max_body: 1048576}\n" + okRoute,
		want: "ferry.yaml:6:52: routes.orders.webhook.max_body: invalid size \"1048576\" (expected a whole number with a unit B, KB, MB or GB, e.g. 512KB, 1MB)"},
	{name: "concurrent not a bool", src: sys + "routes:\n  orders:\n    concurrent: sometimes\n" + okRoute,
		want: "ferry.yaml:6:17: routes.orders.concurrent: expected true or false, got \"sometimes\""},
	{name: "entry_priority expression", src: sys + "routes:\n  orders:\n    entry_priority: 'total >'\n" + okRoute,
		want: "ferry.yaml:6:21: routes.orders.entry_priority: expression \"total >\": unexpected token EOF (1:7)"},
	{name: "fresh_within below a minute", src: sys + "routes:\n  orders:\n    fresh_within: 30s\n" + okRoute,
		want: "ferry.yaml:6:19: routes.orders.fresh_within: must be at least 1m0s, got 30s"},
	{name: "on_stale without fresh_within", src: sys + "routes:\n  orders:\n" + okRoute + "    on_stale:\n      - http: {system: erp, path: /stale}\n",
		want: "ferry.yaml:11:5: routes.orders.on_stale: on_stale needs fresh_within: (how old the last successful run may get)"},
	{name: "on_stale unknown system", src: sys + "routes:\n  orders:\n    fresh_within: 1h\n" + okRoute + "    on_stale:\n      - http: {system: chat, path: /stale}\n",
		want: "ferry.yaml:13:24: routes.orders.on_stale[0].http.system: unknown system \"chat\" (defined systems: erp, shop)"},
	{name: "workers of zero", src: sys + "workers: 0\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:10: workers: must be at least 1 (default 4)"},
	{name: "too many workers", src: sys + "workers: 1000\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:10: workers: expected 1 to 256, got 1000"},
	{name: "listen without port", src: sys + "server: {listen: localhost}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:18: server.listen: expected host:port such as 127.0.0.1:8080 or :8080, got \"localhost\""},
	{name: "listen port not a number", src: sys + "server: {listen: 'localhost:http8080'}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:18: server.listen: expected a port number 0 to 65535 after the colon, got \"http8080\""},
	{name: "empty token", src: sys + "server: {tokens: ['${env:FERRY_TEST_UNSET:-}']}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:19: server.tokens[0]: empty token (an unset ${env:...} with an empty default?)"},
	{name: "shutdown_timeout of zero", src: sys + "server: {shutdown_timeout: 0s}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:28: server.shutdown_timeout: must be longer than 0 (default 30s)"},
	{name: "unknown server field", src: sys + "server: {listn: ':8080'}\nroutes:\n  orders:\n" + okRoute,
		want: "ferry.yaml:4:10: server.listn: unknown field \"listn\" (did you mean \"listen\"?)"},
	{name: "unknown webhook field", src: sys + "routes:\n  orders:\n    webhook: {key: id, token: tok-12345, respnd: sync}\n" + okRoute,
		want: "ferry.yaml:6:42: routes.orders.webhook.respnd: unknown field \"respnd\" (did you mean \"respond\"?)"},
}

// TestServeErrors pins the message, file:line:column and path of each
// mistake in the options of ferry serve.
func TestServeErrors(t *testing.T) {
	t.Setenv("FERRY_TEST_UNSET", "")
	for _, c := range serveErrorCases {
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

// Webhook tokens, signature keys and API tokens are secrets wherever they
// come from: listed for redaction even when written in the file, and never
// printed in errors.
func TestServeSecretsAreRedacted(t *testing.T) {
	t.Setenv("FERRY_TEST_HOOK_SECRET", "env-signature-key")
	t.Setenv("FERRY_TEST_API_TOKEN", "env-api-token")
	src := sys + `server:
  tokens: ["${env:FERRY_TEST_API_TOKEN}", literal-api-token]
routes:
  pushed:
    webhook: {key: id, token: literal-hook-token}
    destinations:
      default:
        http: {system: erp}
  signed:
    webhook:
      key: id
      signature: {header: X-Sig, secret: "${env:FERRY_TEST_HOOK_SECRET}"}
    destinations:
      default:
        http: {system: erp}
`
	cfg, err := parse([]byte(src), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"env-signature-key", "env-api-token", "literal-api-token", "literal-hook-token"}
	got := cfg.SecretValues()
	for _, want := range secrets {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues %q lacks %q", got, want)
		}
	}
	text := cfg.Redactor().String(strings.Join(secrets, " "))
	if text != "REDACTED REDACTED REDACTED REDACTED" {
		t.Errorf("redacted: %q", text)
	}

	// A config with mistakes around the secrets names places, not values.
	bad := strings.Replace(src, "key: id, token", "key: '', respond: later, token", 1)
	bad = strings.Replace(bad, "header: X-Sig,", "header: X-Sig, encoding: hexa,", 1)
	bad = strings.Replace(bad, "tokens: [", "listen: nowhere\n  tokens: [", 1)
	_, err = parse([]byte(bad), "ferry.yaml")
	if err == nil {
		t.Fatal("want errors")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 4 {
		t.Errorf("want 4 errors, got %d:\n%s", n, err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q:\n%s", s, err)
		}
	}
}
