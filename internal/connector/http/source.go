package httpconn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// Defaults of a source.
const (
	DefaultPageSize      = 100
	DefaultRetries       = 3
	DefaultRetryDelay    = 200 * time.Millisecond
	DefaultMaxRetryDelay = 30 * time.Second
	DefaultMaxBody       = 64 << 20 // 64 MiB
)

// pageStyle is how a source finds its next page.
type pageStyle int

const (
	pageNone   pageStyle = iota // one request
	pageNumber                  // ?page=1&size=100, stop on a short page
	pageOffset                  // ?offset=0&limit=100, stop on a short page
	// The styles below follow URLs (or tokens) the API hands out; Read
	// remembers them to detect loops.
	pageNextURL   // the body holds the next page's URL
	pageNextToken // the body holds a token for next_param
	pageLink      // the Link header's rel="next"
)

// Source reads records with GET requests, page by page; it implements
// connector.Source. Only one page is held in memory at a time.
type Source struct {
	sys     *system
	path    *expr.Template
	query   map[string]*expr.Template
	headers map[string]*expr.Template
	records string
	key     string
	cursor  string

	style     pageStyle
	param     string // page, offset or next_param parameter
	sizeParam string // size or limit parameter
	size      int
	start     int    // first page number
	nextPath  string // dotted path of the next URL or token

	// Retries is how many more times a page is requested after a
	// transient failure (network error, timeout, 408, 429, 5xx).
	Retries int
	// RetryDelay is the first wait between tries, doubled each time; a
	// longer Retry-After from the server wins.
	RetryDelay time.Duration
	// MaxRetryDelay caps every wait, Retry-After included.
	MaxRetryDelay time.Duration
	// MaxBody is the largest page body read, in bytes; a larger one fails
	// the read rather than the process.
	MaxBody int64
}

var _ connector.Source = (*Source)(nil)

// NewSource prepares a source; templates are compiled here, once.
// Query, path and header templates see one variable: cursor.
func NewSource(s *Systems, cfg *SourceConfig) (*Source, error) {
	if cfg == nil {
		return nil, fmt.Errorf("http source: no settings")
	}
	sys, err := s.get(cfg.System)
	if err != nil {
		return nil, err
	}
	if cfg.Key == "" {
		return nil, fmt.Errorf("key: required (expected the dotted path to a record's business key, e.g. id)")
	}
	src := &Source{
		sys: sys, records: cfg.Records, key: cfg.Key, cursor: cfg.Cursor,
		Retries: DefaultRetries, RetryDelay: DefaultRetryDelay,
		MaxRetryDelay: DefaultMaxRetryDelay, MaxBody: DefaultMaxBody,
	}
	if src.path, err = expr.CompileTemplate(cfg.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if src.query, err = compileTemplates("query", cfg.Query); err != nil {
		return nil, err
	}
	if src.headers, err = compileTemplates("headers", cfg.Headers); err != nil {
		return nil, err
	}
	if err := src.setPagination(cfg.Paginate); err != nil {
		return nil, fmt.Errorf("paginate: %w", err)
	}
	return src, nil
}

func (s *Source) setPagination(p *Paginate) error {
	if p == nil {
		return nil
	}
	var set []string
	if p.Page != nil {
		set = append(set, "page")
	}
	if p.Offset != nil {
		set = append(set, "offset")
	}
	if p.Next != "" {
		set = append(set, "next")
	}
	if p.Link {
		set = append(set, "link")
	}
	if len(set) > 1 {
		return fmt.Errorf("expected one of page, offset, next or link, found %s", strings.Join(set, " and "))
	}
	if p.NextParam != "" && p.Next == "" {
		return fmt.Errorf("next_param: needs next (the dotted path to the token in the body)")
	}
	switch {
	case p.Page != nil:
		s.style = pageNumber
		s.param = orDefault(p.Page.Param, "page")
		s.sizeParam = orDefault(p.Page.SizeParam, "size")
		s.size, s.start = p.Page.Size, 1
		if p.Page.Start != nil {
			s.start = *p.Page.Start
		}
		if s.size < 0 {
			return fmt.Errorf("page.size: %d is negative (expected records per page, default %d)", s.size, DefaultPageSize)
		}
		if s.size == 0 {
			s.size = DefaultPageSize
		}
	case p.Offset != nil:
		s.style = pageOffset
		s.param = orDefault(p.Offset.Param, "offset")
		s.sizeParam = orDefault(p.Offset.LimitParam, "limit")
		s.size = p.Offset.Limit
		if s.size < 0 {
			return fmt.Errorf("offset.limit: %d is negative (expected records per request, default %d)", s.size, DefaultPageSize)
		}
		if s.size == 0 {
			s.size = DefaultPageSize
		}
	case p.Next != "" && p.NextParam != "":
		s.style, s.nextPath, s.param = pageNextToken, p.Next, p.NextParam
	case p.Next != "":
		s.style, s.nextPath = pageNextURL, p.Next
	case p.Link:
		s.style = pageLink
	}
	return nil
}

// Read requests pages until the last one and calls fn for each. In full
// mode (or with an empty cursor) query parameters that render to "" are
// left out, so "updated_since: ${cursor}" reads everything.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	cursor := req.Cursor
	if req.Full {
		cursor = ""
	}
	env := map[string]any{"cursor": cursor}
	first, err := s.firstURL(env)
	if err != nil {
		return s.sys.redactError(err)
	}
	own, err := renderTemplates("headers", s.headers, env)
	if err != nil {
		return s.sys.redactError(err)
	}
	headers := map[string]string{"Accept": "application/json"}
	for k, v := range own {
		headers[http.CanonicalHeaderKey(k)] = v
	}

	pageNo, offset := s.start, 0
	current := first
	// Guards against APIs that never reach the end: every style compares
	// each page's keys with the previous page's (a next token that
	// changes while the records repeat is caught too); the URL styles
	// also remember every URL requested in this read.
	var prevKeys string
	requested := map[string]int{}
	for n := 1; ; n++ {
		switch s.style {
		case pageNumber:
			current = withParams(first, s.param, strconv.Itoa(pageNo), s.sizeParam, strconv.Itoa(s.size))
		case pageOffset:
			current = withParams(first, s.param, strconv.Itoa(offset), s.sizeParam, strconv.Itoa(s.size))
		}
		shown := s.sys.redact(current.String())
		fail := func(err error) error {
			return s.sys.redactError(fmt.Errorf("page %d (GET %s): %w", n, shown, err))
		}
		if s.style >= pageNextURL {
			requested[current.String()] = n
		}

		res, err := s.fetch(ctx, current.String(), headers)
		if err != nil {
			return fail(err)
		}
		body, items, err := s.decode(res)
		records := len(items)
		if err != nil {
			records = -1
		}
		s.sys.logRequest(ctx, http.MethodGet, current.String(), res.status, res.duration, records, err)
		if err != nil {
			return fail(err)
		}
		page := connector.Page{Number: n, URL: shown, Records: make([]connector.SourceRecord, 0, len(items))}
		for i, item := range items {
			rec, err := s.record(i+1, item)
			if err != nil {
				return fail(err)
			}
			page.Records = append(page.Records, rec)
		}
		keys := pageKeys(page.Records)
		if keys != "" && keys == prevKeys {
			return s.sys.redactError(fmt.Errorf("page %d of GET %s returned the same records as page %d: %s; stopping rather than reading the same page forever",
				n, shown, n-1, s.notAdvancing()))
		}
		prevKeys = keys
		if err := fn(ctx, page); err != nil {
			if errors.Is(err, connector.ErrStop) {
				return nil
			}
			return err
		}

		var next *url.URL
		switch s.style {
		case pageNumber, pageOffset:
			if len(items) < s.size {
				return nil
			}
			pageNo++
			offset += len(items)
			continue
		case pageNextURL, pageNextToken:
			v, ok, _ := lookup(body, s.nextPath)
			token := ""
			if ok {
				token = expr.Stringify(v)
			}
			if token == "" {
				return nil
			}
			if s.style == pageNextToken {
				next = withParams(first, s.param, token)
			} else if next, err = current.Parse(token); err != nil {
				return fail(fmt.Errorf("next page URL %q at %q: %v", token, s.nextPath, unwrapURLError(err)))
			}
		case pageLink:
			link := linkNext(res.header)
			if link == "" {
				return nil
			}
			if next, err = current.Parse(link); err != nil {
				return fail(fmt.Errorf("Link header rel=\"next\" URL %q: %v", link, unwrapURLError(err)))
			}
		default:
			return nil
		}
		if seen, ok := requested[next.String()]; ok {
			what := fmt.Sprintf("the next page's URL %s", s.sys.redact(next.String()))
			if s.style == pageNextToken {
				what = fmt.Sprintf("the next token at %q leads to %s, which", s.nextPath, s.sys.redact(next.String()))
			}
			return fail(fmt.Errorf("pagination loop: %s was already read as page %d; stopping rather than reading it again", what, seen))
		}
		current = next
	}
}

// notAdvancing says why a page that repeats the previous one's records
// probably did: what the API ignored.
func (s *Source) notAdvancing() string {
	switch s.style {
	case pageNumber, pageOffset:
		return fmt.Sprintf("the API seems to ignore the '%s' parameter", s.param)
	case pageNextToken:
		return fmt.Sprintf("the next token at %q changes, the records do not (the API seems to ignore the '%s' parameter)", s.nextPath, s.param)
	case pageNextURL:
		return fmt.Sprintf("the next page's URL at %q changes, the records do not", s.nextPath)
	case pageLink:
		return `the Link header's rel="next" URL changes, the records do not`
	}
	return "the API does not advance"
}

// decode reads a page body's records (nil when the body is unreadable).
func (s *Source) decode(res *response) (any, []any, error) {
	body, err := decodeJSON(res.body)
	if err != nil {
		return nil, nil, err
	}
	items, err := arrayAt(body, s.records)
	if err != nil {
		return nil, nil, err
	}
	return body, items, nil
}

// pageKeys is a digest of the set of keys of a page, "" for an empty
// page: two pages with the same digest hold the same records.
func pageKeys(records []connector.SourceRecord) string {
	if len(records) == 0 {
		return ""
	}
	keys := make([]string, len(records))
	for i, r := range records {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// firstURL renders path and query; empty query values are left out.
func (s *Source) firstURL(env map[string]any) (*url.URL, error) {
	path, err := s.path.RenderEscaped(env, url.PathEscape)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	u, err := url.Parse(s.sys.url(path))
	if err != nil {
		return nil, fmt.Errorf("path: %q does not make a valid URL: %v", path, unwrapURLError(err))
	}
	params, err := renderTemplates("query", s.query, env)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for name, v := range params {
		if v != "" {
			q.Set(name, v)
		}
	}
	u.RawQuery = q.Encode()
	return u, nil
}

// fetch GETs one page, trying again after transient failures.
func (s *Source) fetch(ctx context.Context, rawURL string, headers map[string]string) (*response, error) {
	delay := s.RetryDelay
	for attempt := 1; ; attempt++ {
		start := time.Now()
		res, err := s.sys.do(ctx, http.MethodGet, rawURL, headers, nil, s.maxBody())
		if err != nil {
			s.sys.logRequest(ctx, http.MethodGet, rawURL, 0, time.Since(start), -1, err)
		} else if !okStatus(res.status) || res.tooLarge {
			// A page read is logged by Read, with its records.
			s.sys.logRequest(ctx, http.MethodGet, rawURL, res.status, res.duration, -1, nil)
		}
		var reason string
		var wait time.Duration
		switch {
		case err != nil && !isRequestError(err):
			return nil, err // ctx ended
		case err != nil && final(err):
			return nil, err // a redirect loop: the same again on every try
		case err != nil:
			reason = err.Error()
		case okStatus(res.status) && res.tooLarge:
			return nil, fmt.Errorf("response body is larger than the limit of %s", byteSize(s.maxBody()))
		case okStatus(res.status):
			return res, nil
		case retryableStatus(res.status):
			reason = statusError(res)
			wait = retryAfter(res.header, time.Now())
		default:
			return nil, errors.New(statusError(res))
		}
		if attempt > s.Retries {
			if attempt > 1 {
				reason += fmt.Sprintf(" (gave up after %d attempts)", attempt)
			}
			return nil, errors.New(reason)
		}
		wait = max(wait, delay)
		if s.MaxRetryDelay > 0 {
			wait = min(wait, s.MaxRetryDelay)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		delay *= 2
	}
}

func (s *Source) maxBody() int64 {
	if s.MaxBody > 0 {
		return s.MaxBody
	}
	return DefaultMaxBody
}

// record extracts the key and cursor of the n-th (1-based) record.
func (s *Source) record(n int, item any) (connector.SourceRecord, error) {
	data, ok := item.(map[string]any)
	if !ok {
		return connector.SourceRecord{}, fmt.Errorf("record %d is %s (expected an object)", n, describe(item))
	}
	key, err := scalarField(data, s.key)
	if err != nil {
		return connector.SourceRecord{}, fmt.Errorf("record %d: key field %q is %s (expected a string or number)", n, s.key, err)
	}
	if key == nil {
		return connector.SourceRecord{}, fmt.Errorf("record %d has no key field %q", n, s.key)
	}
	rec := connector.SourceRecord{Key: *key, Data: data}
	if rec.Key == "" {
		return connector.SourceRecord{}, fmt.Errorf("record %d has an empty key field %q", n, s.key)
	}
	if s.cursor != "" {
		c, err := scalarField(data, s.cursor)
		if err != nil {
			return connector.SourceRecord{}, fmt.Errorf("record %d: cursor field %q is %s (expected a string or number)", n, s.cursor, err)
		}
		if c != nil {
			rec.Cursor = *c
		}
	}
	return rec, nil
}

// scalarField reads a string, number or boolean at a dotted path. It
// returns nil when the field is missing or null, and an error naming the
// kind of value when it is an object or array.
func scalarField(data map[string]any, path string) (*string, error) {
	v, ok, _ := lookup(data, path)
	if !ok || v == nil {
		return nil, nil
	}
	switch v.(type) {
	case map[string]any, []any:
		return nil, errors.New(describe(v))
	}
	s := expr.Stringify(v)
	return &s, nil
}

// linkNext finds the rel="next" URL in Link headers (RFC 8288).
func linkNext(h http.Header) string {
	for _, value := range h.Values("Link") {
		rest := value
		for {
			i := strings.IndexByte(rest, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(rest[i:], '>')
			if j < 0 {
				break
			}
			target := rest[i+1 : i+j]
			rest = rest[i+j+1:]
			params := rest
			if k := strings.IndexByte(rest, '<'); k >= 0 {
				params = rest[:k]
			}
			for _, p := range strings.Split(params, ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(val), ",")), `"`)
				for _, rel := range strings.Fields(val) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// withParams returns a copy of u with the given name/value pairs set.
func withParams(u *url.URL, pairs ...string) *url.URL {
	c := *u
	q := c.Query()
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	c.RawQuery = q.Encode()
	return &c
}

func compileTemplates(field string, m map[string]string) (map[string]*expr.Template, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*expr.Template, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		t, err := expr.CompileTemplate(m[name])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", field, name, err)
		}
		out[name] = t
	}
	return out, nil
}

func renderTemplates(field string, m map[string]*expr.Template, env map[string]any) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v, err := m[name].Render(env)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", field, name, err)
		}
		out[name] = v
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// byteSize shows a limit as "64 MiB" when it is a whole number of MiB.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
