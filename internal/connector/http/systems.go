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
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferry-dev/ferry/internal/config"
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
	auth    *config.Auth
}

// NewSystems prepares a client per system. The rate limit has a burst of
// 1: requests are spaced evenly at the configured rate rather than sent in
// bursts, which is what APIs with per-second quotas expect.
func NewSystems(systems map[string]*config.System) (*Systems, error) {
	s := &Systems{byName: make(map[string]*system, len(systems))}
	names := make([]string, 0, len(systems))
	for name := range systems {
		names = append(names, name)
	}
	sort.Strings(names) // the first error reported is deterministic
	for _, name := range names {
		sys, err := newSystem(name, systems[name])
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

func newSystem(name string, cfg *config.System) (*system, error) {
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
	client := &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// Follow redirects only for reads: a POST turned into a GET by a
		// 302 would report success without delivering anything.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if via[0].Method != http.MethodGet && via[0].Method != http.MethodHead {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after 10 redirects")
			}
			return nil
		},
	}
	return &system{
		name:    name,
		base:    strings.TrimRight(cfg.URL, "/"),
		client:  client,
		timeout: timeout,
		limiter: limiter,
		headers: cfg.Headers,
		auth:    cfg.Auth,
	}, nil
}

// checkAuth requires exactly one method, complete.
func checkAuth(a *config.Auth) error {
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
// route cannot accidentally send a system's request with other credentials.
func (s *system) setHeaders(req *http.Request, own map[string]string) {
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	for k, v := range own {
		req.Header.Set(k, v)
	}
	if s.auth == nil {
		return
	}
	switch {
	case s.auth.Bearer != "":
		req.Header.Set("Authorization", "Bearer "+s.auth.Bearer)
	case s.auth.Basic != nil:
		req.SetBasicAuth(s.auth.Basic.User, s.auth.Basic.Password)
	case s.auth.APIKey != nil && s.auth.APIKey.Header != "":
		req.Header.Set(s.auth.APIKey.Header, s.auth.APIKey.Value)
	case s.auth.APIKey != nil:
		q := req.URL.Query()
		q.Set(s.auth.APIKey.Query, s.auth.APIKey.Value)
		req.URL.RawQuery = q.Encode()
	}
}

// secretParam is the query parameter holding the API key, "" when none.
func (s *system) secretParam() string {
	if s.auth != nil && s.auth.APIKey != nil {
		return s.auth.APIKey.Query
	}
	return ""
}

// redact shows a URL without its secrets: the API key query value and
// any password in the user info.
func (s *system) redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if p := s.secretParam(); p != "" {
		q := u.Query()
		if q.Has(p) {
			q.Set(p, "REDACTED")
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
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
			return nil, &requestError{msg: fmt.Sprintf("rate limit of system %q: %v", s.name, err)}
		}
	}
	var reader io.Reader // a nil *bytes.Reader would not be a nil io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, reader)
	if err != nil {
		return nil, &requestError{msg: fmt.Sprintf("build request: %v", unwrapURLError(err))}
	}
	s.setHeaders(req, headers)
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

// transportError turns a client error into a message without the request
// URL (callers name the URL themselves, redacted).
func (s *system) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &requestError{msg: fmt.Sprintf("no complete response within %s (the timeout of system %q)", s.timeout, s.name)}
	}
	return &requestError{msg: unwrapURLError(err).Error()}
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
