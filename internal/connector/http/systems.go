// Package httpconn is ferry's HTTP connector: a paginated GET source, a
// destination that sends one request per record or one per batch, and
// follow-up operations. Requests to one system share its client, auth,
// static headers and rate limit, whichever route makes them.
package httpconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"
)

// UserAgent is sent with every request.
const UserAgent = "ferry"

// DefaultTimeout bounds one request (headers and body) when the system
// sets no timeout.
const DefaultTimeout = 30 * time.Second

// Systems holds one prepared client per configured system.
type Systems struct {
	byName map[string]*system
}

// Option adjusts NewSystems.
type Option func(*options)

type options struct {
	log     *slog.Logger
	secrets []string
}

// WithLogger logs every request at debug level (method, URL with secrets
// redacted, status, duration, records) to l.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithSecrets adds values every system redacts besides its own
// credentials: those the config took from ${env:} and ${file:}, wherever
// a route uses them (a destination header, a body template), so an
// answer that echoes them never shows them.
func WithSecrets(values ...string) Option {
	return func(o *options) { o.secrets = append(o.secrets, values...) }
}

// system is one outside HTTP system: where it is, how to authenticate,
// and how fast it may be called.
type system struct {
	name    string
	base    string // URL without a trailing slash
	client  *http.Client
	timeout time.Duration
	// limiter is shared by every route using the system; nil = no limit.
	limiter *rate.Limiter
	headers map[string]string
	auth    authSettings
	// origin is the scheme, host and port of base: the only origin that
	// receives the system's credentials and static headers.
	origin string
	// secrets removes the system's secret values from every string that
	// leaves the connector.
	secrets *redact.Redactor
	log     *slog.Logger
}

// NewSystems prepares a client per system. The rate limit has a burst of
// 1: requests are spaced evenly at the configured rate rather than sent in
// bursts, which is what APIs with per-second quotas expect.
func NewSystems(systems map[string]*SystemConfig, opts ...Option) (*Systems, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	s := &Systems{byName: make(map[string]*system, len(systems))}
	names := make([]string, 0, len(systems))
	for name := range systems {
		names = append(names, name)
	}
	sort.Strings(names) // the first error reported is deterministic
	for _, name := range names {
		sys, err := newSystem(name, systems[name], o.log, o.secrets)
		if err != nil {
			return nil, fmt.Errorf("system %q: %w", name, err)
		}
		s.byName[name] = sys
	}
	return s, nil
}

// Close releases idle connections of every system.
func (s *Systems) Close() {
	for _, sys := range s.byName {
		sys.client.CloseIdleConnections()
	}
}

func (s *Systems) get(name string) (*system, error) {
	if s == nil {
		return nil, fmt.Errorf("system %q: no systems are configured", name)
	}
	sys, ok := s.byName[name]
	if !ok {
		known := make([]string, 0, len(s.byName))
		for n := range s.byName {
			known = append(known, n)
		}
		sort.Strings(known)
		if len(known) == 0 {
			return nil, fmt.Errorf("system: unknown system %q (no systems are configured)", name)
		}
		return nil, fmt.Errorf("system: unknown system %q (expected one of: %s)", name, strings.Join(known, ", "))
	}
	return sys, nil
}

func newSystem(name string, cfg *SystemConfig, log *slog.Logger, shared []string) (*system, error) {
	if cfg == nil {
		return nil, fmt.Errorf("no settings (expected at least url)")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url: %q is not an absolute http(s) URL (expected e.g. https://shop.example.com/api)", cfg.URL)
	}
	if err := checkAuth(cfg.Auth); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	limiter, err := parseRate(cfg.Rate)
	if err != nil {
		return nil, fmt.Errorf("rate: %w", err)
	}
	timeout := cfg.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 2 * eachConcurrency
	sys := &system{
		name:    name,
		base:    strings.TrimRight(cfg.URL, "/"),
		timeout: timeout,
		limiter: limiter,
		headers: cfg.Headers,
		auth:    flattenAuth(cfg.Auth),
		origin:  origin(u),
		log:     log.With("system", name),
	}
	sys.secrets = redact.New(append(systemSecrets(u, sys.auth, cfg.Headers), shared...)...)
	sys.client = &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: sys.checkRedirect}
	return sys, nil
}

// checkRedirect follows redirects only for reads: a POST turned into a
// GET by a 302 would report success without delivering anything. It
// stops at the first URL seen twice, and lets credentials follow only to
// the system's own origin.
func (s *system) checkRedirect(req *http.Request, via []*http.Request) error {
	if via[0].Method != http.MethodGet && via[0].Method != http.MethodHead {
		return http.ErrUseLastResponse
	}
	// Go copies the first request's headers to every hop (and keeps
	// custom ones across hosts): decide here, exactly, per hop.
	if !s.ownOrigin(req.URL) {
		s.stripCredentials(req)
	} else {
		for k, v := range s.headers {
			if req.Header.Get(k) == "" {
				req.Header.Set(k, v)
			}
		}
		s.applyAuth(req)
	}
	// Compared as sent (with the API key parameter), like via.
	next := req.URL.String()
	for _, prev := range via {
		if prev.URL.String() == next {
			return &redirectError{fmt.Sprintf("redirect loop: %s redirects back to %s, which was already requested", s.redact(via[len(via)-1].URL.String()), s.redact(next))}
		}
	}
	if len(via) >= 10 {
		return &redirectError{"stopped after 10 redirects"}
	}
	return nil
}

// redirectError is a redirect chain that cannot end (a loop, too many
// hops): asking again meets the same chain, so it is not retried.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

func flattenAuth(a *Auth) authSettings {
	switch {
	case a == nil:
		return authSettings{}
	case a.Bearer != "":
		return authSettings{bearer: a.Bearer}
	case a.Basic != nil:
		return authSettings{basic: true, basicUser: a.Basic.User, basicPassword: a.Basic.Password}
	case a.APIKey != nil:
		return authSettings{keyHeader: a.APIKey.Header, keyQuery: a.APIKey.Query, keyValue: a.APIKey.Value}
	}
	return authSettings{}
}

// checkAuth requires exactly one method, complete.
func checkAuth(a *Auth) error {
	if a == nil {
		return nil
	}
	n := 0
	if a.Bearer != "" {
		n++
	}
	if a.Basic != nil {
		n++
		if a.Basic.User == "" {
			return fmt.Errorf("basic: user is empty (expected a user name)")
		}
	}
	if a.APIKey != nil {
		n++
		k := a.APIKey
		if (k.Header == "") == (k.Query == "") {
			return fmt.Errorf("api_key: expected exactly one of header or query")
		}
		if k.Value == "" {
			return fmt.Errorf("api_key: value is empty")
		}
	}
	if n != 1 {
		return fmt.Errorf("expected exactly one of bearer, basic or api_key, found %d", n)
	}
	return nil
}

// parseRate reads "10/s", "600/m", "5000/h", "2.5/s". "" means no limit.
func parseRate(s string) (*rate.Limiter, error) {
	if s == "" {
		return nil, nil
	}
	// One parser for load-time validation and run time: config.ParseRate.
	perSecond, err := config.ParseRate(s)
	if err != nil {
		return nil, err
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1), nil
}

// setHeaders applies, in order, the User-Agent, the system's static
// headers, the request's own headers and finally the system's auth, so a
// route cannot accidentally send a system's request with other
// credentials. A request to another origin (a next-page URL elsewhere)
// gets neither the static headers nor the auth, and none of its own
// headers named like credentials or holding a secret value.
func (s *system) setHeaders(req *http.Request, own map[string]string) {
	req.Header.Set("User-Agent", UserAgent)
	mine := s.ownOrigin(req.URL)
	if mine {
		for k, v := range s.headers {
			req.Header.Set(k, v)
		}
	}
	for k, v := range own {
		if mine || !s.credentialHeader(k, v) {
			req.Header.Set(k, v)
		}
	}
	if mine {
		s.applyAuth(req)
	} else {
		s.stripKeyParam(req)
	}
}

// redact shows a URL without its secrets: the API key query value, any
// password in the user info, and any secret value of the system
// wherever it appears.
func (s *system) redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return s.secrets.String(raw)
	}
	if p := s.auth.keyQuery; p != "" {
		q := u.Query()
		if q.Has(p) {
			q.Set(p, Redacted)
			u.RawQuery = q.Encode()
		}
	}
	return s.secrets.String(u.Redacted())
}

// url joins the system URL and a path (which may carry its own query).
func (s *system) url(path string) string {
	if path == "" {
		return s.base
	}
	if strings.HasPrefix(path, "?") {
		return s.base + path
	}
	return s.base + "/" + strings.TrimLeft(path, "/")
}

// response is a response read in full (up to a size limit).
type response struct {
	status   int
	header   http.Header
	body     []byte
	tooLarge bool // the body was longer than the limit; body holds the first part
	duration time.Duration
}

// requestError is a failure to get a response: a network error, a timeout
// or a broken body. It is always worth retrying.
type requestError struct {
	msg string
	// notSent: the request surely never reached the server (refused
	// connection, unknown host, rate limit wait), so it was not applied.
	notSent bool
	// final: asking again cannot help (a redirect loop).
	final bool
}

// final tells whether err is a failure to get a response that the same
// request would meet again: not worth retrying.
func final(err error) bool {
	var re *requestError
	return errors.As(err, &re) && re.final
}

// notSent tells whether err says the request never left.
func notSent(err error) bool {
	var re *requestError
	return errors.As(err, &re) && re.notSent
}

func (e *requestError) Error() string { return e.msg }

// do sends one request after waiting for the system's rate limit. It
// returns ctx's error when ctx ended, a *requestError when no complete
// response arrived, and the response otherwise (whatever its status).
func (s *system) do(ctx context.Context, method, rawURL string, headers map[string]string, body []byte, maxBody int64) (*response, error) {
	if s.limiter != nil {
		if err := s.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// The wait would outlast ctx's deadline.
			return nil, &requestError{notSent: true, msg: fmt.Sprintf("rate limit of system %q: %v", s.name, err)}
		}
	}
	req, err := s.newRequest(ctx, method, rawURL, headers, body)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxBody)
	if err != nil {
		return nil, s.transportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data, duration: time.Since(start)}
	if int64(len(data)) > maxBody {
		r.tooLarge = true
		r.body = data[:maxBody]
	}
	return r, nil
}

// newRequest builds a request with its headers and credentials, as it
// is sent.
func (s *system) newRequest(ctx context.Context, method, rawURL string, headers map[string]string, body []byte) (*http.Request, error) {
	var reader io.Reader // a nil *bytes.Reader would not be a nil io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, reader)
	if err != nil {
		return nil, &requestError{notSent: true, msg: fmt.Sprintf("build request: %v", unwrapURLError(err))}
	}
	s.setHeaders(req, headers)
	return req, nil
}

// requestURL is the URL a request to rawURL goes to, credentials in the
// query included (redact it before showing it).
func (s *system) requestURL(ctx context.Context, method, rawURL string, headers map[string]string) (string, error) {
	req, err := s.newRequest(ctx, method, rawURL, headers, nil)
	if err != nil {
		return "", err
	}
	return req.URL.String(), nil
}

// redactError returns err with the system's secrets removed from its
// message; errors.Is and errors.As still see the cause.
func (s *system) redactError(err error) error { return s.secrets.Error(err) }

// redactResult removes the system's secrets from every text of a result.
func (s *system) redactResult(r *connector.Result) {
	r.Error = s.secrets.String(r.Error)
	r.Request = s.secrets.String(r.Request)
	r.Response = s.secrets.String(r.Response)
}

// logRequest logs one request at debug level: method, URL (redacted),
// status (0: no answer), duration, records carried or returned (-1:
// unknown) and the error, if any.
func (s *system) logRequest(ctx context.Context, method, rawURL string, status int, d time.Duration, records int, err error) {
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if sent, err := s.requestURL(ctx, method, rawURL, nil); err == nil {
		rawURL = sent // as sent: with the API key parameter (redacted below)
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("method", method), slog.String("url", s.redact(rawURL)))
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	attrs = append(attrs, slog.Duration("duration", d))
	if records >= 0 {
		attrs = append(attrs, slog.Int("records", records))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", s.secrets.String(err.Error())))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "http request", attrs...)
}

// transportError turns a client error into a message without the request
// URL (callers name the URL themselves, redacted).
func (s *system) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var loop *redirectError
	if errors.As(err, &loop) {
		return &requestError{final: true, msg: loop.msg}
	}
	// Only a failed dial or name lookup proves nothing was sent.
	var op *net.OpError
	var dns *net.DNSError
	unsent := errors.As(err, &op) && op.Op == "dial" || errors.As(err, &dns)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &requestError{notSent: unsent, msg: fmt.Sprintf("no complete response within %s (the timeout of system %q)", s.timeout, s.name)}
	}
	return &requestError{notSent: unsent, msg: unwrapURLError(err).Error()}
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// full URL, API key included.
func unwrapURLError(err error) error {
	for {
		ue, ok := err.(*url.Error)
		if !ok {
			return err
		}
		err = ue.Err
	}
}

// readBody reads at most maxBody+1 bytes (one more tells that the body is
// too large), into a buffer sized from Content-Length when the server
// sends one, instead of growing one step at a time.
func readBody(resp *http.Response, maxBody int64) ([]byte, error) {
	size := int64(32 << 10)
	if resp.ContentLength > 0 {
		size = min(resp.ContentLength+1, maxBody+1)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1))
	return buf.Bytes(), err
}
