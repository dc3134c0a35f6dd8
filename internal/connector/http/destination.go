package httpconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// eachConcurrency bounds the requests of one batch in flight at once with
// body: each; the system's rate limit still applies to all of them.
const eachConcurrency = 4

// Destination delivers records with HTTP requests; it implements
// connector.Destination.
//
// With body: each (the default) every record is one request whose path
// and headers are templates over the record's fields plus the delivery's
// vars (key, entry, ...). With body: array the batch is one request, a
// JSON array of the records or {"<wrap>": [...]}; its path and headers
// see one variable, batch_size.
type Destination struct {
	sys     *system
	method  string
	path    *expr.Template
	headers map[string]*expr.Template
	array   bool
	wrap    string
	results *resultReader // nil: the status alone decides
	answers answerRules   // checked before the built-in classification

	// Concurrency bounds the requests of one batch in flight with body:
	// each (default 4).
	Concurrency int
	// MaxBody is the largest response body read, in bytes.
	MaxBody int64
}

var (
	_ connector.Destination = (*Destination)(nil)
	_ connector.Previewer   = (*Destination)(nil)
)

// NewDestination prepares a destination; templates and result
// expressions are compiled here, once. cfg.Map is applied by the engine
// before Send and is ignored here.
func NewDestination(s *Systems, cfg *DestinationConfig) (*Destination, error) {
	if cfg == nil {
		return nil, fmt.Errorf("http destination: no settings")
	}
	sys, err := s.get(cfg.System)
	if err != nil {
		return nil, err
	}
	method, err := checkMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	d := &Destination{sys: sys, method: method, wrap: cfg.Wrap, Concurrency: eachConcurrency, MaxBody: DefaultMaxBody}
	switch cfg.Body {
	case "", "each":
	case "array":
		d.array = true
	default:
		return nil, fmt.Errorf("body: %q is not a body mode (expected each or array)", cfg.Body)
	}
	if cfg.Wrap != "" && !d.array {
		return nil, fmt.Errorf("wrap: only applies with body: array")
	}
	if d.path, err = expr.CompileTemplate(cfg.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if d.headers, err = compileTemplates("headers", cfg.Headers); err != nil {
		return nil, err
	}
	if cfg.Results != nil {
		if d.results, err = newResultReader(sys.name, cfg.Results); err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
	}
	if d.answers, err = compileAnswers(cfg.Answers); err != nil {
		return nil, err
	}
	return d, nil
}

func checkMethod(m string) (string, error) {
	switch up := strings.ToUpper(m); up {
	case "":
		return http.MethodPost, nil
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return up, nil
	}
	return "", fmt.Errorf("method: %q is not supported (expected POST, PUT, PATCH or DELETE)", m)
}

// Send delivers the batch and returns one result per delivery, in order.
// It returns an error only when ctx ended.
func (d *Destination) Send(ctx context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, nil
	}
	var results []connector.Result
	if d.array {
		results = d.sendArray(ctx, batch)
	} else {
		results = d.sendEach(ctx, batch)
	}
	for i := range results {
		d.sys.redactResult(&results[i])
	}
	// Failures after ctx ended are likely caused by it: report the
	// cancellation with the results, so the engine settles what was
	// delivered and leaves the rest to be sent again.
	if err := ctx.Err(); err != nil && !allOK(results) {
		return results, err
	}
	return results, nil
}

// Preview renders one record's request as Send would, without sending
// it; the error is what Send would fail the record with.
func (d *Destination) Preview(ctx context.Context, del connector.Delivery) (connector.Preview, error) {
	var path string
	var headers map[string]string
	var body []byte
	if d.array {
		req, fail := d.renderArray([]connector.Delivery{del})
		if fail == nil {
			fail = req.refused[0]
		}
		if fail != nil {
			return connector.Preview{}, errors.New(d.sys.secrets.String(fail.Error))
		}
		path, headers = req.path, req.headers
		span := req.spans[0]
		body = req.body[span[0]:span[1]]
	} else {
		req, fail := d.renderOne(del)
		if fail != nil {
			return connector.Preview{}, errors.New(d.sys.secrets.String(fail.Error))
		}
		path, headers, body = req.path, req.headers, req.body
	}
	target, err := d.sys.requestURL(ctx, d.method, d.sys.url(path), requestHeaders(headers, body != nil, del.IdempotencyKey))
	if err != nil {
		return connector.Preview{}, errors.New(d.sys.secrets.String(err.Error()))
	}
	return connector.Preview{Method: d.method, URL: d.sys.redact(target), Body: d.sys.secrets.Bytes(body)}, nil
}

func (d *Destination) sendEach(ctx context.Context, batch []connector.Delivery) []connector.Result {
	results := make([]connector.Result, len(batch))
	limit := d.Concurrency
	if limit <= 0 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range batch {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return results
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = d.sendOne(ctx, batch[i])
		}()
	}
	wg.Wait()
	return results
}

// oneRequest is one record's request with body: each, rendered.
type oneRequest struct {
	path    string
	headers map[string]string
	body    []byte // nil for DELETE
	request string // excerpt of the record's JSON, for its history
}

// renderOne renders a record's request; a failure is the record's
// result (not retryable: the same record renders the same way).
func (d *Destination) renderOne(del connector.Delivery) (oneRequest, *connector.Result) {
	env := deliveryEnv(del)
	body, err := jsonx.Marshal(del.Record)
	if err != nil {
		return oneRequest{}, &connector.Result{Error: fmt.Sprintf("encode record as JSON: %v", err)}
	}
	req := oneRequest{body: body, request: excerpt(body, ExcerptSize)}
	if d.method == http.MethodDelete {
		// DELETE names its target in the path; a body there is refused by
		// many servers and proxies.
		req.body = nil
	}
	if req.path, err = d.path.RenderEscaped(env, url.PathEscape); err != nil {
		return oneRequest{}, &connector.Result{Error: "path: " + err.Error(), Request: req.request}
	}
	if req.headers, err = renderTemplates("headers", d.headers, env); err != nil {
		return oneRequest{}, &connector.Result{Error: err.Error(), Request: req.request}
	}
	return req, nil
}

func (d *Destination) sendOne(ctx context.Context, del connector.Delivery) connector.Result {
	req, fail := d.renderOne(del)
	if fail != nil {
		return *fail
	}
	res, fail := exchange(ctx, d.sys, d.method, req.path, req.headers, req.body, del.IdempotencyKey, d.maxBody(), 1)
	if fail != nil {
		fail.Request = req.request
		return *fail
	}
	// A per-record API may still answer 2xx with {"status": "error"}: the
	// results settings read it as a batch of one.
	r := settle(res, []connector.Delivery{del}, true, d.results, d.answers)[0]
	r.Request = req.request
	return r
}

// arrayRequest is one batch's request with body: array, rendered.
type arrayRequest struct {
	path    string
	headers map[string]string
	body    []byte
	sent    []int               // batch positions of the records in body, in order
	spans   [][2]int            // by batch position: the record's element in body
	refused []*connector.Result // by batch position: the record could not be encoded
}

// renderArray encodes the batch as one body. A record JSON cannot
// encode (NaN, ±Inf) is refused on its own and left out, so it cannot
// hold back the others; a path or header that fails fails them all.
func (d *Destination) renderArray(batch []connector.Delivery) (*arrayRequest, *connector.Result) {
	req := &arrayRequest{spans: make([][2]int, len(batch)), refused: make([]*connector.Result, len(batch))}
	// Sized for typical records, so the buffer rarely grows.
	buf := make([]byte, 0, 256*len(batch)+len(d.wrap)+8)
	if d.wrap != "" {
		buf = append(buf, '{')
		buf, _ = jsonx.Append(buf, d.wrap) // a string always encodes
		buf = append(buf, ':')
	}
	buf = append(buf, '[')
	for i, del := range batch {
		mark := len(buf)
		if len(req.sent) > 0 {
			buf = append(buf, ',')
		}
		start := len(buf)
		grown, err := jsonx.Append(buf, del.Record)
		if err != nil {
			buf = buf[:mark]
			req.refused[i] = &connector.Result{Error: fmt.Sprintf("encode record as JSON: %v", err)}
			continue
		}
		buf = grown
		req.spans[i] = [2]int{start, len(buf)}
		req.sent = append(req.sent, i)
	}
	buf = append(buf, ']')
	if d.wrap != "" {
		buf = append(buf, '}')
	}
	req.body = buf
	env := map[string]any{"batch_size": len(req.sent)}
	var err error
	if req.path, err = d.path.RenderEscaped(env, url.PathEscape); err != nil {
		return nil, &connector.Result{Error: "path: " + err.Error()}
	}
	if req.headers, err = renderTemplates("headers", d.headers, env); err != nil {
		return nil, &connector.Result{Error: err.Error()}
	}
	return req, nil
}

func (d *Destination) sendArray(ctx context.Context, batch []connector.Delivery) []connector.Result {
	out := make([]connector.Result, len(batch))
	// Request excerpts are made for failed records only: a delivered
	// record's request is not kept in its history, and encoding every
	// record twice would cost a large sync dearly.
	defer func() {
		for i := range out {
			if !out[i].OK && out[i].Request == "" {
				out[i].Request = jsonExcerpt(batch[i].Record)
			}
		}
	}()
	req, fail := d.renderArray(batch)
	if fail != nil {
		for i := range out {
			out[i] = *fail
		}
		return out
	}
	for i, r := range req.refused {
		if r != nil {
			out[i] = *r
		}
	}
	if len(req.sent) == 0 {
		return out
	}
	sent := make([]connector.Delivery, len(req.sent))
	keys := make([]string, len(req.sent))
	for j, i := range req.sent {
		sent[j] = batch[i]
		keys[j] = batch[i].IdempotencyKey
	}
	var got []connector.Result
	res, failure := exchange(ctx, d.sys, d.method, req.path, req.headers, req.body, batchIdempotencyKey(keys), d.maxBody(), len(sent))
	if failure != nil {
		got = make([]connector.Result, len(sent))
		for j := range got {
			got[j] = *failure
		}
	} else {
		got = settle(res, sent, false, d.results, d.answers)
	}
	for j, i := range req.sent {
		out[i] = got[j]
	}
	return out
}

func (d *Destination) maxBody() int64 {
	if d.MaxBody > 0 {
		return d.MaxBody
	}
	return DefaultMaxBody
}

// batchIdempotencyKey is a stable hash of the batch's idempotency keys,
// in any order: a retried batch of the same entry versions carries the
// same key however the entries were leased, a batch with any other entry
// or version carries another.
func batchIdempotencyKey(keys []string) string {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	h := sha256.New()
	for _, k := range sorted {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// requestHeaders are the headers of a delivery or operation request:
// the JSON content headers, the route's own headers, then the
// Idempotency-Key (which wins over a header of that name).
func requestHeaders(headers map[string]string, hasBody bool, idemKey string) map[string]string {
	all := make(map[string]string, len(headers)+3)
	if hasBody {
		all["Content-Type"] = "application/json"
	}
	all["Accept"] = "application/json"
	for k, v := range headers {
		all[http.CanonicalHeaderKey(k)] = v
	}
	if idemKey != "" {
		all["Idempotency-Key"] = idemKey
	}
	return all
}

// exchange makes one delivery or operation request carrying records
// records. It returns the response whatever its status, or the failure
// to get one: retryable, and unknown unless the request surely never
// left (connection refused, no such host, rate limit wait too long).
func exchange(ctx context.Context, sys *system, method, path string, headers map[string]string, body []byte, idemKey string, maxBody int64, records int) (*response, *connector.Result) {
	target := sys.url(path)
	start := time.Now()
	res, err := sys.do(ctx, method, target, requestHeaders(headers, body != nil, idemKey), body, maxBody)
	if err != nil {
		elapsed := time.Since(start)
		sys.logRequest(ctx, method, target, 0, elapsed, records, err)
		return nil, &connector.Result{Retryable: !final(err), Unknown: !notSent(err), Duration: elapsed,
			Error: fmt.Sprintf("%s %s: %v", method, sys.redact(target), err)}
	}
	sys.logRequest(ctx, method, target, res.status, res.duration, records, nil)
	return res, nil
}

// settle reads one result per record out of an answer: the answer rules
// first, then the built-in classification (the status; for a 2xx with
// per-record results, each record's result).
func settle(res *response, batch []connector.Delivery, single bool, results *resultReader, rules answerRules) []connector.Result {
	out := make([]connector.Result, len(batch))
	var items []any
	var found []bool
	switch {
	case !okStatus(res.status):
		fail := statusFailure(res)
		for i := range out {
			out[i] = fail
		}
	case results == nil:
		for i := range out {
			out[i] = connector.Result{OK: true, StatusCode: res.status, Response: excerpt(res.body, ExcerptSize), Duration: res.duration}
		}
	default:
		out, items, found = results.read(res, batch, single)
	}
	if len(rules) == 0 {
		return out
	}
	a := newAnswer(res, rules)
	for i, del := range batch {
		var item any
		has := false
		if found != nil {
			item, has = items[i], found[i]
		}
		rule, env := rules.decide(a, del, item, has)
		if rule == nil {
			out[i] = a.withNotes(out[i])
			continue
		}
		response := out[i].Response
		if response == "" {
			response = excerpt(res.body, ExcerptSize)
		}
		out[i] = rule.result(a, env, response)
	}
	return out
}

// statusFailure classifies a non-2xx answer by its status: 408, 429 and
// 5xx are worth retrying; a 5xx may hide a request that was applied.
func statusFailure(res *response) connector.Result {
	return connector.Result{
		Retryable:  retryableStatus(res.status),
		Unknown:    res.status >= 500,
		StatusCode: res.status,
		Error:      statusError(res),
		Response:   excerpt(res.body, ExcerptSize),
		RetryAfter: retryAfter(res.header, time.Now()),
		Duration:   res.duration,
	}
}

// deliveryEnv is the template env of one record: its fields, with the
// delivery's vars on top, and idempotency_key (the record's own key, also
// inside a batch) when the vars do not set it.
func deliveryEnv(del connector.Delivery, more ...map[string]any) map[string]any {
	env := mergeEnv(del.Record, append([]map[string]any{del.Vars}, more...)...)
	if !hasField(del.Vars, idempotencyKeyVar) && del.IdempotencyKey != "" {
		env[idempotencyKeyVar] = del.IdempotencyKey
	}
	return env
}

// idempotencyKeyVar names a record's own idempotency key in templates.
const idempotencyKeyVar = "idempotency_key"

func hasField(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// mergeEnv is the template env of a record: its fields with vars on top.
func mergeEnv(rec map[string]any, vars ...map[string]any) map[string]any {
	n := len(rec)
	for _, v := range vars {
		n += len(v)
	}
	env := make(map[string]any, n)
	for k, v := range rec {
		env[k] = v
	}
	for _, m := range vars {
		for k, v := range m {
			env[k] = v
		}
	}
	return env
}

func allOK(results []connector.Result) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return true
}
