package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"

	"github.com/goccy/go-yaml"
)

func TestLoadFullExample(t *testing.T) {
	t.Setenv("FERRY_TEST_SHOP_TOKEN", "shop-token")
	cfg, err := load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "testdata/full.yaml" {
		t.Errorf("File = %q", cfg.File)
	}
	if want := []string{"customers", "orders", "stock", "catalogue"}; !slices.Equal(cfg.RouteNames(), want) {
		t.Errorf("RouteNames() = %v, want %v (file order)", cfg.RouteNames(), want)
	}
	if want := filepath.Join("testdata", "data", "queue.db"); cfg.Store != want {
		t.Errorf("Store = %q, want %q (relative to the config file)", cfg.Store, want)
	}
	shop := httpSystem(cfg, "shop")
	if cfg.Systems["shop"].Name != "shop" || shop.Auth.Bearer != "shop-token" || shop.Timeout.D() != 15*time.Second {
		t.Errorf("shop = %+v, auth %+v", shop, shop.Auth)
	}
	if got := httpSystem(cfg, "erp").Auth.Basic.Password; got != "erp-pass" {
		t.Errorf("erp password from ${file:} = %q, want erp-pass (trailing newline trimmed)", got)
	}
	if got := httpSystem(cfg, "crm").Auth.APIKey.Value; got != "dev-key" {
		t.Errorf("crm key from ${env:...:-dev-key} = %q", got)
	}
	orders := cfg.Routes["orders"]
	if orders.Name != "orders" || orders.Batch != 500 || orders.ErrorBatch != 20 || orders.Retry.Attempts != 8 ||
		orders.Retry.MaxBackoff.D() != 2*time.Hour || orders.MaxIterations != 5 || orders.CollectLimit != 2000 {
		t.Errorf("orders = %+v", orders)
	}
	if got := orders.Source.Config.(*httpconn.SourceConfig).Query["updated_since"]; got != "${cursor}" {
		t.Errorf("runtime template changed by interpolation: %q", got)
	}
	if got := orders.Steps[4].Map["address"].(map[string]any)["city"]; got != "shipping.city" {
		t.Errorf("nested map leaf = %v", got)
	}
	if d := orders.Destinations["default"].Config.(*httpconn.DestinationConfig); d.Body != "array" || d.Wrap != "orders" || d.Results.OK != `status == "ok"` {
		t.Errorf("default destination = %+v", d)
	}
	if got := orders.Destinations["erp_large"].Config.(*httpconn.DestinationConfig).Method; got != "POST" {
		t.Errorf("erp_large method = %q, want default POST", got)
	}
	if got := orders.OnError[0].Config.(*httpconn.OperationConfig).Method; got != "POST" {
		t.Errorf("on_error method = %q, want default POST", got)
	}
	if p := cfg.Routes["customers"].Source.Config.(*httpconn.SourceConfig).Paginate.Page; p.Param != "p" || p.Size != 50 || p.Start == nil || *p.Start != 0 {
		t.Errorf("page pagination = %+v", p)
	}
}

func TestDefaults(t *testing.T) {
	src := sys + "routes:\n  orders:\n" + okRoute + "    after:\n      - http: {system: shop, path: /done}\n"
	cfg, err := parse([]byte(src), filepath.Join("/etc", "ferry", "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/etc", "ferry", "ferry.db"); cfg.Store != want {
		t.Errorf("Store = %q, want %q", cfg.Store, want)
	}
	if got := httpSystem(cfg, "shop").Timeout.D(); got != 30*time.Second {
		t.Errorf("timeout = %v, want 30s", got)
	}
	r := cfg.Routes["orders"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"batch", r.Batch, 100},
		{"error_batch", r.ErrorBatch, 10},
		{"retry.attempts", r.Retry.Attempts, 5},
		{"retry.backoff", r.Retry.Backoff.D(), 10 * time.Second},
		{"retry.max_backoff", r.Retry.MaxBackoff.D(), time.Hour},
		{"max_iterations", r.MaxIterations, 20},
		{"collect_limit", r.CollectLimit, 10000},
		{"destination method", r.Destinations["default"].Config.(*httpconn.DestinationConfig).Method, "POST"},
		{"destination body", r.Destinations["default"].Config.(*httpconn.DestinationConfig).Body, "each"},
		{"operation method", r.After[0].Config.(*httpconn.OperationConfig).Method, "POST"},
		{"route name", r.Name, "orders"},
		{"system name", cfg.Systems["erp"].Name, "erp"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestErrorBatchDefaultFollowsBatch(t *testing.T) {
	for _, c := range []struct{ batch, want int }{{5, 1}, {9, 1}, {10, 1}, {250, 25}} {
		src := sys + "routes:\n  orders:\n    batch: " + itoa(c.batch) + "\n" + okRoute
		cfg, err := parse([]byte(src), "ferry.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Routes["orders"].ErrorBatch; got != c.want {
			t.Errorf("batch %d: error_batch = %d, want %d", c.batch, got, c.want)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestStoreLocation(t *testing.T) {
	for _, c := range []struct{ store, file, want string }{
		{"", "", "ferry.db"},
		{"", "ferry.yaml", "ferry.db"},
		{"q.db", "conf/ferry.yaml", filepath.Join("conf", "q.db")},
		{"/var/lib/ferry/q.db", "conf/ferry.yaml", "/var/lib/ferry/q.db"},
		{"postgres://ferry@db/ferry", "conf/ferry.yaml", "postgres://ferry@db/ferry"},
	} {
		src := sys + "routes:\n  orders:\n" + okRoute
		if c.store != "" {
			src = "store: " + c.store + "\n" + src
		}
		cfg, err := parse([]byte(src), c.file)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Store != c.want {
			t.Errorf("store %q in %q: got %q, want %q", c.store, c.file, cfg.Store, c.want)
		}
	}
}

func TestSeveralErrorsAtOnce(t *testing.T) {
	src := `systems:
  shop: {url: https://shop.test, rate: fast}
routes:
  orders:
    batch: many
    source:
      http: {system: shopp, key: id}
    steps:
      - filter: total >
      - map: {a: b}
        drop: [c]
    destinations:
      default:
        http: {system: erp, method: GET}
    retry: {backoff: soon}
  customers:
    depends_on: [orders, nobody]
    source: {}
`
	_, err := parse([]byte(src), "ferry.yaml")
	var es *config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`ferry.yaml:2:40: systems.shop.rate: invalid rate "fast" (expected requests per s, m or h, e.g. 10/s, 600/m, 5000/h)`,
		`ferry.yaml:5:12: routes.orders.batch: expected an integer, got "many"`,
		`ferry.yaml:7:22: routes.orders.source.http.system: unknown system "shopp" (defined systems: shop)`,
		`ferry.yaml:9:17: routes.orders.steps[0].filter: expression "total >": unexpected token EOF (1:7)`,
		`ferry.yaml:10:9: routes.orders.steps[1]: expected exactly one of filter, map, set, drop, validate, switch; got map and drop`,
		`ferry.yaml:14:24: routes.orders.destinations.default.http.system: unknown system "erp" (defined systems: shop)`,
		`ferry.yaml:14:37: routes.orders.destinations.default.http.method: expected one of POST, PUT, PATCH, DELETE, got "GET"`,
		`ferry.yaml:15:22: routes.orders.retry.backoff: invalid duration "soon" (expected e.g. 500ms, 30s, 5m, 1h, 7d)`,
		`ferry.yaml:16:3: routes.customers.destinations: missing required field "destinations"`,
		`ferry.yaml:17:26: routes.customers.depends_on[1]: unknown route "nobody" (defined routes: customers, orders)`,
		`ferry.yaml:18:5: routes.customers.source: expected exactly one of ` + kindList(connector.RoleSource) + `; got none`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(*es) != len(want) || (*es)[1].Line != 5 || (*es)[1].Column != 12 || (*es)[1].Path != "routes.orders.batch" {
		t.Errorf("structured fields wrong: %+v", (*es)[1])
	}
	var first *config.Error
	if !errors.As(err, &first) || first.Path != "systems.shop.rate" {
		t.Errorf("errors.As(*Error) = %+v", first)
	}
}

func TestInterpolation(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tricky"), []byte("a${b}c"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_TEST_HOST", "shop.test")
	t.Setenv("FERRY_TEST_EMPTY", "")
	src := `systems:
  shop:
    url: https://${env:FERRY_TEST_HOST}/api
    auth: { bearer: "${file:token}" }
    headers: { X-Env: "${env:FERRY_TEST_MISSING:-fallback}", X-Empty: "[${env:FERRY_TEST_EMPTY:-unused}]" }
routes:
  orders:
    source:
      http:
        system: shop
        key: id
        headers: { X-Secret: "${file:tricky}" }
        query: { since: "${cursor}", literal: "$${env:FERRY_TEST_HOST}" }
    destinations:
      default:
        http: { system: shop, path: "/orders/${key}" }
`
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	shop := httpSystem(cfg, "shop")
	h := cfg.Routes["orders"].Source.Config.(*httpconn.SourceConfig)
	for _, c := range []struct{ what, got, want string }{
		{"env", shop.URL, "https://shop.test/api"},
		{"file relative to config, newline trimmed", shop.Auth.Bearer, "file-token"},
		{"env default", shop.Headers["X-Env"], "fallback"},
		{"set but empty env wins over default", shop.Headers["X-Empty"], "[]"},
		{"secret in a template is escaped, never run", h.Headers["X-Secret"], "a$${b}c"},
		{"runtime expression untouched", h.Query["since"], "${cursor}"},
		{"escaped reference untouched", h.Query["literal"], "$${env:FERRY_TEST_HOST}"},
		{"runtime template untouched", cfg.Routes["orders"].Destinations["default"].Config.(*httpconn.DestinationConfig).Path, "/orders/${key}"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

// TestInterpolationErrorsHideSecrets: errors about secrets name the
// variable or file and the place, never a value.
func TestInterpolationErrorsHideSecrets(t *testing.T) {
	t.Setenv("FERRY_TEST_PASSWORD", "s3cr3t-password")
	t.Setenv("FERRY_TEST_FILTER", "s3cr3t-filter ==")
	t.Setenv("FERRY_TEST_URL", "s3cr3t-url")
	t.Setenv("FERRY_TEST_NOT_SET", "")
	os.Unsetenv("FERRY_TEST_NOT_SET")
	src := `systems:
  shop:
    url: ${env:FERRY_TEST_URL}
    auth: { basic: { user: "${env:FERRY_TEST_NOT_SET}", password: "${env:FERRY_TEST_PASSWORD}${env:FERRY_TEST_NOT_SET}" } }
routes:
  orders:
    source: { http: { system: shop, key: id } }
    steps:
      - filter: ${env:FERRY_TEST_FILTER}
    destinations:
      default: { http: { system: shop } }
`
	_, err := parse([]byte(src), "ferry.yaml")
	if err == nil {
		t.Fatal("want errors")
	}
	want := strings.Join([]string{
		`ferry.yaml:3:10: systems.shop.url: expected an absolute http:// or https:// URL`,
		`ferry.yaml:4:28: systems.shop.auth.basic.user: environment variable "FERRY_TEST_NOT_SET" is not set (set it, or give a default with ${env:FERRY_TEST_NOT_SET:-default})`,
		`ferry.yaml:4:67: systems.shop.auth.basic.password: environment variable "FERRY_TEST_NOT_SET" is not set (set it, or give a default with ${env:FERRY_TEST_NOT_SET:-default})`,
		`ferry.yaml:9:17: routes.orders.steps[0].filter: invalid expression (not shown: it holds a value from ${env:...} or ${file:...})`,
	}, "\n")
	if got := err.Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error leaks a secret: %s", err)
	}
}

func TestRoute(t *testing.T) {
	cfg, err := parse([]byte(sys+"routes:\n  orders:\n"+okRoute+"  customers:\n"+okRoute), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := cfg.Route("customers"); err != nil || r.Name != "customers" {
		t.Fatalf("Route(customers) = %v, %v", r, err)
	}
	_, err = cfg.Route("ordres")
	if want := `unknown route "ordres" (did you mean "orders"?) (defined routes: orders, customers)`; err == nil || err.Error() != want {
		t.Errorf("Route(ordres) error = %v, want %s", err, want)
	}
}

func TestOrder(t *testing.T) {
	route := func(name, extra string) string { return "  " + name + ":\n" + extra + okRoute }
	src := sys + "routes:\n" +
		route("orders", "    priority: 10\n    depends_on: [customers, products]\n") +
		route("stock", "    priority: 5\n") +
		route("customers", "") +
		route("products", "    priority: 1\n") +
		route("invoices", "    priority: 20\n    depends_on: [orders]\n") +
		route("feed", "")
	cfg, err := parse([]byte(src), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{nil, []string{"stock", "products", "customers", "orders", "invoices", "feed"}},
		{[]string{"invoices", "orders"}, []string{"orders", "invoices"}},
		{[]string{"feed", "customers"}, []string{"customers", "feed"}},
		{[]string{"invoices"}, []string{"invoices"}}, // dependencies outside the set are not added
	} {
		got, err := cfg.Order(c.names)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Order(%v) = %v, want %v", c.names, got, c.want)
		}
	}
	if _, err := cfg.Order([]string{"orderz"}); err == nil || !strings.Contains(err.Error(), `did you mean "orders"?`) {
		t.Errorf("Order(unknown) error = %v", err)
	}
	// A config built in code is not validated; Order still refuses a cycle.
	cfg.Routes["customers"].DependsOn = []string{"invoices"}
	if _, err := cfg.Order(nil); err == nil || err.Error() != "order routes: depends_on cycle among orders, customers, invoices" {
		t.Errorf("Order with cycle: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
	}{{"10/s", 10}, {"600/m", 10}, {"5000/h", 5000.0 / 3600}, {"0.5/s", 0.5}} {
		got, err := config.ParseRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "10", "10/d", "0/s", "-1/s", "x/s", "NaN/s"} {
		if _, err := config.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) succeeded", in)
		}
	}
}

func TestSchema(t *testing.T) {
	b, err := config.Schema(all.Set())
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	defs := s["$defs"].(map[string]any)
	for name, d := range defs {
		def := d.(map[string]any)
		if def["type"] == "object" && def["properties"] != nil && def["additionalProperties"] != false {
			t.Errorf("$defs.%s allows unknown fields", name)
		}
	}
	route := defs["Route"].(map[string]any)
	_, names := config.YAMLFields(reflect.TypeFor[config.Route]())
	for _, f := range names {
		if _, ok := route["properties"].(map[string]any)[f]; !ok {
			t.Errorf("schema of a route lacks %q", f)
		}
	}
	if req := route["required"]; !reflect.DeepEqual(req, []any{"destinations"}) {
		t.Errorf("route required = %v", req)
	}
	if anyOf := route["anyOf"]; !reflect.DeepEqual(anyOf, []any{map[string]any{"required": []any{"source"}}, map[string]any{"required": []any{"webhook"}}}) {
		t.Errorf("route anyOf = %v, want source or webhook", anyOf)
	}

	// Every key of the full example must be known to the schema.
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	checkAgainstSchema(t, defs, s, doc, "")
}

// checkAgainstSchema walks a YAML value beside its schema and fails on a
// key the schema does not declare.
func checkAgainstSchema(t *testing.T, defs, schema map[string]any, v any, path string) {
	t.Helper()
	if ref, ok := schema["$ref"].(string); ok {
		schema = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		extra, _ := schema["additionalProperties"].(map[string]any)
		if props == nil && extra == nil {
			return // free-form object (map:, body:)
		}
		for k, val := range x {
			sub, ok := props[k].(map[string]any)
			if !ok {
				sub = extra
			}
			if sub == nil {
				t.Errorf("%s: key %q not in schema", path, k)
				continue
			}
			checkAgainstSchema(t, defs, sub, val, config.JoinPath(path, k))
		}
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i, item := range x {
			if items != nil {
				checkAgainstSchema(t, defs, items, item, config.IndexPath(path, i))
			}
		}
	}
}

// TestOddInputsDoNotPanic feeds nulls, aliases and wrong shapes; each must
// come back as errors (or a config), never a panic.
func TestOddInputsDoNotPanic(t *testing.T) {
	for _, src := range []string{
		"routes:\n  orders:\n",
		"routes:\n  orders: {source: null, destinations: null, steps: [null], after: [null], on_error: [~]}\n",
		"systems:\n  shop:\nroutes:\n  orders:\n    source: {http: {system: shop, key: id}}\n    destinations: {default: null}\n",
		"systems: []\nroutes: 3\n",
		"routes:\n  orders:\n    source: {http: {system: shop, key: id, paginate: {page: 1}}}\n    destinations: {default: {http: null}}\n",
		sys + "x-base: &b {system: erp}\nroutes:\n  orders:\n    source: {http: {system: shop, key: id}}\n    destinations: {default: {http: *b}}\n",
		sys + "routes:\n  orders:\n" + okRoute + "    steps:\n      - switch: [null, {when: x}]\n      - map: {a: [1, \"b +\", {c: 2}]}\n      - set: null\n",
		sys + "routes:\n  orders:\n" + okRoute + "    after:\n      - http: {system: shop, body: [\"${key}\", 3, {x: \"${a.b}\"}]}\n",
		"? complex\n: key\n",
		"routes: !!map {}\n",
		"\"routes\":\n  \"o\": {\"source\": {\"http\": {\"system\": \"s\", \"key\": \"id\"}}}\n",
	} {
		cfg, err := parse([]byte(src), "ferry.yaml")
		if cfg == nil && err == nil {
			t.Errorf("Parse(%q) returned neither config nor error", src)
		}
		t.Logf("%q:\n%v", src, err)
	}
}

func TestAnchorsUnderExtensionKeys(t *testing.T) {
	src := sys + `x-erp: &erp {system: erp, body: array}
routes:
  orders:
    source: {http: {system: shop, key: id}}
    destinations:
      default: {http: *erp}
  stock:
    source: {http: {system: shop, key: sku}}
    destinations:
      default:
        http: {<<: *erp, path: /stock}
`
	cfg, err := parse([]byte(src), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Routes["stock"].Destinations["default"].Config.(*httpconn.DestinationConfig); d.System != "erp" || d.Body != "array" || d.Path != "/stock" {
		t.Errorf("merged destination = %+v", d)
	}
	if d := cfg.Routes["orders"].Destinations["default"].Config.(*httpconn.DestinationConfig); d.System != "erp" || d.Body != "array" {
		t.Errorf("aliased destination = %+v", d)
	}
}
