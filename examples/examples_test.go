// Package examples_test keeps the route files in examples/ true: each one
// loads, builds into an engine, and turns realistic source records into
// the requests its comments promise.
package examples_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// secretEnv is every ${env:...} without a default that the examples use.
var secretEnv = map[string]string{
	"SHOP_TOKEN":  "test-shop-token",
	"WMS_TOKEN":   "test-wms-token",
	"CRM_API_KEY": "test-crm-key",
	"AMQP_URL":    "amqp://ferry:test-amqp-password@127.0.0.1:5672/shop",
	"ERP_TOKEN":   "test-erp-token",
	"ERP_DSN":     "postgres://ferry:test-erp-password@127.0.0.1:5432/erp",

	// sql-capture.yaml's replica database.
	"WAREHOUSE_DSN": "ferry:test-warehouse-password@tcp(127.0.0.1:3306)/warehouse",

	// serve-shop.yaml's API token and webhook signature key.
	"FERRY_API_TOKEN":  "test-api-token",
	"SHOP_HOOK_SECRET": "test-shop-hook-secret",
}

// exampleFiles lists the route files; the folder must hold some.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example files (%v), expected at least 4", len(files), files)
	}
	sort.Strings(files)
	return files
}

func setSecrets(t *testing.T) {
	t.Helper()
	for k, v := range secretEnv {
		t.Setenv(k, v)
	}
}

// load loads an example with its secrets set, failing the test with
// every config error.
func load(t *testing.T, file string) *config.Config {
	t.Helper()
	setSecrets(t)
	cfg, err := config.Load(file, all.Set())
	if err != nil {
		t.Fatalf("%s does not load:\n%v", file, err)
	}
	return cfg
}

// newEngine builds the example's connectors and engine on a fresh SQLite
// file, as ferry run does.
func newEngine(t *testing.T, cfg *config.Config) *engine.Engine {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ferry.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatalf("%s: connectors: %v", cfg.File, err)
	}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatalf("%s: engine: %v", cfg.File, err)
	}
	return eng
}

func TestExamplesLoad(t *testing.T) {
	for _, file := range exampleFiles(t) {
		t.Run(file, func(t *testing.T) {
			cfg := load(t, file)
			if len(cfg.Routes) == 0 {
				t.Fatalf("%s has no routes", file)
			}
		})
	}
}

// The retention block of shop-to-erp.yaml reads as documented: days,
// forever, and the defaults for what it leaves out.
func TestShopToERPRetention(t *testing.T) {
	r := load(t, "shop-to-erp.yaml").Retention
	if r.Attempts.D() != 14*24*time.Hour || r.Runs.D() != 90*24*time.Hour || r.DeadLetters != config.Forever || r.Delivered != config.Forever {
		t.Fatalf("retention = %+v", r)
	}
}

// Loading without the secrets fails and names the variable: the examples
// really take their secrets from the environment.
func TestExamplesNeedTheirSecrets(t *testing.T) {
	for _, file := range exampleFiles(t) {
		t.Run(file, func(t *testing.T) {
			for k := range secretEnv {
				t.Setenv(k, "") // registers the restore
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			_, err := config.Load(file, all.Set())
			if err == nil || !strings.Contains(err.Error(), "is not set") {
				t.Fatalf("%s loaded without its secrets (err %v); expected an unset variable error", file, err)
			}
		})
	}
}

func TestExamplesBuildEngine(t *testing.T) {
	for _, file := range exampleFiles(t) {
		t.Run(file, func(t *testing.T) {
			cfg := load(t, file)
			newEngine(t, cfg)
		})
	}
}

// dryCase is one route of one example read from a fake source: what each
// record must become.
type dryCase struct {
	file, route string
	urlEnv      string   // the env var that points the source system at the fake
	base        string   // the system's path under the fake server's root
	pages       []page   // served in order; pagination must find them
	requests    []string // the request URIs the source must make, in order
	want        map[string]string
}

type page struct {
	body string
	link string // Link header to the next page
}

// want values: "-> destination", "skip", "error: <text in the error>".
func TestExamplesDryRun(t *testing.T) {
	cases := []dryCase{{
		file: "shop-to-erp.yaml", route: "orders", urlEnv: "SHOP_URL", base: "/api",
		pages: []page{{body: `{"data": [
			{"id": 1042, "number": "SO-1042", "status": "paid", "email": " Ann@Example.com", "created_at": "2025-03-01T10:00:00Z", "updated_at": "2025-03-01T10:00:00Z",
			 "total": 1234.56, "billing": {"name": "Ann"}, "items": [{"sku": "A-17", "quantity": 2, "price": 617.28}],
			 "shipping": {"name": "Ann", "street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "de"}},
			{"id": 1043, "number": "SO-1043", "status": "paid", "email": "bob@example.com", "updated_at": "2025-03-01T10:01:00Z",
			 "total": 9000, "items": [{"sku": "B-2", "quantity": 1, "price": 9000}], "shipping": {"country": "DE"}},
			{"id": 1044, "number": "SO-1044", "status": "paid", "email": "cy@example.com", "updated_at": "2025-03-01T10:02:00Z",
			 "total": 20, "items": [{"sku": "C-3", "quantity": 1, "price": 20}], "shipping": {"country": "CH"}},
			{"id": 1045, "number": "SO-1045", "status": "paid", "email": "", "updated_at": "2025-03-01T10:03:00Z", "total": 5, "items": [{"sku": "D", "quantity": 1, "price": 5}]},
			{"id": 1046, "number": "SO-1046", "status": "paid", "test": true, "updated_at": "2025-03-01T10:04:00Z"},
			{"id": 1047, "number": "SO-1047", "status": "paid", "email": "dee@example.com", "updated_at": "2025-03-01T10:05:00Z", "total": 5, "items": []}
		]}`}},
		requests: []string{"/api/orders?page=1&size=100&status=paid"},
		want: map[string]string{
			"1042": "-> default", "1043": "-> review", "1044": "-> review",
			"1045": "error: order SO-1045 has no e-mail", "1046": "skip", "1047": "error: order SO-1047 has no items",
		},
	}, {
		file: "stock-sync.yaml", route: "stock", urlEnv: "WMS_URL", base: "/api",
		pages: []page{{body: `{"items": [
			{"sku": "A-17", "on_hand": 12, "reserved": 2, "blocked": 1, "discontinued": false, "changed_at": 1741000000123},
			{"sku": "B/2", "on_hand": 1, "reserved": 3, "changed_at": 1741000000124},
			{"sku": "C-3", "on_hand": 5, "discontinued": true, "changed_at": 1741000000125},
			{"sku": "D-4", "on_hand": -1, "changed_at": 1741000000126}
		], "total": 4}`}},
		requests: []string{"/api/v1/stock?limit=500&offset=0&warehouse=MAIN"},
		want:     map[string]string{"A-17": "-> default", "B/2": "-> default", "C-3": "skip", "D-4": "error: SKU D-4: on_hand is -1"},
	}, {
		file: "crm-contacts.yaml", route: "companies", urlEnv: "CRM_URL",
		pages: []page{{body: `{"results": [
			{"id": "501", "updated_at": "2025-03-01T10:00:00Z", "properties": {"name": "Acme", "domain": "ACME.example", "country": "DE"}},
			{"id": "502", "updated_at": "2025-03-01T10:01:00Z", "archived": true, "properties": {"name": "Old Co"}}
		], "paging": {"next": {"link": "/v3/companies?after=2&limit=100"}}}`},
			{body: `{"results": [{"id": "503", "updated_at": "2025-03-01T10:02:00Z", "properties": {"name": "Beta"}}], "paging": {}}`}},
		requests: []string{"/v3/companies?limit=100&properties=name%2Cdomain%2Cindustry%2Ccountry%2Clifecycle_stage", "/v3/companies?after=2&limit=100"},
		want:     map[string]string{"501": "-> default", "502": "skip", "503": "-> default"},
	}, {
		file: "crm-contacts.yaml", route: "contacts", urlEnv: "CRM_URL",
		pages: []page{{body: `{"results": [
			{"id": "901", "updated_at": "2025-03-01T10:00:00Z", "properties": {"email": "Ann@Example.com", "firstname": "Ann", "company_id": "501", "consent": true}},
			{"id": "902", "updated_at": "2025-03-01T10:01:00Z", "properties": {"email": "not-an-address", "consent": true}}
		], "paging": {"next": {"after": "MTAw"}}}`},
			{body: `{"results": [
			{"id": "903", "updated_at": "2025-03-01T10:02:00Z", "properties": {"email": "cy@example.com", "consent": false}},
			{"id": "904", "updated_at": "2025-03-01T10:03:00Z", "properties": {"email": "dee@example.com", "consent": true}}
		], "paging": {"next": null}}`}},
		requests: []string{
			"/v3/contacts?limit=100&properties=email%2Cfirstname%2Clastname%2Ccompany_id%2Cconsent%2Clanguage",
			"/v3/contacts?after=MTAw&limit=100&properties=email%2Cfirstname%2Clastname%2Ccompany_id%2Cconsent%2Clanguage",
		},
		want: map[string]string{"901": "-> default", "902": "error: not-an-address is not an e-mail address", "903": "skip", "904": "-> default"},
	}, {
		file: "pim-catalogue.yaml", route: "products", urlEnv: "PIM_URL",
		pages: []page{{body: `[
			{"sku": "A-17", "status": "approved", "channels": ["webshop"], "name": "Blue Mug", "updated": "2025-03-01T10:00:00Z",
			 "price": {"amount": 12.9, "purchase": 4.1}, "cost_price": 4.1, "supplier": {"name": "X"}, "images": ["a.jpg"]},
			{"sku": "B-2", "status": "draft", "channels": ["webshop"], "name": "Draft", "updated": "2025-03-01T10:01:00Z"}
		]`, link: `</rest/v1/products?page_token=p2>; rel="next"`},
			{body: `[
			{"sku": "C-3", "status": "approved", "channels": ["webshop"], "name": "Red Mug", "updated": "2025-03-01T10:02:00Z", "price": {"amount": 9.5}},
			{"sku": "D-4", "status": "approved", "channels": ["webshop"], "name": "No Price", "updated": "2025-03-01T10:03:00Z"}
		]`}},
		requests: []string{"/rest/v1/products?channel=webshop&limit=100&locale=de_DE", "/rest/v1/products?page_token=p2"},
		want:     map[string]string{"A-17": "-> default", "B-2": "skip", "C-3": "-> default", "D-4": "error: product D-4 has no price"},
	}, {
		file: "serve-shop.yaml", route: "customers", urlEnv: "SHOP_URL", base: "/api",
		pages: []page{{body: `{"data": [
			{"id": 7, "email": " Ann@Example.com ", "first_name": "Ann", "last_name": "Lee", "country": "de", "updated_at": "2026-11-30T06:00:00Z"},
			{"id": 8, "email": "bo@example.com", "first_name": "Bo", "updated_at": "2026-11-30T06:01:00Z"}
		]}`}},
		requests: []string{"/api/customers?page=1&size=100"},
		want:     map[string]string{"7": "-> default", "8": "-> default"},
	}}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.route, func(t *testing.T) {
			srv, requested := servePages(t, tc.pages)
			t.Setenv(tc.urlEnv, srv.URL+tc.base)
			eng := newEngine(t, load(t, tc.file))
			got := map[string]engine.DryRecord{}
			err := eng.DryRun(context.Background(), tc.route, false, 0, func(r engine.DryRecord) error {
				got[r.Key] = r
				return nil
			})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			for key, want := range tc.want {
				r, ok := got[key]
				if !ok {
					t.Errorf("record %s was not read (read: %v)", key, keys(got))
					continue
				}
				switch {
				case want == "skip":
					if r.Skipped == "" {
						t.Errorf("record %s: got %s, want skipped", key, describe(r))
					}
				case strings.HasPrefix(want, "error: "):
					if !strings.Contains(r.Error, strings.TrimPrefix(want, "error: ")) {
						t.Errorf("record %s: got %s, want an error containing %q", key, describe(r), strings.TrimPrefix(want, "error: "))
					}
				default:
					if r.Error != "" || r.Skipped != "" || r.Destination != strings.TrimPrefix(want, "-> ") {
						t.Errorf("record %s: got %s, want %s", key, describe(r), want)
					}
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("read %d records %v, want %d", len(got), keys(got), len(tc.want))
			}
			if r := requested(); strings.Join(r, "\n") != strings.Join(tc.requests, "\n") {
				t.Errorf("requests\n got %q\nwant %q", r, tc.requests)
			}
		})
	}
}

// The bodies the steps build are what the comments of the examples say.
func TestShopToERPBody(t *testing.T) {
	srv, _ := servePages(t, []page{{body: `{"data": [{"id": 1042000, "number": "SO-1042", "email": " Ann@Example.com",
		"total": 1234.56, "billing": {"name": "Ann"}, "items": [{"sku": "A-17", "quantity": 2, "price": 617.28}],
		"shipping": {"city": "Berlin", "country": "de"}, "updated_at": "2025-03-01T10:00:00Z"}]}`}})
	t.Setenv("SHOP_URL", srv.URL)
	eng := newEngine(t, load(t, "shop-to-erp.yaml"))
	var body map[string]any
	err := eng.DryRun(context.Background(), "orders", false, 0, func(r engine.DryRecord) error {
		if r.Error != "" {
			t.Fatalf("record %s: %s", r.Key, r.Error)
		}
		body = r.Body
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(body)
	want := `{"currency":"EUR","customer":{"email":"ann@example.com","name":"Ann"},"external_id":1042000,` +
		`"lines":[{"price_cents":61728,"qty":2,"sku":"A-17"}],"order_number":"SO-1042","ordered_at":null,` +
		`"ship_to":{"city":"Berlin","country":"DE","name":null,"street":null,"zip":null},"total_cents":123456}`
	if string(got) != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

// A whole run of shop-to-erp against fake shop, ERP and helpdesk: the
// batch answer settles each order on its own, delivered orders are marked
// at the shop, a refused review order becomes a dead letter with a ticket.
func TestShopToERPRun(t *testing.T) {
	var mu sync.Mutex
	calls := map[string][]string{} // "METHOD path" -> bodies
	record := func(r *http.Request) string {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		k := r.Method + " " + r.URL.Path
		calls[k] = append(calls[k], string(b))
		return string(b)
	}
	orders := []string{
		`{"id": 1, "number": "SO-1", "email": "a@example.com", "total": 10, "items": [{"sku": "A", "quantity": 1, "price": 10}], "shipping": {"country": "DE"}, "updated_at": "2025-03-01T10:00:00Z"}`,
		`{"id": 2, "number": "SO-2", "email": "b@example.com", "total": 20, "items": [{"sku": "B", "quantity": 1, "price": 20}], "shipping": {"country": "DE"}, "updated_at": "2025-03-01T10:01:00Z"}`,
		`{"id": 3, "number": "SO-3", "email": "c@example.com", "total": 30, "items": [{"sku": "C", "quantity": 1, "price": 30}], "shipping": {"country": "US"}, "updated_at": "2025-03-01T10:02:00Z"}`,
	}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.Method == http.MethodGet {
			if r.Header.Get("Authorization") != "Bearer test-shop-token" {
				http.Error(w, "no token", http.StatusUnauthorized)
				return
			}
			// Changed strictly after updated_since, as the example requires.
			since := r.URL.Query().Get("updated_since")
			var data []json.RawMessage
			for _, o := range orders {
				var head struct {
					UpdatedAt string `json:"updated_at"`
				}
				json.Unmarshal([]byte(o), &head)
				if head.UpdatedAt > since {
					data = append(data, json.RawMessage(o))
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"data": data})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(shop.Close)
	erp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if u, p, _ := r.BasicAuth(); u != "ferry" || p != "change-me" {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/review") {
			http.Error(w, `{"error": "export orders need a customs number"}`, http.StatusUnprocessableEntity)
			return
		}
		io.WriteString(w, `{"results": [{"external_id": 1, "status": "ok"}, {"external_id": 2, "status": "error", "message": "unknown SKU B"}]}`)
	}))
	t.Cleanup(erp.Close)
	desk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(desk.Close)
	t.Setenv("SHOP_URL", shop.URL)
	t.Setenv("ERP_URL", erp.URL)
	t.Setenv("DESK_URL", desk.URL)

	eng := newEngine(t, load(t, "shop-to-erp.yaml"))
	res, err := eng.Run(context.Background(), "orders", engine.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Done != 1 || res.Dead != 1 || res.Queue.Error != 1 {
		t.Fatalf("run: done %d, dead %d, queued errors %d; want 1, 1, 1 (%+v)", res.Done, res.Dead, res.Queue.Error, res)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := calls["PUT /orders/1/status"]; len(got) != 1 || !strings.Contains(got[0], `"comment":"in the ERP as order SO-1"`) {
		t.Errorf("after: PUT /orders/1/status bodies %q, want one with the comment", got)
	}
	if n := len(calls["PUT /orders/2/status"]) + len(calls["PUT /orders/3/status"]); n != 0 {
		t.Errorf("after ran for %d undelivered orders", n)
	}
	tickets := calls["POST /api/tickets"]
	if len(tickets) != 1 || !strings.Contains(tickets[0], "SO-3") || !strings.Contains(tickets[0], "HTTP 422") {
		t.Errorf("on_error tickets %q, want one for SO-3 naming the HTTP 422", tickets)
	}
}

// servePages serves the pages in order at any path: the n-th request gets
// page n (the last one again after that). Link headers are made absolute.
// requested returns the request URIs so far.
func servePages(t *testing.T, pages []page) (srv *httptest.Server, requested func() []string) {
	t.Helper()
	var mu sync.Mutex
	var uris []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		p := pages[min(len(uris), len(pages)-1)]
		uris = append(uris, r.URL.RequestURI())
		mu.Unlock()
		if p.link != "" {
			w.Header().Set("Link", strings.Replace(p.link, "</", "<"+srv.URL+"/", 1))
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, p.body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), uris...)
	}
}

func describe(r engine.DryRecord) string {
	switch {
	case r.Skipped != "":
		return "skipped (" + r.Skipped + ")"
	case r.Error != "":
		return "error " + r.Error
	}
	b, _ := json.Marshal(r.Body)
	return "-> " + r.Destination + " " + string(b)
}

func keys(m map[string]engine.DryRecord) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
