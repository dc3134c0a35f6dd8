package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
)

// hostileKey and hostileNote are record content that must render as text.
const (
	hostileKey  = `<script>alert(1)</script>`
	hostileNote = `"><img src=x onerror=alert(2)>`
)

// everyPage lists each page and fragment of the dashboard for route,
// key and entry id.
func everyPage(route, key string, entry int64) []string {
	r, k := url.PathEscape(route), url.PathEscape(key)
	return []string{
		"/", "/overview/table",
		"/routes/" + r, "/routes/" + r + "/live", "/routes/" + r + "/live?part=runs", "/routes/" + r + "/live?part=chart",
		"/routes/" + r + "/queue", "/routes/" + r + "/queue?status=all", "/routes/" + r + "/queue?status=pending",
		"/routes/" + r + "/queue?status=error", "/routes/" + r + "/queue?status=sending", "/routes/" + r + "/queue?status=dead",
		"/routes/" + r + "/queue?key=" + url.QueryEscape(key),
		"/routes/" + r + "/keys/" + k,
		"/entries/" + strconv.FormatInt(entry, 10),
		"/errors", "/errors?route=" + url.QueryEscape(route), "/errors?kind=dead", "/errors?kind=error",
		"/feeds",
		"/search?q=" + url.QueryEscape(key), "/search",
	}
}

// TestEveryPageEscapesHostileContent renders every page and fragment with
// a record whose key and fields hold markup: it shows as text, never as
// markup, and no page fails.
func TestEveryPageEscapesHostileContent(t *testing.T) {
	everyPageHostile(t, dashboardtest.Options{})
}

// TestEveryPageOnPostgres: the same pages over a PostgreSQL store, where
// several ferry serve processes share one dashboard's data.
func TestEveryPageOnPostgres(t *testing.T) {
	pgtest.Need(t)
	everyPageHostile(t, dashboardtest.Options{Store: pgtest.DSN() + "&schema=" + pgtest.FreshSchema(t)})
}

func everyPageHostile(t *testing.T, opts dashboardtest.Options) {
	f := dashboardtest.New(t, opts)
	f.Sys.SetRecords("orders",
		map[string]any{"id": hostileKey, "total": 5, "note": hostileNote},
		map[string]any{"id": "2", "total": 7, "note": hostileNote},
	)
	f.Sys.Fail(hostileKey, 422) // dead at once, its error body names the key
	f.Sys.Fail("2", 503)        // in error, retried later
	f.Run("orders")
	dead, err := f.Store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders", Key: hostileKey})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters of the hostile key: %v, %v", dead, err)
	}
	for _, path := range everyPage("orders", hostileKey, dead[0].EntryID) {
		p := f.Get(path)
		if p.Status != http.StatusOK && p.Status != http.StatusSeeOther {
			t.Errorf("GET %s: %d", path, p.Status)
			continue
		}
		for _, raw := range []string{"<script>alert", "<img src=x"} {
			if strings.Contains(p.Body, raw) {
				t.Errorf("GET %s renders %q as markup", path, raw)
			}
		}
	}
	// The pages that show the key show it as text.
	for _, path := range []string{"/routes/orders/queue?status=dead", "/entries/" + strconv.FormatInt(dead[0].EntryID, 10), "/routes/orders/keys/" + url.PathEscape(hostileKey)} {
		if p := f.Get(path); !strings.Contains(p.Body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s does not show the key as text", path)
		}
	}
}

// TestEveryPageOfARemovedRoute: a route taken out of the config keeps its
// pages (read-only), and none fails.
func TestEveryPageOfARemovedRoute(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": "1", "total": 5}, map[string]any{"id": "2", "total": 7})
	f.Sys.Fail("2", 422)
	f.Run("orders")
	dead, err := f.Store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders"})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %v, %v", dead, err)
	}
	f.SetYAML("systems:\n  sys: { url: %[1]q }\nroutes:\n  customers:\n    source: { http: { system: sys, path: /src/customers, records: data, key: id } }\n    destinations: { default: { http: { system: sys, method: POST, path: /dst/customers, body: each } } }\n")
	if err := f.Svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range everyPage("orders", "2", dead[0].EntryID) {
		if p := f.Get(path); p.Status != http.StatusOK && p.Status != http.StatusSeeOther {
			t.Errorf("GET %s of a removed route: %d", path, p.Status)
		}
	}
	if p := f.Get("/routes/orders"); !strings.Contains(p.Body, "no longer in the config") {
		t.Error("the route page does not say the route was removed")
	}
}

// TestEveryPageEmpty renders every page of a fresh store: each answers,
// and says there is nothing rather than showing an empty table.
func TestEveryPageEmpty(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	empty := map[string]string{
		"/":                                   "never ran",
		"/routes/orders":                      "No run yet",
		"/routes/orders/live?part=runs":       "No runs yet",
		"/routes/orders/live?part=chart":      "Nothing sent in the last hour",
		"/routes/orders/queue":                "No entries in the queue of orders",
		"/routes/orders/queue?status=dead":    "No dead entries",
		"/errors":                             "No errors",
		"/feeds":                              "catalog",
		"/search?q=10042":                     "No route has key",
		"/search":                             "<form",
		"/routes/orders/keys/10042":           "10042",
		"/routes/orders/queue?status=error":   "No error entries",
		"/routes/orders/queue?status=sending": "No sending entries",
	}
	for path, want := range empty {
		p := f.Get(path)
		if p.Status != http.StatusOK {
			t.Errorf("GET %s on an empty store: %d", path, p.Status)
			continue
		}
		if !strings.Contains(p.Body, want) {
			t.Errorf("GET %s on an empty store lacks %q", path, want)
		}
	}
	if p := f.Get("/entries/1"); p.Status != http.StatusNotFound {
		t.Errorf("an entry of an empty store: %d, want 404", p.Status)
	}
}
