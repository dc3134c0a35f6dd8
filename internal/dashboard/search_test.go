package dashboard_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

func TestSearchOneRouteRedirectsToTheLedger(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 3, 503, 2)
	for _, q := range []string{"2", " 2 ", "3"} { // 2 is queued, 3 delivered
		p := f.Get("/search?q=" + url.QueryEscape(q))
		want := "/routes/orders/keys/" + strings.TrimSpace(q)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
			t.Fatalf("search %q: %d to %q, want 303 to %s", q, p.Status, p.Header.Get("Location"), want)
		}
	}
	// A key with an escaped path lands on its ledger too.
	f.Sys.SetRecords("orders", map[string]any{"id": "a/b?c#d"})
	f.Run("orders")
	p := f.Get("/search?q=" + url.QueryEscape("a/b?c#d"))
	loc := p.Header.Get("Location")
	if p.Status != http.StatusSeeOther || loc != "/routes/orders/keys/a%2Fb%3Fc%23d" {
		t.Fatalf("search a/b?c#d: %d to %q", p.Status, loc)
	}
	mustContain(t, f.Get(loc), `<span id="ledger-key">a/b?c#d</span>`, `class="badge s-done">done</span>`)
}

func TestSearchSeveralRoutes(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 10042})
	f.Sys.SetRecords("customers", map[string]any{"id": 10042})
	f.Sys.Fail("10042", 503)
	f.Run("orders", "customers")
	p := f.Get("/search?q=10042")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, "is known in 2 routes", `href="/routes/orders/keys/10042"`, `href="/routes/customers/keys/10042"`, "customer 10042 unknown in ERP")
}

func TestSearchNothingAndEmpty(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503)
	p := f.Get("/search?q=" + url.QueryEscape("<i>nope</i>"))
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, `id="search-none">No route has key &lt;i&gt;nope&lt;/i&gt;`, `id="search-q"`, `value="&lt;i&gt;nope&lt;/i&gt;"`)
	mustNotContain(t, p, "<i>nope")
	p = f.Get("/search?q=")
	mustContain(t, p, `id="search-hint"`, `id="search-q"`)
}

func TestLedgerShowsEveryAttempt(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503, 2)
	e := entryOf(t, f, "orders", "2")
	// A new version replaces the failed one; it fails too.
	f.Sys.SetRecords("orders", map[string]any{"id": 2, "total": 99})
	f.Run("orders")

	p := f.Get("/routes/orders/keys/2")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustContain(t, p, `<span id="ledger-key">2</span>`, "version 1", "version 2", `<td class="num">503</td>`,
		"customer 2 unknown in ERP", "<summary>Request</summary>", "<summary>Response</summary>",
		`href="/entries/`, `id="retry"`, `id="discard"`)
	if strings.Count(p.Body, `<span class="badge s-error">error</span>`) < 2 {
		t.Fatalf("want an error attempt per version:\n%s", p.Body)
	}
	_ = e

	// Discard from the ledger: asked, then done, back on the ledger.
	form := url.Values{"key": {"2"}, "view": {"ledger"}}
	p = f.Post("/routes/orders/queue/discard", form)
	mustContain(t, p, "Discard 1 entry?", `href="/routes/orders/keys/2">Cancel`)
	form.Set("confirmed", "1")
	p = posted(t, f, f.Post("/routes/orders/queue/discard", form))
	mustContain(t, p, `<p class="flash">1 entry discarded</p>`, `<span id="ledger-key">2</span>`, `class="badge s-discarded">discarded</span>`)
	// Discarded content counts as delivered: resend is offered.
	mustContain(t, p, `id="resend"`)

	// A key of a known route with no history: an empty ledger; an unknown route: 404.
	mustContain(t, f.Get("/routes/orders/keys/nope"), "No attempts of key nope in orders")
	if p := f.Get("/routes/nosuch/keys/1"); p.Status != http.StatusNotFound {
		t.Fatalf("unknown route: %d", p.Status)
	}
}

func TestSearchFindsAKeyOnlyInTheHistory(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{YAML: `systems:
  sys: { url: %[1]q }
routes:
  orders:
    source: { http: { system: sys, path: /src/orders, records: data, key: id } }
    steps:
      - filter: total > 0
    destinations: { default: { http: { system: sys, method: POST, path: /dst/orders, body: each } } }
`})
	f.Sys.SetRecords("orders", map[string]any{"id": 5, "total": 0}, map[string]any{"id": 6, "total": 1})
	f.Run("orders")
	// Key 5 was skipped by the filter: no entry, no delivered content, only attempts.
	p := f.Get("/search?q=5")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/routes/orders/keys/5" {
		t.Fatalf("search of a skipped key: %d to %q", p.Status, p.Header.Get("Location"))
	}
	p = f.Get("/routes/orders/keys/5")
	mustContain(t, p, `class="badge s-skipped">skipped</span>`)
	id := regexp.MustCompile(`href="/entries/(\d+)"`).FindStringSubmatch(p.Body)
	if id == nil {
		t.Fatalf("the ledger links no entry:\n%s", p.Body)
	}
	mustContain(t, f.Get("/entries/"+id[1]), `id="entry-status">skipped<`)
}
