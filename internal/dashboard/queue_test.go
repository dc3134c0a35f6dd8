package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
	"github.com/ferry-dev/ferry/internal/store"
)

// failOrders queues records 1..n in route orders, the keys in failing
// answering status (503: an error entry retried after 1h; 4xx: a dead
// letter), and runs the route once.
func failOrders(t *testing.T, f *dashboardtest.Fixture, n, status int, failing ...int) {
	t.Helper()
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{"id": i + 1, "total": 10 * (i + 1)}
	}
	f.Sys.SetRecords("orders", recs...)
	for _, k := range failing {
		f.Sys.Fail(strconv.Itoa(k), status)
	}
	f.Run("orders")
}

// entryOf returns the queued entry of key in route.
func entryOf(t *testing.T, f *dashboardtest.Fixture, route, key string) store.Entry {
	t.Helper()
	es, err := f.Store.Entries(context.Background(), store.EntryFilter{Route: route, Key: key})
	if err != nil || len(es) != 1 {
		t.Fatalf("entries of %s/%s: %v %v", route, key, es, err)
	}
	return es[0]
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustContain(t *testing.T, p dashboardtest.Page, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.Body, w) {
			t.Fatalf("page (status %d) lacks %q:\n%s", p.Status, w, p.Body)
		}
	}
}

func mustNotContain(t *testing.T, p dashboardtest.Page, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(p.Body, b) {
			t.Fatalf("page holds %q:\n%s", b, p.Body)
		}
	}
}

// posted follows the redirect that answers a plain form post (the flash
// line rides in a cookie) and returns the page it lands on.
func posted(t *testing.T, f *dashboardtest.Fixture, p dashboardtest.Page) dashboardtest.Page {
	t.Helper()
	if p.Status != http.StatusSeeOther {
		t.Fatalf("post answered %d, want 303:\n%s", p.Status, p.Body)
	}
	return f.Get(p.Header.Get("Location"))
}

var rowBox = regexp.MustCompile(`name="id" value="(\d+)"`)

// rowIDs lists the entry ids of a queue page's rows.
func rowIDs(p dashboardtest.Page) []string {
	var out []string
	for _, m := range rowBox.FindAllStringSubmatch(p.Body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestQueueListsErrorsAndFilters(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 4, 503, 2, 3)
	e2 := entryOf(t, f, "orders", "2")

	p := f.Get("/routes/orders/queue")
	if p.Status != http.StatusOK {
		t.Fatalf("status %d: %s", p.Status, p.Body)
	}
	mustContain(t, p, "Queue of", `href="/entries/`+strconv.FormatInt(e2.ID, 10)+`"`, `href="/routes/orders/keys/2"`,
		"customer 2 unknown in ERP", `class="badge s-error">error</span>`, "<strong>error</strong> 2", "data-select-all", "Retry all 2 error entries of this route")
	if ids := rowIDs(p); len(ids) != 2 {
		t.Fatalf("rows %v, want the 2 error entries", ids)
	}

	p = f.Get("/routes/orders/queue?status=error&key=2")
	if ids := rowIDs(p); len(ids) != 1 || ids[0] != strconv.FormatInt(e2.ID, 10) {
		t.Fatalf("key filter rows %v", ids)
	}
	p = f.Get("/routes/orders/queue?status=pending")
	mustContain(t, p, "No pending entries in the queue of orders")
	p = f.Get("/routes/orders/queue?key=1")
	mustContain(t, p, "No entries of key 1 in orders", `href="/routes/orders/keys/1"`)
	p = f.Get("/routes/orders/queue?status=dead")
	mustContain(t, p, "No dead entries")

	if p := f.Get("/routes/orders/queue?status=bogus"); p.Status != http.StatusBadRequest {
		t.Fatalf("bogus status: %d", p.Status)
	}
	if p := f.Get("/routes/orders/queue?after=x"); p.Status != http.StatusBadRequest {
		t.Fatalf("bad after: %d", p.Status)
	}
}

func TestQueueDeadLetters(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 3, 422, 3) // a 4xx answer is final: a dead letter
	p := f.Get("/routes/orders/queue?status=dead")
	mustContain(t, p, `class="badge s-dead">dead</span>`, "customer 3 unknown in ERP", "Replay the 1 dead letter")
	if ids := rowIDs(p); len(ids) != 1 {
		t.Fatalf("dead rows %v", ids)
	}
}

func TestQueuePagination(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failing := make([]int, 120)
	for i := range failing {
		failing[i] = i + 1
	}
	failOrders(t, f, 120, 503, failing...)

	seen := map[string]bool{}
	next := "/routes/orders/queue?status=error"
	var sizes []int
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("more pages than entries")
		}
		p := f.Get(next)
		if p.Status != http.StatusOK {
			t.Fatalf("%s: %d", next, p.Status)
		}
		ids := rowIDs(p)
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("entry %s on two pages", id)
			}
			seen[id] = true
		}
		if pages > 0 {
			mustContain(t, p, `First page</a>`)
		} else {
			mustNotContain(t, p, `First page</a>`)
		}
		m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(p.Body)
		next = ""
		if m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
			if !strings.Contains(next, "status=error") || !strings.Contains(next, "after=") {
				t.Fatalf("next link %q loses the view", next)
			}
		}
	}
	if fmt.Sprint(sizes) != "[50 50 20]" || len(seen) != 120 {
		t.Fatalf("page sizes %v, %d entries seen", sizes, len(seen))
	}
}

func TestQueueBulkRetry(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 3, 503, 2, 3)
	e2, e3 := entryOf(t, f, "orders", "2"), entryOf(t, f, "orders", "3")
	f.Sys.Fail("2", 0)
	f.Sys.Fail("3", 0)
	form := url.Values{"id": {strconv.FormatInt(e2.ID, 10), strconv.FormatInt(e3.ID, 10)}, "view_status": {"error"}}

	// Without JavaScript the first post asks.
	p := f.Post("/routes/orders/queue/retry", form)
	mustContain(t, p, "Retry 2 entries?", `name="confirmed" value="1"`, `name="view_status" value="error"`, "2 (error)")
	if _, err := f.Store.Entry(context.Background(), e2.ID); err != nil {
		t.Fatalf("asking changed the entry: %v", err)
	}

	form.Set("confirmed", "1")
	p = f.Post("/routes/orders/queue/retry", form)
	if loc := p.Header.Get("Location"); loc != "/routes/orders/queue?status=error" {
		t.Fatalf("retry answered %d to %q, want back to the error tab", p.Status, loc)
	}
	p = posted(t, f, p)
	mustContain(t, p, `<p class="flash">2 entries retried; a run of orders was asked for</p>`)
	// The run the dashboard asked for delivers them.
	waitFor(t, "the retried entries to be delivered", func() bool {
		c, err := f.Store.Counts(context.Background(), "orders")
		return err == nil && c.Error == 0 && c.Pending == 0 && c.Leased == 0
	})
	waitFor(t, "entry 2's page to say done", func() bool {
		return strings.Contains(f.Get(fmt.Sprintf("/entries/%d", e2.ID)).Body, `id="entry-status">done<`)
	})
}

func TestQueueBulkRetryHTMX(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503, 1, 2)
	e1 := entryOf(t, f, "orders", "1")
	form := url.Values{"id": {strconv.FormatInt(e1.ID, 10)}, "csrf": {f.Get("/routes/orders/queue").CSRF()}, "view_status": {"error"}}
	p := f.Do(http.MethodPost, "/routes/orders/queue/retry", form, http.Header{"Hx-Request": {"true"}})
	if p.Status != http.StatusOK {
		t.Fatalf("retry: %d %s", p.Status, p.Body)
	}
	// A fragment: the table area and the flash out of band, no layout.
	mustContain(t, p, `<div id="queue-area">`, `hx-swap-oob="true"`, "1 entry retried; a run of orders was asked for")
	mustNotContain(t, p, "<html")
}

func TestQueueBulkDiscard(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.Fail("3", 422) // a 4xx answer is final: key 3 dies
	failOrders(t, f, 3, 503, 1, 2)
	e1 := entryOf(t, f, "orders", "1")
	dead, err := f.Store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders", Key: "3"})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %v %v", dead, err)
	}
	form := url.Values{"id": {strconv.FormatInt(e1.ID, 10), strconv.FormatInt(dead[0].EntryID, 10)}}
	p := f.Post("/routes/orders/queue/discard", form)
	mustContain(t, p, "Discard 2 entries?", "They will not be sent", `class="danger">Yes, discard`)

	form.Set("confirmed", "1")
	p = posted(t, f, f.Post("/routes/orders/queue/discard", form))
	mustContain(t, p, `<p class="flash">2 entries discarded</p>`)
	c, err := f.Store.Counts(context.Background(), "orders")
	if err != nil || c.Error != 1 || c.Dead != 0 {
		t.Fatalf("counts after discard: %+v %v", c, err)
	}
	// The history says who.
	atts, err := f.Store.KeyAttempts(context.Background(), "orders", "1", 10)
	if err != nil || len(atts) == 0 {
		t.Fatal(atts, err)
	}
	last := atts[len(atts)-1]
	if last.Outcome != store.OutcomeDiscarded || !strings.Contains(last.Error, "dashboard (127.0.0.1)") || !strings.Contains(last.Error, "discarded in the dashboard") {
		t.Fatalf("discard attempt %+v", last)
	}
	// Without the CSRF token nothing happens.
	if p := f.Do(http.MethodPost, "/routes/orders/queue/retry", url.Values{"all": {"errors"}, "confirmed": {"1"}}, nil); p.Status != http.StatusForbidden {
		t.Fatalf("retry without a CSRF token: %d", p.Status)
	}
	if p := f.Do(http.MethodPost, fmt.Sprintf("/entries/%d/discard", e1.ID), url.Values{"confirmed": {"1"}}, nil); p.Status != http.StatusForbidden {
		t.Fatalf("discard without a CSRF token: %d", p.Status)
	}
	// Nothing selected: said so.
	if p := f.Post("/routes/orders/queue/discard", url.Values{"confirmed": {"1"}}); p.Status != http.StatusBadRequest {
		t.Fatalf("empty selection: %d", p.Status)
	}
}

func TestQueueRetryAllAndReplayDead(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.Fail("3", 422)
	failOrders(t, f, 3, 503, 1, 2)
	f.Sys.Fail("1", 0)
	f.Sys.Fail("2", 0)
	f.Sys.Fail("3", 0)

	p := f.Post("/routes/orders/queue/retry", url.Values{"all": {"errors"}})
	mustContain(t, p, "Retry all 2 error entries of orders?")
	p = posted(t, f, f.Post("/routes/orders/queue/retry", url.Values{"all": {"errors"}, "confirmed": {"1"}}))
	mustContain(t, p, "2 entries retried; a run of orders was asked for")

	p = posted(t, f, f.Post("/routes/orders/queue/retry", url.Values{"all": {"dead"}, "confirmed": {"1"}}))
	mustContain(t, p, "1 dead letter replayed; a run of orders was asked for")
	waitFor(t, "every entry delivered", func() bool {
		c, err := f.Store.Counts(context.Background(), "orders")
		return err == nil && c == (store.Counts{})
	})
	if p := f.Post("/routes/orders/queue/discard", url.Values{"all": {"dead"}, "confirmed": {"1"}}); p.Status != http.StatusBadRequest {
		t.Fatalf("discard all: %d", p.Status)
	}
}

func TestQueueResendDelivered(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503)
	before := f.Sys.Received("orders")
	p := posted(t, f, f.Post("/routes/orders/queue/resend", url.Values{"key": {"1"}, "confirmed": {"1"}}))
	mustContain(t, p, "1 entry queued again; a run of orders was asked for")
	waitFor(t, "the resent key delivered", func() bool { return f.Sys.Received("orders") == before+1 })
	// A key never delivered: said why.
	p = posted(t, f, f.Post("/routes/orders/queue/resend", url.Values{"key": {"nope"}, "confirmed": {"1"}}))
	mustContain(t, p, "key nope has no delivered content kept")
}

func TestQueueRemovedRouteReadOnly(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503, 2)
	e2 := entryOf(t, f, "orders", "2")
	f.SetYAML(`systems:
  sys: { url: %[1]q }
routes:
  customers:
    source: { http: { system: sys, path: /src/customers, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/customers, body: each } } }
`)
	if err := f.Svc.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	p := f.Get("/routes/orders/queue")
	if p.Status != http.StatusOK {
		t.Fatalf("removed route: %d %s", p.Status, p.Body)
	}
	mustContain(t, p, "Route orders is no longer in the config", "customer 2 unknown in ERP", fmt.Sprintf(`href="/entries/%d"`, e2.ID))
	mustNotContain(t, p, `name="id"`, "Retry selected", "Retry all")
	p = f.Post("/routes/orders/queue/retry", url.Values{"id": {strconv.FormatInt(e2.ID, 10)}, "confirmed": {"1"}})
	if p.Status != http.StatusConflict {
		t.Fatalf("retry on a removed route: %d", p.Status)
	}
	// The entry page and the ledger still show it, without buttons.
	p = f.Get(fmt.Sprintf("/entries/%d", e2.ID))
	mustContain(t, p, `id="entry-status">error<`, "no longer in the config")
	mustNotContain(t, p, `id="retry"`, `id="discard"`)
	p = f.Get("/routes/orders/keys/2")
	mustContain(t, p, "no longer in the config", "customer 2 unknown in ERP")

	// A route neither the config nor the store knows: 404.
	if p := f.Get("/routes/nosuch/queue"); p.Status != http.StatusNotFound {
		t.Fatalf("unknown route: %d", p.Status)
	}
	if p := f.Post("/routes/nosuch/queue/retry", url.Values{"all": {"errors"}}); p.Status != http.StatusNotFound {
		t.Fatalf("unknown route post: %d", p.Status)
	}
}

func TestQueueHostileKeys(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders",
		map[string]any{"id": "<b>x</b>", "note": "<script>alert(1)</script>"},
		map[string]any{"id": "a/b?c#d"})
	f.Sys.Fail("<b>x</b>", 503)
	f.Sys.Fail("a/b?c#d", 503)
	f.Run("orders")
	p := f.Get("/routes/orders/queue")
	mustContain(t, p, "&lt;b&gt;x&lt;/b&gt;", `href="/routes/orders/keys/a%2Fb%3Fc%23d"`, `href="/routes/orders/keys/%3Cb%3Ex%3C%2Fb%3E"`)
	mustNotContain(t, p, "<b>x</b>", "<script>alert")
	// The key filter takes them too.
	p = f.Get("/routes/orders/queue?key=" + url.QueryEscape("a/b?c#d"))
	if ids := rowIDs(p); len(ids) != 1 {
		t.Fatalf("key filter of a/b?c#d: %v", ids)
	}
	mustContain(t, p, `value="a/b?c#d"`)
}

// TestQueueTabLinksKeepTheirTab: with errors in the route, the queued
// tab's link and its next page stay on the queued tab (a link without a
// status opens the error tab).
func TestQueueTabLinksKeepTheirTab(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	recs := make([]map[string]any, 60)
	for i := range recs {
		recs[i] = map[string]any{"id": i + 1, "total": i}
		f.Sys.Fail(strconv.Itoa(i+1), 503)
	}
	f.Sys.SetRecords("orders", recs...)
	f.Run("orders")
	p := f.Get("/routes/orders/queue?status=all")
	if !strings.Contains(p.Body, `href="/routes/orders/queue?status=all"`) {
		t.Errorf("the queued tab's link drops its status:\n%.2000s", p.Body)
	}
	next := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(p.Body)
	if next == nil || !strings.Contains(next[1], "status=all") {
		t.Errorf("the next page link %v drops its status (it would open the error tab)", next)
	}
}
