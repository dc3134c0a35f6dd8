package httpconn

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// Operation is one follow-up HTTP call per record (after: / on_error:);
// it implements connector.Operation. Path, headers and every string in
// the body are templates over the record's fields, the delivery's vars
// and the call's vars (error, for on_error), later ones on top.
type Operation struct {
	sys     *system
	method  string
	path    *expr.Template
	headers map[string]*expr.Template
	body    bodyNode // nil: no body
	answers answerRules

	// MaxBody is the largest response body read, in bytes.
	MaxBody int64
}

var _ connector.Operation = (*Operation)(nil)

// NewOperation prepares an operation; templates are compiled here, once.
func NewOperation(s *Systems, cfg *OperationConfig) (*Operation, error) {
	if cfg == nil {
		return nil, fmt.Errorf("http operation: no settings")
	}
	sys, err := s.get(cfg.System)
	if err != nil {
		return nil, err
	}
	method, err := checkMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	op := &Operation{sys: sys, method: method, MaxBody: DefaultMaxBody}
	if op.path, err = expr.CompileTemplate(cfg.Path); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if op.headers, err = compileTemplates("headers", cfg.Headers); err != nil {
		return nil, err
	}
	if cfg.Body != nil {
		if op.body, err = compileBody("body", cfg.Body); err != nil {
			return nil, err
		}
	}
	if op.answers, err = compileAnswers(cfg.Answers); err != nil {
		return nil, err
	}
	return op, nil
}

// Do makes the call for one record, with d.IdempotencyKey as its
// Idempotency-Key header (the engine gives each operation its own key).
func (o *Operation) Do(ctx context.Context, d connector.Delivery, vars map[string]any) connector.Result {
	r := o.do(ctx, d, vars)
	o.sys.redactResult(&r)
	return r
}

func (o *Operation) do(ctx context.Context, d connector.Delivery, vars map[string]any) connector.Result {
	env := deliveryEnv(d, vars)
	path, err := o.path.RenderEscaped(env, url.PathEscape)
	if err != nil {
		return connector.Result{Error: "path: " + err.Error()}
	}
	headers, err := renderTemplates("headers", o.headers, env)
	if err != nil {
		return connector.Result{Error: err.Error()}
	}
	var body []byte
	var request string
	if o.body != nil {
		v, err := o.body.value(env)
		if err != nil {
			return connector.Result{Error: err.Error()}
		}
		if body, err = json.Marshal(v); err != nil {
			return connector.Result{Error: fmt.Sprintf("body: encode as JSON: %v", err)}
		}
		request = excerpt(body, ExcerptSize)
	}
	// The engine derives each operation's own key (stable across retries,
	// distinct from the delivery's and from other operations'); it is sent
	// as given so the header matches the key in the history.
	res, fail := exchange(ctx, o.sys, o.method, path, headers, body, d.IdempotencyKey, o.maxBody(), 1)
	var r connector.Result
	if fail != nil {
		r = *fail
	} else {
		r = settle(res, []connector.Delivery{d}, true, nil, o.answers)[0]
	}
	r.Request = request
	return r
}

func (o *Operation) maxBody() int64 {
	if o.MaxBody > 0 {
		return o.MaxBody
	}
	return DefaultMaxBody
}

// bodyNode is a compiled body value: strings are templates, maps and
// lists hold compiled children, anything else is kept as is.
type bodyNode interface {
	value(env map[string]any) (any, error)
}

type constNode struct{ v any }

func (n constNode) value(map[string]any) (any, error) { return n.v, nil }

type templateNode struct {
	field string
	t     *expr.Template
}

// value keeps the expression's type when the string is exactly one
// ${...}, so "${total}" stays a number.
func (n templateNode) value(env map[string]any) (any, error) {
	v, err := n.t.Value(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.field, err)
	}
	return v, nil
}

type mapNode struct {
	keys  []string
	nodes []bodyNode
}

func (n mapNode) value(env map[string]any) (any, error) {
	out := make(map[string]any, len(n.keys))
	for i, k := range n.keys {
		v, err := n.nodes[i].value(env)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

type listNode []bodyNode

func (n listNode) value(env map[string]any) (any, error) {
	out := make([]any, len(n))
	for i, c := range n {
		v, err := c.value(env)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// compileBody compiles a YAML value; field names its place for errors
// ("body.title").
func compileBody(field string, v any) (bodyNode, error) {
	switch x := v.(type) {
	case string:
		t, err := expr.CompileTemplate(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if t.IsConst() {
			lit, err := t.Render(nil) // "$${" unescaped
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			return constNode{lit}, nil
		}
		return templateNode{field: field, t: t}, nil
	case map[string]any:
		n := mapNode{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			c, err := compileBody(field+"."+k, x[k])
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.nodes = append(n.nodes, c)
		}
		return n, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[fmt.Sprint(k)] = c
		}
		return compileBody(field, m)
	case []any:
		n := make(listNode, len(x))
		for i, c := range x {
			var err error
			if n[i], err = compileBody(field+"["+strconv.Itoa(i)+"]", c); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
	return constNode{v}, nil
}
