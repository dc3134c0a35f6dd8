package httpconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
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

	// Concurrency bounds the requests of one batch in flight with body:
	// each (default 4).
	Concurrency int
	// MaxBody is the largest response body read, in bytes.
	MaxBody int64
}

var _ connector.Destination = (*Destination)(nil)

// NewDestination prepares a destination; templates and result
// expressions are compiled here, once. cfg.Map is applied by the engine
// before Send and is ignored here.
func NewDestination(s *Systems, cfg *config.HTTPDestination) (*Destination, error) {
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
		if d.results, err = newResultReader(cfg.Results); err != nil {
			return nil, fmt.Errorf("results: %w", err)
		}
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
	// Failures after ctx ended are likely caused by it: report the
	// cancellation with the results, so the engine settles what was
	// delivered and leaves the rest to be sent again.
	if err := ctx.Err(); err != nil && !allOK(results) {
		return results, err
	}
	return results, nil
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

func (d *Destination) sendOne(ctx context.Context, del connector.Delivery) connector.Result {
	env := mergeEnv(del.Record, del.Vars)
	body, err := jsonx.Marshal(del.Record)
	if err != nil {
		return connector.Result{Error: fmt.Sprintf("encode record as JSON: %v", err)}
	}
	request := excerpt(body, ExcerptSize)
	if d.method == http.MethodDelete {
		// DELETE names its target in the path; a body there is refused by
		// many servers and proxies.
		body = nil
	}
	path, err := d.path.RenderEscaped(env, url.PathEscape)
	if err != nil {
		return connector.Result{Error: "path: " + err.Error(), Request: request}
	}
	headers, err := renderTemplates("headers", d.headers, env)
	if err != nil {
		return connector.Result{Error: err.Error(), Request: request}
	}
	res, fail := call(ctx, d.sys, d.method, path, headers, body, del.IdempotencyKey, d.maxBody())
	if fail != nil {
		fail.Request = request
		return *fail
	}
	if d.results == nil {
		return connector.Result{OK: true, StatusCode: res.status, Request: request,
			Response: excerpt(res.body, ExcerptSize), Duration: res.duration}
	}
	// A per-record API may still answer 2xx with {"status": "error"}: the
	// results settings read it as a batch of one.
	r := d.results.read(res, []connector.Delivery{del}, true)[0]
	r.Request = request
	return r
}

func (d *Destination) sendArray(ctx context.Context, batch []connector.Delivery) []connector.Result {
	records := make([]any, len(batch))
	keys := make([]string, len(batch))
	for i, del := range batch {
		records[i] = del.Record
		keys[i] = del.IdempotencyKey
	}
	// Request excerpts are made for failed records only: a delivered
	// record's request is not kept in its history, and encoding every
	// record twice would cost a large sync dearly.
	withRequests := func(out []connector.Result) []connector.Result {
		for i := range out {
			if !out[i].OK {
				out[i].Request = jsonExcerpt(batch[i].Record)
			}
		}
		return out
	}
	failAll := func(r connector.Result) []connector.Result {
		out := make([]connector.Result, len(batch))
		for i := range out {
			out[i] = r
		}
		return withRequests(out)
	}
	var payload any = records
	if d.wrap != "" {
		payload = map[string]any{d.wrap: records}
	}
	// Sized for typical records, so the buffer rarely grows.
	body, err := jsonx.Append(make([]byte, 0, 256*len(records)), payload)
	if err != nil {
		return failAll(connector.Result{Error: fmt.Sprintf("encode batch as JSON: %v", err)})
	}
	env := map[string]any{"batch_size": len(batch)}
	path, err := d.path.RenderEscaped(env, url.PathEscape)
	if err != nil {
		return failAll(connector.Result{Error: "path: " + err.Error()})
	}
	headers, err := renderTemplates("headers", d.headers, env)
	if err != nil {
		return failAll(connector.Result{Error: err.Error()})
	}
	res, fail := call(ctx, d.sys, d.method, path, headers, body, batchIdempotencyKey(keys), d.maxBody())
	if fail != nil {
		return failAll(*fail)
	}
	var out []connector.Result
	if d.results == nil {
		out = failAll(connector.Result{OK: true, StatusCode: res.status,
			Response: excerpt(res.body, ExcerptSize), Duration: res.duration})
	} else {
		out = d.results.read(res, batch, false)
	}
	return withRequests(out)
}

func (d *Destination) maxBody() int64 {
	if d.MaxBody > 0 {
		return d.MaxBody
	}
	return DefaultMaxBody
}

// batchIdempotencyKey is a stable hash of the batch's idempotency keys,
// in order: a retried batch of the same entry versions carries the same
// key, a batch with any other entry or version carries another.
func batchIdempotencyKey(keys []string) string {
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// call makes one delivery request. It returns the 2xx response, or the
// failure classified: non-2xx by status, no response as retryable.
func call(ctx context.Context, sys *system, method, path string, headers map[string]string, body []byte, idemKey string, maxBody int64) (*response, *connector.Result) {
	all := make(map[string]string, len(headers)+2)
	if body != nil {
		all["Content-Type"] = "application/json"
	}
	all["Accept"] = "application/json"
	for k, v := range headers {
		all[http.CanonicalHeaderKey(k)] = v
	}
	if idemKey != "" {
		all["Idempotency-Key"] = idemKey
	}
	target := sys.url(path)
	start := time.Now()
	res, err := sys.do(ctx, method, target, all, body, maxBody)
	if err != nil {
		return nil, &connector.Result{Retryable: true, Duration: time.Since(start),
			Error: fmt.Sprintf("%s %s: %v", method, sys.redact(target), err)}
	}
	if !okStatus(res.status) {
		return nil, &connector.Result{
			Retryable:  retryableStatus(res.status),
			StatusCode: res.status,
			Error:      statusError(res),
			Response:   excerpt(res.body, ExcerptSize),
			RetryAfter: retryAfter(res.header, time.Now()),
			Duration:   res.duration,
		}
	}
	return res, nil
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
