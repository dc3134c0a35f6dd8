package httpconn

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/internal/connector"
)

// TestPaginationThatDoesNotAdvance: an API that ignores the page or
// offset parameter, or the next token or URL (which changes on every
// page: no URL repeats), answers the same full page for ever; the read
// stops at the first repeat with an error naming what was ignored, and
// the repeated page is not handed on.
func TestPaginationThatDoesNotAdvance(t *testing.T) {
	tests := []struct {
		name     string
		paginate *Paginate
		want     string
	}{
		{"page", &Paginate{Page: &PagePagination{Size: 2}},
			"page 2 of GET %s/orders?page=2&size=2 returned the same records as page 1: the API seems to ignore the 'page' parameter"},
		{"offset", &Paginate{Offset: &OffsetPagination{Limit: 2, Param: "skip"}},
			"page 2 of GET %s/orders?limit=2&skip=2 returned the same records as page 1: the API seems to ignore the 'skip' parameter"},
		{"next token", &Paginate{Next: "next", NextParam: "after"},
			`page 2 of GET %s/orders?after=t1 returned the same records as page 1: the next token at "next" changes, the records do not (the API seems to ignore the 'after' parameter)`},
		{"next URL", &Paginate{Next: "next_url"},
			`page 2 of GET %s/orders?p=1 returned the same records as page 1: the next page's URL at "next_url" changes, the records do not`},
		{"link", &Paginate{Link: true},
			`page 2 of GET %s/orders?p=1 returned the same records as page 1: the Link header's rel="next" URL changes, the records do not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) > 10 {
					w.WriteHeader(http.StatusTeapot) // the test failed: stop it
					return
				}
				// The order changes; the set does not. The next token and
				// URL change on every page.
				n := calls.Load()
				w.Header().Set("Link", fmt.Sprintf(`</orders?p=%d>; rel="next"`, n))
				data := `[{"id": 1}, {"id": 2}]`
				if n%2 == 0 {
					data = `[{"id": 2}, {"id": 1}]`
				}
				fmt.Fprintf(w, `{"data": %s, "next": "t%d", "next_url": "/orders?p=%d"}`, data, n, n)
			})
			src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Records: "data", Key: "id", Paginate: tt.paginate})
			pages, err := readAll(t, src, connector.ReadRequest{})
			want := strings.ReplaceAll(tt.want, "%s", srv.URL)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if len(pages) != 1 || calls.Load() != 2 {
				t.Fatalf("%d pages handed on after %d requests, want 1 after 2", len(pages), calls.Load())
			}
		})
	}
}

// TestPaginationAdvancingIsNotALoop: pages that share some records (an
// offset API while records are inserted) are not a repeat.
func TestPaginationAdvancingIsNotALoop(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "1":
			w.Write([]byte(`[{"id": 1}, {"id": 2}]`))
		case "2":
			w.Write([]byte(`[{"id": 2}, {"id": 3}]`))
		default:
			w.Write([]byte(`[]`))
		}
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Key: "id", Paginate: &Paginate{Page: &PagePagination{Size: 2}}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil || len(pages) != 3 {
		t.Fatalf("%d pages, err %v", len(pages), err)
	}
}

// TestPaginationLoops: a next URL, token or Link target already read in
// this read is a loop, even several pages later.
func TestPaginationLoops(t *testing.T) {
	tests := []struct {
		name     string
		paginate *Paginate
		handler  func(base string) http.HandlerFunc
		want     string
	}{
		{"next URL", &Paginate{Next: "next"}, func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				next := map[string]string{"/a": "/b", "/b": "/c", "/c": base + "/b"}[r.URL.Path]
				w.Write([]byte(`{"data": [{"id": "` + r.URL.Path + `"}], "next": "` + next + `"}`))
			}
		}, "page 3 (GET %s/c): pagination loop: the next page's URL %s/b was already read as page 2"},
		{"token", &Paginate{Next: "cursor", NextParam: "after"}, func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				next := map[string]string{"": "x", "x": "y", "y": "x"}[r.URL.Query().Get("after")]
				w.Write([]byte(`{"data": [{"id": "` + next + `"}], "cursor": "` + next + `"}`))
			}
		}, `page 3 (GET %s/a?after=y): pagination loop: the next token at "cursor" leads to %s/a?after=x, which was already read as page 2`},
		{"link", &Paginate{Link: true}, func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				next := map[string]string{"/a": "/b", "/b": "/a"}[r.URL.Path]
				w.Header().Set("Link", "<"+next+`>; rel="next"`)
				w.Write([]byte(`{"data": [{"id": "` + r.URL.Path + `"}]}`))
			}
		}, "page 2 (GET %s/b): pagination loop: the next page's URL %s/a was already read as page 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base string
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) > 10 {
					w.WriteHeader(http.StatusTeapot)
					return
				}
				tt.handler(base)(w, r)
			})
			base = srv.URL
			src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/a", Records: "data", Key: "id", Paginate: tt.paginate})
			_, err := readAll(t, src, connector.ReadRequest{})
			want := strings.ReplaceAll(tt.want, "%s", srv.URL)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
		})
	}
}

// TestRedirectLoop stops at the first URL requested twice, and at once:
// a loop is not a transient failure worth retrying the page for.
func TestRedirectLoop(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		next := map[string]string{"/a": "/b", "/b": "/c", "/c": "/b"}[r.URL.Path]
		http.Redirect(w, r, next, http.StatusFound)
	})
	src := fastSource(t, systemsFor(t, srv.URL, func(c *SystemConfig) {
		c.Auth = &Auth{APIKey: &APIKey{Query: "key", Value: "s3cret-key"}}
	}), &SourceConfig{System: "api", Path: "/a", Key: "id"})
	if src.Retries == 0 {
		t.Fatal("the source retries no page: the test would not see a loop retried")
	}
	_, err := readAll(t, src, connector.ReadRequest{})
	want := "redirect loop: " + srv.URL + "/c?key=REDACTED redirects back to " + srv.URL + "/b"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "gave up") {
		t.Fatalf("err = %v\nwant %s, not retried", err, want)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d requests, want 3 (a, b, c), once", calls.Load())
	}
}

// TestTooManyRedirectsNotRetried: a chain longer than 10 hops fails the
// page at once too.
func TestTooManyRedirectsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		http.Redirect(w, r, fmt.Sprintf("/hop%d", n), http.StatusFound)
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/a", Key: "id"})
	_, err := readAll(t, src, connector.ReadRequest{})
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") || strings.Contains(err.Error(), "gave up") {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 10 {
		t.Fatalf("%d requests, want 10 (the first and 9 redirects, the 10th is refused), once", calls.Load())
	}
}
