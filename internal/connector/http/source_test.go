package httpconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// readAll reads every page and returns them.
func readAll(t *testing.T, src *Source, req connector.ReadRequest) ([]connector.Page, error) {
	t.Helper()
	var pages []connector.Page
	err := src.Read(context.Background(), req, func(_ context.Context, p connector.Page) error {
		pages = append(pages, p)
		return nil
	})
	return pages, err
}

func keysOf(pages []connector.Page) []string {
	var keys []string
	for _, p := range pages {
		for _, r := range p.Records {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func records(from, to int) []map[string]any {
	var out []map[string]any
	for i := from; i < to; i++ {
		out = append(out, map[string]any{"id": i, "updated_at": fmt.Sprintf("2024-01-%02d", i%28+1)})
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// fastSource builds a source with short retry waits.
func fastSource(t *testing.T, s *Systems, cfg *SourceConfig) *Source {
	t.Helper()
	src, err := NewSource(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src.RetryDelay = time.Millisecond
	return src
}

func TestSourceNoPagination(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"id": 12345678, "meta": {"changed": "2024-05-01"}, "total": 9.5}, {"id": "A-2", "meta": {"changed": 17}}]`))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Key: "id", Cursor: "meta.changed"})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 || pages[0].Number != 1 || pages[0].URL != srv.URL+"/orders" {
		t.Fatalf("pages = %+v", pages)
	}
	recs := pages[0].Records
	if len(recs) != 2 || recs[0].Key != "12345678" || recs[0].Cursor != "2024-05-01" || recs[1].Key != "A-2" || recs[1].Cursor != "17" {
		t.Fatalf("records = %+v", recs)
	}
	if recs[0].Data["total"] != 9.5 {
		t.Fatalf("numbers must decode as float64, got %T", recs[0].Data["total"])
	}
}

func TestSourcePagePagination(t *testing.T) {
	tests := []struct {
		name      string
		page      PagePagination
		param     string
		sizeParam string
		size      int
		first     int
	}{
		{"defaults", PagePagination{}, "page", "size", 100, 1},
		{"custom", PagePagination{Param: "p", SizeParam: "per_page", Size: 40}, "p", "per_page", 40, 1},
		{"zero-based", PagePagination{Size: 50, Start: ptr(0)}, "page", "size", 50, 0},
		{"start at 3", PagePagination{Size: 50, Start: ptr(3)}, "page", "size", 50, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const total = 250
			var seen []int
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				page, _ := strconv.Atoi(r.URL.Query().Get(tt.param))
				size, _ := strconv.Atoi(r.URL.Query().Get(tt.sizeParam))
				seen = append(seen, page)
				from := (page - tt.first) * size
				writeJSON(w, map[string]any{"data": records(from, min(from+size, total))})
			})
			p := tt.page
			src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Records: "data", Key: "id",
				Paginate: &Paginate{Page: &p}})
			pages, err := readAll(t, src, connector.ReadRequest{})
			if err != nil {
				t.Fatal(err)
			}
			wantPages := (total + tt.size - 1) / tt.size
			if total%tt.size == 0 {
				wantPages++ // the empty page that ends it
			}
			if len(seen) != wantPages || seen[0] != tt.first || len(keysOf(pages)) != total {
				t.Fatalf("requested pages %v, got %d records", seen, len(keysOf(pages)))
			}
			if pages[1].Number != 2 || !strings.Contains(pages[1].URL, tt.param+"="+strconv.Itoa(tt.first+1)) {
				t.Fatalf("page 2 = %d %s", pages[1].Number, pages[1].URL)
			}
		})
	}
}

func TestSourceOffsetPagination(t *testing.T) {
	const total = 230
	var requests []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.URL.RawQuery)
		off, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		lim, _ := strconv.Atoi(r.URL.Query().Get("take"))
		writeJSON(w, records(off, min(off+lim, total)))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/items", Key: "id",
		Paginate: &Paginate{Offset: &OffsetPagination{Param: "skip", LimitParam: "take", Limit: 100}}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"skip=0&take=100", "skip=100&take=100", "skip=200&take=100"}
	if fmt.Sprint(requests) != fmt.Sprint(want) || len(keysOf(pages)) != total {
		t.Fatalf("requests %v, records %d", requests, len(keysOf(pages)))
	}
}

func TestSourceNextURL(t *testing.T) {
	var srvURL string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.RequestURI() {
		case "/v1/orders?status=paid":
			// relative to the current URL
			writeJSON(w, map[string]any{"data": records(0, 2), "meta": map[string]any{"next_url": "orders?cursor=abc"}})
		case "/v1/orders?cursor=abc":
			writeJSON(w, map[string]any{"data": records(2, 4), "meta": map[string]any{"next_url": srvURL + "/v1/orders?cursor=def"}})
		case "/v1/orders?cursor=def":
			writeJSON(w, map[string]any{"data": records(4, 5), "meta": map[string]any{"next_url": nil}})
		default:
			t.Errorf("unexpected request %s", r.URL)
			w.WriteHeader(http.StatusNotFound)
		}
	})
	srvURL = srv.URL
	src := fastSource(t, systemsFor(t, srv.URL+"/v1/"), &SourceConfig{System: "api", Path: "orders", Records: "data", Key: "id",
		Query: map[string]string{"status": "paid"}, Paginate: &Paginate{Next: "meta.next_url"}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keysOf(pages), ","); got != "0,1,2,3,4" || len(pages) != 3 {
		t.Fatalf("keys %s in %d pages", got, len(pages))
	}
}

func TestSourceNextToken(t *testing.T) {
	var queries []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		switch r.URL.Query().Get("page_token") {
		case "":
			writeJSON(w, map[string]any{"items": records(0, 2), "next": "t1"})
		case "t1":
			writeJSON(w, map[string]any{"items": records(2, 3), "next": ""})
		}
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/list", Records: "items", Key: "id",
		Query: map[string]string{"status": "paid"}, Paginate: &Paginate{Next: "next", NextParam: "page_token"}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"status=paid", "page_token=t1&status=paid"}
	if fmt.Sprint(queries) != fmt.Sprint(want) || len(keysOf(pages)) != 3 {
		t.Fatalf("queries %v, records %v", queries, keysOf(pages))
	}
}

func TestSourceLinkHeader(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("p"))
		if page == 0 {
			page = 1
		}
		if page < 4 {
			// several links in one header, next not first, relative URL
			w.Header().Set("Link", fmt.Sprintf(`</items?p=1>; rel="first", </items?p=%d>; rel="next", </items?p=4>; rel="last"`, page+1))
		}
		writeJSON(w, records((page-1)*2, page*2))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/items", Key: "id",
		Paginate: &Paginate{Link: true}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 4 || strings.Join(keysOf(pages), ",") != "0,1,2,3,4,5,6,7" || pages[3].URL != srv.URL+"/items?p=4" {
		t.Fatalf("%d pages, keys %v, last URL %s", len(pages), keysOf(pages), pages[len(pages)-1].URL)
	}
}

func TestLinkNext(t *testing.T) {
	tests := []struct{ header, want string }{
		{`<https://a/x?p=2>; rel="next"`, "https://a/x?p=2"},
		{`<https://a/x?p=1>; rel="prev", <https://a/x?p=3>; rel=next`, "https://a/x?p=3"},
		{`<https://a/x?a=1,2>; rel="prev next"`, "https://a/x?a=1,2"},
		{`<https://a/x?p=1>; rel="last"`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Link", tt.header)
		}
		if got := linkNext(h); got != tt.want {
			t.Errorf("linkNext(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestSourceCursorQuery(t *testing.T) {
	tests := []struct {
		name string
		req  connector.ReadRequest
		want string
	}{
		{"first run omits the empty cursor", connector.ReadRequest{}, "status=paid"},
		{"incremental sends it", connector.ReadRequest{Cursor: "2024-05-01T10:00:00Z"}, "status=paid&updated_since=2024-05-01T10%3A00%3A00Z"},
		{"full mode ignores it", connector.ReadRequest{Cursor: "2024-05-01", Full: true}, "status=paid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.RawQuery
				w.Write([]byte(`[]`))
			})
			src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Key: "id",
				Query: map[string]string{"status": "paid", "updated_since": "${cursor}"}})
			if _, err := readAll(t, src, tt.req); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("query = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSourceStopAndCallbackError(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1))
		w.Header().Set("Link", fmt.Sprintf(`</items?n=%d>; rel="next"`, i))
		writeJSON(w, records(i, i+1)) // endless, but advancing
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/items", Key: "id", Paginate: &Paginate{Link: true}})
	err := src.Read(context.Background(), connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		if p.Number == 2 {
			return connector.ErrStop
		}
		return nil
	})
	if err != nil || n.Load() != 2 {
		t.Fatalf("ErrStop: err = %v after %d requests, want nil after 2", err, n.Load())
	}
	boom := errors.New("queue full")
	err = src.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return boom })
	if err != boom {
		t.Fatalf("callback error = %v, want it returned unchanged", err)
	}
}

func TestSourceRetriesTransientFailures(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusRequestTimeout)
		default:
			w.Write([]byte(`[{"id": 1}]`))
		}
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Key: "id"})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err != nil || len(keysOf(pages)) != 1 || n.Load() != 3 {
		t.Fatalf("err = %v, records %v, requests %d", err, keysOf(pages), n.Load())
	}
}

func TestSourceHonorsRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`[]`))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Key: "id"})
	if _, err := readAll(t, src, connector.ReadRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[1].Sub(times[0]) < 900*time.Millisecond {
		t.Fatalf("second request after %v, want about 1s (Retry-After: 1)", times[1].Sub(times[0]))
	}
}

func TestSourceGivesUpAfterRetries(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "database is down", http.StatusInternalServerError)
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Key: "id"})
	_, err := readAll(t, src, connector.ReadRequest{})
	want := fmt.Sprintf("page 1 (GET %s/orders): HTTP 500 Internal Server Error: database is down (gave up after 4 attempts)", srv.URL)
	if err == nil || err.Error() != want || n.Load() != 4 {
		t.Fatalf("err = %v after %d requests\nwant %s after 4", err, n.Load(), want)
	}
}

func TestSourceDoesNotRetryClientErrors(t *testing.T) {
	var n atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": "no such route"}`))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/nope", Key: "id"})
	_, err := readAll(t, src, connector.ReadRequest{})
	want := fmt.Sprintf(`page 1 (GET %s/nope): HTTP 404 Not Found: {"error": "no such route"}`, srv.URL)
	if err == nil || err.Error() != want || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests\nwant %s after 1", err, n.Load(), want)
	}
}

// TestSourceBodyErrors checks the exact messages a user sees for broken
// pages: the page number, the URL, what was wrong and what was expected.
func TestSourceBodyErrors(t *testing.T) {
	tests := []struct {
		name    string
		records string
		body    string
		want    string // after "page 2 (GET <url>?page=2&size=2): "
	}{
		{"not JSON", "data", "<html><body>Bad gateway</body></html>",
			"response is not JSON: invalid character '<' looking for beginning of value; body starts with: <html><body>Bad gateway</body></html>"},
		{"truncated", "data", `{"data": [{"id": 3}, {"id": 4`,
			`response JSON is truncated: unexpected end of JSON input after 29 bytes; body starts with: {"data": [{"id": 3}, {"id": 4`},
		{"wrong records path", "data", `{"items": [], "meta": {}}`,
			`no array at "data" in the response; found an object with keys: items, meta`},
		{"records path is not an array", "data", `{"data": {"id": 1}}`,
			`no array at "data" in the response; found an object with keys: id`},
		{"body is not an array", "", `{"data": []}`,
			`no array at the response body; found an object with keys: data`},
		{"record without key", "data", `{"data": [{"id": 3}, {"id": 4}, {"name": "x"}]}`,
			`record 3 has no key field "id"`},
		{"record not an object", "data", `{"data": [{"id": 3}, 7]}`,
			`record 2 is a number (expected an object)`},
		{"key is an object", "data", `{"data": [{"id": {"a": 1}}]}`,
			`record 1: key field "id" is an object with keys: a (expected a string or number)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("page") == "1" {
					body := `[{"id": 1}, {"id": 2}]`
					if tt.records != "" {
						body = `{"` + tt.records + `": ` + body + `}`
					}
					w.Write([]byte(body))
					return
				}
				w.Write([]byte(tt.body))
			})
			src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Path: "/orders", Records: tt.records, Key: "id",
				Paginate: &Paginate{Page: &PagePagination{Size: 2}}})
			pages, err := readAll(t, src, connector.ReadRequest{})
			want := fmt.Sprintf("page 2 (GET %s/orders?page=2&size=2): %s", srv.URL, tt.want)
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant  %s", err, want)
			}
			if len(pages) != 1 {
				t.Fatalf("page 1 must be handed over before page 2 fails, got %d pages", len(pages))
			}
		})
	}
}

func TestSourceMaxBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[` + strings.Repeat(`{"id": 1},`, 1000) + `{"id": 2}]`))
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Key: "id"})
	src.MaxBody = 1 << 10
	_, err := readAll(t, src, connector.ReadRequest{})
	want := fmt.Sprintf("page 1 (GET %s): response body is larger than the limit of 1024 bytes", srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if DefaultMaxBody != 64<<20 || byteSize(DefaultMaxBody) != "64 MiB" {
		t.Fatalf("default limit %s", byteSize(DefaultMaxBody))
	}
}

// TestSourceRedactsAPIKey: an API key sent as a query parameter, or
// echoed back in a next URL, never shows in an error.
func TestSourceRedactsAPIKey(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			writeJSON(w, map[string]any{"data": records(0, 1), "next": "/orders?cursor=2&api_key=s3cret"})
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})
	s := systemsFor(t, srv.URL, func(c *SystemConfig) {
		c.Auth = &Auth{APIKey: &APIKey{Query: "api_key", Value: "s3cret"}}
	})
	src := fastSource(t, s, &SourceConfig{System: "api", Path: "/orders", Records: "data", Key: "id", Paginate: &Paginate{Next: "next"}})
	pages, err := readAll(t, src, connector.ReadRequest{})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "api_key=REDACTED") {
		t.Fatalf("err = %v", err)
	}
	for _, p := range pages {
		if strings.Contains(p.URL, "s3cret") {
			t.Fatalf("page URL shows the key: %s", p.URL)
		}
	}
}

func TestSourceConnectionRefused(t *testing.T) {
	url := refusedURL(t)
	src := fastSource(t, systemsFor(t, url), &SourceConfig{System: "api", Path: "/orders", Key: "id"})
	_, err := readAll(t, src, connector.ReadRequest{})
	prefix := fmt.Sprintf("page 1 (GET %s/orders): dial tcp ", url)
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.HasSuffix(err.Error(), "connection refused (gave up after 4 attempts)") {
		t.Fatalf("err = %v", err)
	}
}

func TestSourceHonorsContext(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	src := fastSource(t, systemsFor(t, srv.URL), &SourceConfig{System: "api", Key: "id"})
	src.RetryDelay = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := src.Read(ctx, connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
}

func TestNewSourceErrors(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		cfg  SourceConfig
		want string
	}{
		{"no key", SourceConfig{System: "api"}, "key: required (expected the dotted path to a record's business key, e.g. id)"},
		{"bad path", SourceConfig{System: "api", Key: "id", Path: "/orders/${"}, `path: template "/orders/${": unclosed ${ at offset 8`},
		{"bad query", SourceConfig{System: "api", Key: "id", Query: map[string]string{"since": "${cursor +}"}}, `query.since: template "${cursor +}": expression "cursor +"`},
		{"two styles", SourceConfig{System: "api", Key: "id", Paginate: &Paginate{Page: &PagePagination{}, Link: true}},
			"paginate: expected one of page, offset, next or link, found page and link"},
		{"next_param alone", SourceConfig{System: "api", Key: "id", Paginate: &Paginate{NextParam: "token"}},
			"paginate: next_param: needs next"},
		{"negative size", SourceConfig{System: "api", Key: "id", Paginate: &Paginate{Page: &PagePagination{Size: -5}}},
			"paginate: page.size: -5 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			_, err := NewSource(s, &cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant prefix %s", err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
