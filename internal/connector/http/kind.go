package httpconn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// Kind is the HTTP connector module: systems (the shorthand kind: a
// system's options may stand right under its name), a paginated GET
// source, a destination and follow-up operations.
func Kind() connector.Kind {
	return connector.Kind{
		Name:    "http",
		Summary: "REST and JSON APIs: paginated GET source, POST/PUT/PATCH/DELETE per record or per batch, follow-up calls",
		Doc:     kindDoc,
		System: &connector.SystemPart{
			Spec: connector.Spec{
				Config:   func() any { return &SystemConfig{} },
				Defaults: func(cfg any) { systemDefaults(cfg.(*SystemConfig)) },
				Validate: func(c connector.Checker, cfg any) { validateSystem(c, cfg.(*SystemConfig)) },
				Caps:     []connector.Capability{connector.CapHealth},
			},
			Shorthand: true,
			Build: func(_ context.Context, env connector.Env, name string, cfg any) (connector.System, error) {
				log := env.Logger
				if log == nil {
					log = slog.New(slog.DiscardHandler)
				}
				return newSystem(name, cfg.(*SystemConfig), log, env.Secrets)
			},
		},
		Source: &connector.SourcePart{
			Spec: connector.Spec{
				Config:   func() any { return &SourceConfig{} },
				Validate: func(c connector.Checker, cfg any) { validateSource(c, cfg.(*SourceConfig)) },
				Caps:     []connector.Capability{connector.CapCursor},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Source, error) {
				sc := cfg.(*SourceConfig)
				systems, err := systemsOf(env, sc.System)
				if err != nil {
					return nil, err
				}
				return NewSource(systems, sc)
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{
				Config:   func() any { return &DestinationConfig{} },
				Defaults: func(cfg any) { destinationDefaults(cfg.(*DestinationConfig)) },
				Validate: func(c connector.Checker, cfg any) { validateDestination(c, cfg.(*DestinationConfig)) },
				Caps:     []connector.Capability{connector.CapBatch, connector.CapPreview},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Destination, error) {
				dc := cfg.(*DestinationConfig)
				systems, err := systemsOf(env, dc.System)
				if err != nil {
					return nil, err
				}
				return NewDestination(systems, dc)
			},
		},
		Operation: &connector.OperationPart{
			Spec: connector.Spec{
				Config:   func() any { return &OperationConfig{} },
				Defaults: func(cfg any) { oc := cfg.(*OperationConfig); oc.Method = defaultMethod(oc.Method) },
				Validate: func(c connector.Checker, cfg any) { validateOperation(c, cfg.(*OperationConfig)) },
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Operation, error) {
				oc := cfg.(*OperationConfig)
				systems, err := systemsOf(env, oc.System)
				if err != nil {
					return nil, err
				}
				return NewOperation(systems, oc)
			},
		},
	}
}

const kindDoc = `The HTTP connector talks to REST and JSON APIs. A **system** holds the
base URL, authentication, static headers, a shared rate limit and the
request timeout; routes name it. The **source** reads records with GET
requests, page by page (page numbers, offsets, a next link or token, or
the Link header), incrementally with a cursor. The **destination** sends
one request per record (` + "`body: each`" + `) or one per batch (` + "`body: array`" + `)
and settles each record from the answer (status, per-record results,
answer rules). **Operations** are follow-up calls per record (` + "`after:`" + `,
` + "`on_error:`" + `).

` + "```yaml" + `
systems:
  shop:
    url: https://shop.example.com/api
    auth: {bearer: "${env:SHOP_TOKEN}"}
    rate: 10/s
routes:
  orders:
    source:
      http: {system: shop, path: /orders, key: id, cursor: updated_at,
             query: {updated_since: "${cursor}"}, paginate: {page: {size: 100}}}
    destinations:
      default:
        http: {system: erp, path: /orders/${key}, method: PUT}
` + "```" + `

A system written without a kind key (as above) is an HTTP system;
` + "`shop: {http: {url: ...}}`" + ` says the same. See docs/http.md for how
answers are classified, retries, redirects and secrets.`

// DefaultMethod is the method of destinations and operations that set none.
const DefaultMethod = "POST"

// DefaultBody is one request per record.
const DefaultBody = "each"

func defaultMethod(m string) string {
	if m == "" {
		return DefaultMethod
	}
	return m
}

func systemDefaults(s *SystemConfig) {
	if s.Timeout == 0 {
		s.Timeout = config.Duration(DefaultTimeout)
	}
}

func destinationDefaults(d *DestinationConfig) {
	d.Method = defaultMethod(d.Method)
	if d.Body == "" {
		d.Body = DefaultBody
	}
}

// systemsOf looks up the route's system and checks it is an HTTP one.
func systemsOf(env connector.Env, name string) (*Systems, error) {
	sys, err := connector.SystemAs[*system](env, name, "an HTTP")
	if err != nil {
		return nil, err
	}
	return &Systems{byName: map[string]*system{name: sys}}, nil
}

// Check tells whether the system answers at all: any HTTP answer to a
// HEAD of its base URL counts (an API may answer 404 or 401 there).
func (s *system) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout, 10*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.base, nil)
	if err != nil {
		return fmt.Errorf("system %q: %s", s.name, s.secrets.String(err.Error()))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("system %q: %s", s.name, s.secrets.String(err.Error()))
	}
	resp.Body.Close()
	return nil
}

// Close releases the system's idle connections.
func (s *system) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Incremental reports whether the source keeps a cursor.
func (s *Source) Incremental() bool { return s.cursor != "" }

// OneRequestPerBatch reports whether a batch goes as one request.
func (d *Destination) OneRequestPerBatch() bool { return d.array }

// RecordMap is the destination's map: (field -> expression), applied by
// the engine before sending.
func (d *DestinationConfig) RecordMap() map[string]any { return d.Map }

// Fingerprint sums up what is sent for a record: system, method, path,
// body mode, wrap and map. Headers and answer rules are left out (they do
// not change the content, and headers may hold secrets). The bytes are
// those of ferry before connector modules, so an upgrade does not make
// every record count as changed.
func (d *DestinationConfig) Fingerprint() []byte {
	b, err := json.Marshal(struct {
		System, Method, Path, Body, Wrap string
		Map                              map[string]any
	}{d.System, d.Method, d.Path, d.Body, d.Wrap, d.Map})
	if err != nil {
		return nil
	}
	return b
}

func validateSystem(c connector.Checker, s *SystemConfig) {
	if s.URL == "" {
		config.CheckRequired(c, "", "url")
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		got := fmt.Sprintf(", got %q", s.URL)
		if c.Secret("url") {
			got = "" // it came from a secret
		}
		c.Errorf("url", "expected an absolute http:// or https:// URL%s", got)
	}
	config.CheckFinite(c, "timeout", s.Timeout)
	if s.Rate != "" {
		if _, err := config.ParseRate(s.Rate); err != nil {
			c.Errorf("rate", "%s", err.Error())
		}
	}
	if a := s.Auth; a != nil {
		if config.CheckExactlyOne(c, "auth", []string{"bearer", "basic", "api_key"}, []bool{a.Bearer != "", a.Basic != nil, a.APIKey != nil}) {
			if a.Basic != nil && a.Basic.User == "" {
				config.CheckRequired(c, "auth.basic", "user")
			}
			if k := a.APIKey; k != nil {
				config.CheckExactlyOne(c, "auth.api_key", []string{"header", "query"}, []bool{k.Header != "", k.Query != ""})
				if k.Value == "" {
					config.CheckRequired(c, "auth.api_key", "value")
				}
			}
		}
	}
}

func validateSource(c connector.Checker, h *SourceConfig) {
	c.System("system", h.System, "http")
	if h.Key == "" {
		config.CheckRequired(c, "", "key")
	}
	if h.Cursor != "" && !usesCursor(h) {
		c.Errorf("cursor", "cursor: is set but ${cursor} is not used in path, query or headers, so every run would read the whole source again; send it, e.g. query: { updated_since: \"${cursor}\" }, or remove cursor:")
	}
	if p := h.Paginate; p != nil {
		config.CheckExactlyOne(c, "paginate", []string{"page", "offset", "next", "link"}, []bool{p.Page != nil, p.Offset != nil, p.Next != "", p.Link})
		if p.NextParam != "" && p.Next == "" {
			c.Errorf("paginate.next_param", "next_param needs next: (the path of the token in the response body)")
		}
		if p.Page != nil && p.Page.Size < 0 {
			c.Errorf("paginate.page.size", "must not be negative, got %d", p.Page.Size)
		}
		if p.Offset != nil && p.Offset.Limit < 0 {
			c.Errorf("paginate.offset.limit", "must not be negative, got %d", p.Offset.Limit)
		}
	}
}

// usesCursor reports whether the source sends ${cursor} anywhere: in its
// path, a query parameter or a header. Templates that do not compile are
// reported elsewhere and count as using it, so one mistake is one error.
func usesCursor(h *SourceConfig) bool {
	srcs := []string{h.Path}
	for _, q := range h.Query {
		srcs = append(srcs, q)
	}
	for _, hd := range h.Headers {
		srcs = append(srcs, hd)
	}
	for _, src := range srcs {
		t, err := expr.CompileTemplate(src)
		if err != nil {
			return true
		}
		for _, name := range t.Names() {
			if name == "cursor" {
				return true
			}
		}
	}
	return false
}

var methods = []string{"POST", "PUT", "PATCH", "DELETE"}

func validMethod(c connector.Checker, field, m string) {
	for _, ok := range methods {
		if m == ok {
			return
		}
	}
	c.Errorf(field, "expected one of %s, got %q", strings.Join(methods, ", "), m)
}

func validateDestination(c connector.Checker, h *DestinationConfig) {
	c.System("system", h.System, "http")
	validMethod(c, "method", h.Method)
	if h.Body != "each" && h.Body != "array" {
		c.Errorf("body", "expected each (one request per record) or array (one per batch), got %q", h.Body)
	}
	if h.Wrap != "" && h.Body != "array" {
		c.Errorf("wrap", "wrap only applies to body: array")
	}
	if h.Body == "array" {
		batchTemplate(c, "path", h.Path)
		names := make([]string, 0, len(h.Headers))
		for name := range h.Headers {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			batchTemplate(c, "headers."+name, h.Headers[name])
		}
	}
	config.CheckAnswers(c, "answers", h.Answers, h.Results != nil)
}

// batchTemplate checks a template of a body: array destination: it is
// rendered once per batch, so no record's fields or key are in scope and
// they would silently render empty.
func batchTemplate(c connector.Checker, field, src string) {
	t, err := expr.CompileTemplate(src)
	if err != nil {
		return // reported where every template is compiled
	}
	for _, name := range t.Names() {
		if name != "batch_size" {
			c.Errorf(field, "with body: array this is rendered once per batch, so ${%s} is not available (only ${batch_size}); use body: each for per-record paths", name)
			return
		}
	}
}

func validateOperation(c connector.Checker, op *OperationConfig) {
	c.System("system", op.System, "http")
	validMethod(c, "method", op.Method)
	config.CheckAnswers(c, "answers", op.Answers, false)
}
