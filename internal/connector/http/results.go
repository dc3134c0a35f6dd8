package httpconn

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// resultReader reads per-record outcomes out of a 2xx response, so that
// a batch answer saying 3 of 200 failed settles 197 as done and 3 as
// failed.
type resultReader struct {
	system string // for messages
	path   string
	key    string
	ok     *expr.Program // nil: every result item is a success
	error  *expr.Program // nil: the item's JSON is the message
}

func newResultReader(system string, cfg *Results) (*resultReader, error) {
	r := &resultReader{system: system, path: cfg.Path, key: cfg.Key}
	var err error
	if cfg.OK != "" {
		if r.ok, err = expr.Compile(cfg.OK); err != nil {
			return nil, fmt.Errorf("ok: %w", err)
		}
	}
	if cfg.Error != "" {
		if r.error, err = expr.Compile(cfg.Error); err != nil {
			return nil, fmt.Errorf("error: %w", err)
		}
	}
	return r, nil
}

// read returns one result per delivery and each delivery's result item
// (nil with found false when it has none). Items are matched to records
// by the key field when set, else by position. A record without a
// matching item fails retryably, as unknown: the destination may have
// processed it without saying so.
//
// Matching by position needs exactly one item per record: an answer
// with more or fewer settles nothing by position (which item belongs to
// which record cannot be known), and the whole request fails retryably.
//
// With single (body: each, one record per request) the value at path may
// also be the record's result object itself.
func (r *resultReader) read(res *response, batch []connector.Delivery, single bool) (out []connector.Result, items []any, found []bool) {
	out = make([]connector.Result, len(batch))
	items = make([]any, len(batch))
	found = make([]bool, len(batch))
	failAll := func(msg string) ([]connector.Result, []any, []bool) {
		for i := range out {
			out[i] = connector.Result{Retryable: true, Unknown: true, StatusCode: res.status, Duration: res.duration,
				Error: msg, Response: excerpt(res.body, ExcerptSize)}
		}
		return out, items, found
	}
	if res.tooLarge {
		return failAll(fmt.Sprintf("read per-record results: response body is larger than the limit of %s", byteSize(int64(len(res.body)))))
	}
	body, err := decodeJSON(res.body)
	if err != nil {
		return failAll("read per-record results: " + err.Error())
	}
	var answered []any
	if v, ok, _ := lookup(body, r.path); single && ok && isObject(v) {
		answered = []any{v}
	} else if answered, err = arrayAt(body, r.path); err != nil {
		return failAll("read per-record results: " + err.Error())
	}
	if r.key == "" && len(answered) != len(batch) {
		return failAll(fmt.Sprintf("system %q answered %d results for %d records; results are matched by position, so none is settled (set results.key to match them by key)",
			r.system, len(answered), len(batch)))
	}

	var byKey map[string][]any
	if r.key != "" {
		byKey = make(map[string][]any, len(answered))
		for _, item := range answered {
			if v, ok, _ := lookup(item, r.key); ok && v != nil {
				k := expr.Stringify(v)
				byKey[k] = append(byKey[k], item)
			}
		}
	}
	for i, del := range batch {
		base := connector.Result{StatusCode: res.status, Duration: res.duration}
		var item any
		if r.key != "" {
			matches := byKey[del.Key]
			if len(matches) == 0 {
				base.Retryable, base.Unknown = true, true
				base.Error = fmt.Sprintf("no result for key %s in the batch response", del.Key)
				base.Response = excerpt(res.body, ExcerptSize)
				out[i] = base
				continue
			}
			// Two records of one key take the key's items in order.
			item, byKey[del.Key] = matches[0], matches[1:]
		} else {
			item = answered[i]
		}
		items[i], found[i] = item, true
		out[i] = r.judge(base, item)
	}
	return out, items, found
}

// judge applies ok and error to one result item. Its env is the item's
// fields, or {"value": item} when the item is not an object. A failed
// item is retryable: the response cannot tell a lasting rejection from a
// passing one, and the route's retry limit bounds the cost.
func (r *resultReader) judge(res connector.Result, item any) connector.Result {
	res.Response = jsonExcerpt(item)
	env, ok := item.(map[string]any)
	if !ok {
		env = map[string]any{"value": item}
	}
	if r.ok != nil {
		good, err := r.ok.Bool(env)
		if err != nil {
			res.Error = "results.ok: " + err.Error()
			return res
		}
		if !good {
			res.Retryable = true
			res.Error = r.message(env, item)
			return res
		}
	}
	res.OK = true
	return res
}

func (r *resultReader) message(env map[string]any, item any) string {
	if r.error != nil {
		v, err := r.error.Eval(env)
		if err != nil {
			return fmt.Sprintf("results.error: %v; result: %s", err, jsonExcerpt(item))
		}
		if s := expr.Stringify(v); s != "" {
			return s
		}
	}
	return jsonExcerpt(item)
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}
