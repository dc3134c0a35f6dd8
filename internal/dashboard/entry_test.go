package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
	"github.com/ferry-dev/ferry/internal/store"
)

func TestEntryPageShowsThePanelsAndTheError(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 2, "total": 70, "note": "gift", "extra": "dropped by the map"})
	f.Sys.Fail("2", 503)
	f.Run("orders")
	e := entryOf(t, f, "orders", "2")

	p := f.Get(fmt.Sprintf("/entries/%d", e.ID))
	if p.Status != http.StatusOK {
		t.Fatalf("status %d: %s", p.Status, p.Body)
	}
	mustContain(t, p,
		`id="entry-status">error<`,
		`id="entry-error">HTTP 503 Service Unavailable: {&#34;error&#34;:&#34;customer 2 unknown in ERP (code E503)&#34;}<`,
		// As collected: the payload as read, with the field the steps drop.
		"As collected", "&#34;extra&#34;: &#34;dropped by the map&#34;",
		// As transformed: the route's map, and where it goes.
		"As transformed", "&#34;customer&#34;: null", "POST http://127.0.0.1:",
		// As sent: the failed attempt's request.
		"As sent", `<pre id="as-sent">`, "answered 503",
		// The attempts, the ledger and the route.
		`<td class="num">503</td>`, `href="/routes/orders/keys/2"`, `href="/routes/orders"`,
		`id="retry"`, `id="discard"`)
	sent := p.Body[strings.Index(p.Body, `<pre id="as-sent">`):]
	sent = sent[:strings.Index(sent, "</pre>")]
	if strings.Contains(sent, "extra") || !strings.Contains(sent, "&#34;total&#34;: 70") {
		t.Fatalf("as sent is not the mapped request: %s", sent)
	}
}

func TestEntryRetryThenDone(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503, 2)
	e := entryOf(t, f, "orders", "2")
	path := fmt.Sprintf("/entries/%d", e.ID)

	f.Sys.Fail("2", 0) // the destination is fixed
	p := f.Post(path+"/retry", nil)
	if loc := p.Header.Get("Location"); loc != path {
		t.Fatalf("retry answered %d to %q, want back to the entry", p.Status, loc)
	}
	p = posted(t, f, p)
	mustContain(t, p, `<p class="flash">retried; a run of orders was asked for</p>`)
	mustNotContain(t, p, `id="entry-status">error<`) // pending, sending or done by now

	waitFor(t, "the entry page to say done", func() bool {
		return strings.Contains(f.Get(path).Body, `id="entry-status">done<`)
	})
	p = f.Get(path)
	mustContain(t, p, `class="badge s-replayed">replayed</span>`, `class="badge s-done">done</span>`, "From the key&#39;s last delivered content")
	mustNotContain(t, p, `id="retry"`, `id="discard"`, `id="entry-error"`)

	// Retrying what is not in error is refused.
	if p := f.Post(path+"/retry", nil); p.Status != http.StatusConflict {
		t.Fatalf("retry of a delivered entry: %d", p.Status)
	}
}

func TestEntryRetryHTMXFragment(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 1, 503, 1)
	e := entryOf(t, f, "orders", "1")
	path := fmt.Sprintf("/entries/%d", e.ID)
	// As htmx sends it: the token in the header the layout sets.
	token := f.Get(path).CSRF()
	p := f.Do(http.MethodPost, path+"/retry", url.Values{}, http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {token}})
	if p.Status != http.StatusOK {
		t.Fatalf("retry: %d %s", p.Status, p.Body)
	}
	mustContain(t, p, `<div id="entry-main">`, `hx-swap-oob="true"`, "retried; a run of orders was asked for")
	mustNotContain(t, p, "<html")
}

func TestEntryDiscard(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 503, 2)
	e := entryOf(t, f, "orders", "2")
	path := fmt.Sprintf("/entries/%d", e.ID)

	p := f.Post(path+"/discard", nil)
	mustContain(t, p, fmt.Sprintf("Discard entry %d (key 2)?", e.ID), `name="confirmed" value="1"`)
	if _, err := f.Store.Entry(context.Background(), e.ID); err != nil {
		t.Fatalf("asking changed the entry: %v", err)
	}
	p = posted(t, f, f.Post(path+"/discard", url.Values{"confirmed": {"1"}}))
	mustContain(t, p, `<p class="flash">discarded</p>`, `id="entry-status">discarded<`, "discarded by dashboard (127.0.0.1): discarded in the dashboard")
	mustNotContain(t, p, `id="retry"`)
}

func TestEntryDeadLetterReplay(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	failOrders(t, f, 2, 422, 2)
	dead, err := f.Store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders", Key: "2"})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %v %v", dead, err)
	}
	path := fmt.Sprintf("/entries/%d", dead[0].EntryID)
	p := f.Get(path)
	mustContain(t, p, `id="entry-status">dead<`, `id="entry-error">HTTP 422`, "From the dead letter", "Replay this dead letter", `id="discard"`)

	f.Sys.Fail("2", 0)
	p = posted(t, f, f.Post(path+"/retry", nil))
	mustContain(t, p, "retried; a run of orders was asked for")
	waitFor(t, "the replayed dead letter delivered", func() bool {
		return strings.Contains(f.Get(path).Body, `id="entry-status">done<`)
	})
}

func TestEntryHostileContent(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": "<b>x</b>", "note": "<script>alert(1)</script>"})
	f.Sys.Fail("<b>x</b>", 503)
	f.Run("orders")
	e := entryOf(t, f, "orders", "<b>x</b>")
	p := f.Get(fmt.Sprintf("/entries/%d", e.ID))
	if p.Status != http.StatusOK {
		t.Fatalf("status %d", p.Status)
	}
	mustNotContain(t, p, "<script>alert", "<b>x</b>", `\u003cscript`)
	mustContain(t, p, "&lt;b&gt;x&lt;/b&gt;", "&#34;note&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;", `href="/routes/orders/keys/%3Cb%3Ex%3C%2Fb%3E"`)
	// The ledger link works.
	mustContain(t, f.Get("/routes/orders/keys/%3Cb%3Ex%3C%2Fb%3E"), `<span id="ledger-key">&lt;b&gt;x&lt;/b&gt;</span>`)
}

func TestEntryUnknown(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	for _, path := range []string{"/entries/999", "/entries/0", "/entries/abc"} {
		if p := f.Get(path); p.Status != http.StatusNotFound {
			t.Fatalf("%s: %d", path, p.Status)
		}
	}
	if p := f.Post("/entries/999/retry", nil); p.Status != http.StatusNotFound {
		t.Fatalf("retry of an unknown entry: %d", p.Status)
	}
}
